"""The records of one terminal, wired to its runtime: what ``gtsdk serve`` runs (docs/records.md).

:class:`Recorder` opens the store, starts a run on the timeline, loads the catalogue, follows the terminal's
events (faults, consumables) and completed operations (counters of the transaction they were made in), and
keeps a background thread for the periodic work: heartbeat, idle transactions, scheduled inspections, host
samples, per-day availability records and retention.  Every method that writes returns after the commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.records import availability, catalogue, summary
from gtsdk.records.availability import DayRecords
from gtsdk.records.clock import Clock, SystemClock
from gtsdk.records.config import RecordsConfig
from gtsdk.records.faults import (
    INSPECTION,
    SERVICE_DOWN,
    STATE,
    FaultBook,
    FaultDicts,
    consumable_states,
    state_level,
)
from gtsdk.records.holder import HolderKeys
from gtsdk.records.host import HostProbe
from gtsdk.records.inspections import Inspector, due_slot
from gtsdk.records.ratings import RatingBook
from gtsdk.records.retention import purge
from gtsdk.records.schema import Catalogue, Host, Profile, RecordKind
from gtsdk.records.store import FILE_NAME, RecordStore, new_id
from gtsdk.records.timeline import Timeline
from gtsdk.records.transactions import TransactionBook
from gtsdk.simulated import simulations_of

if TYPE_CHECKING:
    from gtsdk.runtime import Terminal
    from gtsdk.runtime.device import OperationRecord
    from gtsdk.runtime.events import Event

log = logging.getLogger("gtsdk.records")

DAY_RECORDS_EVERY = 600.0
#: while a page reads the summary, the periodic work keeps its host figures at most this old, so a request finds
#: them sampled already (HostProbe.quick samples them itself when they are older than 2 s)
QUICK_HOST_EVERY = 1.5
RETENTION_EVERY = 86400.0
#: a scheduled inspection missed while the service was down runs once it has been up this long (devices are
#: still connecting right after a start, and an inspection then would report them as faults)
STARTUP_GRACE = 120.0
#: an inspection finding with one of these codes was the device being unreachable: it ends when the device is back
UNREACHABLE = {"noDevice", "communicationError", "timeOut"}


class Recorder:
    def __init__(self, terminal: Terminal, home: Path, config: RecordsConfig | None = None, *,
                 clock: Clock | None = None, background: bool = True) -> None:
        self.terminal = terminal
        self.home = home
        self.config = cfg = config or RecordsConfig()
        self.clock = clock or SystemClock()
        tid = terminal.config.terminal.get("id")
        self.store = RecordStore(home / FILE_NAME, str(tid) if tid else None)
        try:
            self.timeline = Timeline(self.store, self.clock)
            self.run = self.timeline.start()
            configured = cfg.path(home, cfg.catalogue) if cfg.catalogue else None
            #: the file a pushed catalogue replaces: the configured one, else <home>/catalogue.toml
            self.catalogue_path = configured or home / "catalogue.toml"
            self._catalogue_lock = threading.Lock()
            self.catalogue, self.catalogue_source = catalogue.load(home, configured)
            self._needed = catalogue.needed_by_all(self.catalogue)
            self._shaped = summary.Shaped({e.code: (e.name_zh, e.name_en or e.name_zh) for e in self.catalogue.entries})
            self._record_catalogue(self.catalogue)
            self._record_profile()
            self.holder_keys = HolderKeys(cfg.path(home, cfg.holder_key_file))
            self.transactions = TransactionBook(self.store, self.timeline, self.holder_keys, cfg.transaction_idle)
            self.ratings = RatingBook(self.store, self.timeline, self.transactions)
            self.faults = FaultBook(self.store, self.timeline)
            #: the faults the summary lists, as JSON, resolved ones kept from one summary to the next
            self.fault_dicts = FaultDicts()
            self.inspector = Inspector(terminal, self.store, self.faults, self.transactions, lambda: self._needed)
            self.days = DayRecords(self.store, self.timeline)
            self._figures = availability.FiguresCache()
            self.host = HostProbe(home, cfg.latency_host, cfg.latency_timeout)
            self.last_host: Host | None = None
            self._after_restart()
        except BaseException:
            self.store.close()
            raise
        self._unsubscribe = terminal.events.subscribe(self._on_event)
        terminal.on_complete(self._on_complete)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inspecting: threading.Thread | None = None
        self._started = time.monotonic()
        # a simulated terminal (tests, demos) is inspected on demand only, unless its config names a schedule:
        # health checks at an arbitrary moment would queue behind, and count among, the operations under test
        self.schedule = cfg.inspections if ("inspections" in cfg.model_fields_set or not simulations_of(terminal)) \
            else []
        if background:
            self._thread = threading.Thread(target=self._loop, name="gtsdk-records", daemon=True)
            self._thread.start()

    # ---- start-up --------------------------------------------------------------------------------------------
    def _record_catalogue(self, cat: Catalogue) -> None:
        """A ``catalogue`` record when *cat* is not the version recorded last: a new one, or an earlier one coming
        back (a push, or the file edited back) — the platform must learn which is in force."""
        body = cat.model_dump_json(by_alias=True)

        def save(conn: sqlite3.Connection) -> None:
            last = conn.execute("SELECT version FROM catalogue_versions ORDER BY rowid DESC LIMIT 1").fetchone()
            if last is not None and last[0] == cat.version:
                return
            now = self.clock.wall()
            # REPLACE gives a returning version the highest rowid: it is the one recorded last
            conn.execute("INSERT OR REPLACE INTO catalogue_versions VALUES (?, ?, ?)", (cat.version, now, body))
            self.store.emit(conn, RecordKind.CATALOGUE, f"catalogue-{new_id()}", cat, when=now)

        self.store.write(save)

    def replace_catalogue(self, data: Catalogue | dict[str, Any], *, header: str = "") -> tuple[Catalogue, bool]:
        """Put a new 事项 catalogue in force while the service runs (the fleet's ``pushCatalogue``): validated like
        the file (a ``configError`` naming the entry), written over :attr:`catalogue_path` atomically, swapped in
        (``GET /v1/catalogue`` serves it at once), recorded (a ``catalogue`` record, the profile's catalogue
        version) and the open faults re-levelled (level 1 depends on the modules every service needs).

        Returns (catalogue, changed); the catalogue in force again is not changed.  A different catalogue under the
        version in force is refused: a version names one content.  Nothing changes when anything fails."""
        cat = catalogue.parse(catalogue.to_file_data(data) if isinstance(data, Catalogue) else data, "catalogue")
        with self._catalogue_lock:
            if cat == self.catalogue:
                return cat, False
            if cat.version == self.catalogue.version:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"version {cat.version} is in force with other entries; "
                                 "a changed catalogue needs a new version", field="catalogue.version")
            catalogue.write_file(self.catalogue_path, cat, header=header)
            self.catalogue = cat
            self.catalogue_source = "config" if self.config.catalogue else "home"
            self._needed = catalogue.needed_by_all(cat)
            self._shaped = summary.Shaped({e.code: (e.name_zh, e.name_en or e.name_zh) for e in cat.entries})
            self._record_catalogue(cat)
            self._record_profile()
        self.reconcile()
        return cat, True

    def _record_profile(self) -> None:
        t = self.terminal.config.terminal
        region = t.get("region")
        if not isinstance(region, str):
            return  # the fleet needs the GB/T 2260 region; without it there is no profile to send
        import gtsdk

        prof = Profile(terminal_id=self.store.terminal_id, region=region, name=str(t.get("name", "")),
                       address=str(t.get("address", "")), latitude=t.get("latitude"), longitude=t.get("longitude"),
                       vendor=str(t.get("vendor", "")), model=str(t.get("model", "")),
                       software_version=gtsdk.__version__,
                       modules={m: mc.driver for m, mc in self.terminal.config.modules.items()},
                       catalogue_version=self.catalogue.version)
        text = prof.model_dump_json(by_alias=True)
        if self.store.meta("profile") == text:
            return

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('profile', ?)", (text,))
            version = int(conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'profile-v%'").fetchone()[0]) + 1
            conn.execute("INSERT INTO meta VALUES (?, ?)", (f"profile-v{version}", str(self.clock.wall())))
            self.store.emit(conn, RecordKind.PROFILE, f"profile-{self.store.terminal_id}", prof, version=version)

        self.store.write(save)

    def _after_restart(self) -> None:
        prev = self.timeline.previous
        if prev is not None and not prev.clean and self.run.gap > 0:
            # the service was not running after a crash, kill or power cut: a level 1 fault, already over
            self.faults.raise_fault(None, SERVICE_DOWN, 1, f"service not running ({self.run.gap_source} gap)",
                                    opened_t=self.run.start_t - self.run.gap, resolved_t=self.run.start_t,
                                    resolution="restart")
        self.reconcile()
        self.transactions.close_idle()

    def reconcile(self) -> None:
        """Bring the open faults in line with the devices' current states and consumables."""
        for mod_id, dev in self.terminal.devices.items():
            if dev.disabled_reason or dev.driver is None:
                self.faults.clear(mod_id, STATE)
                continue
            lvl = state_level(dev.state.value, dev.reason, mod_id, self._needed)
            if lvl is None:
                self.faults.clear(mod_id, STATE)
            else:
                self.faults.raise_fault(mod_id, STATE, lvl, dev.reason or dev.state.value)
            if mod_id in ("receipt_printer", "a4_printer"):
                try:
                    detail = dev.status().detail
                except Exception as e:  # noqa: BLE001 - the recorder outlives a device's failure; logged
                    swallowed(mod_id, "status for consumables", e, logger=log)
                    continue
                for name, state in consumable_states(mod_id, detail).items():
                    self.faults.consumable(mod_id, name, state)

    # ---- listeners --------------------------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        try:
            if ev.type == "statusChanged":
                state = str(ev.data.get("state", ""))
                reason = str(ev.data.get("reason") or "")
                lvl = state_level(state, reason, ev.module, self._needed)
                if lvl is not None:
                    self.faults.raise_fault(ev.module, STATE, lvl, reason or state)
                elif state != "starting":
                    self.faults.clear(ev.module, STATE)
                    if state == "online":
                        self._clear_unreachable(ev.module)
            elif ev.type == "printerStatusChanged":
                for name, state in consumable_states(ev.module, ev.data).items():
                    self.faults.consumable(ev.module, name, state)
        except Exception as e:  # noqa: BLE001 - logged by type and place
            swallowed("records", f"recording event {ev.type} of {ev.module}", e, logger=log)

    def _clear_unreachable(self, module: str) -> None:
        for f in self.faults.open_faults():
            if f.module == module and f.kind == INSPECTION and f.code in UNREACHABLE:
                self.faults.clear(module, INSPECTION)

    def _on_complete(self, rec: OperationRecord) -> None:
        tid = getattr(rec, "transaction_id", None)
        if tid:
            self.transactions.on_operation(tid, rec.module, rec.operation, rec.code, rec.result, rec.request_id)

    # ---- periodic work --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        cfg = self.config
        next_beat = next_host = time.monotonic()
        next_days = time.monotonic() + 5.0
        next_purge = time.monotonic() + 60.0
        while not self._stop.wait(min(1.0, cfg.heartbeat)):
            now = time.monotonic()
            try:
                if now >= next_beat:
                    next_beat = now + cfg.heartbeat
                    self.timeline.beat()
                    self.transactions.flush()
                self.transactions.close_idle()
                self._maybe_inspect()
                if now >= next_host:
                    next_host = now + cfg.host_sample
                    self.sample_host()
                if now < self.host.read_until:
                    self.host.keep_fresh(self.timeline.restarts(), QUICK_HOST_EVERY)
                if now >= next_days:
                    next_days = now + DAY_RECORDS_EVERY
                    self.days.update(self.modules())
                if now >= next_purge:
                    next_purge = now + RETENTION_EVERY
                    purge(self.store, self.clock.wall(), cfg.retention_days)
            except Exception as e:  # noqa: BLE001 - logged by type and place
                if self.store.closed:
                    return
                swallowed("records", "periodic work", e, logger=log)

    def _maybe_inspect(self) -> None:
        if time.monotonic() - self._started < STARTUP_GRACE:
            return
        slot = due_slot(self.schedule, self.clock.wall())
        if slot is None or (self._inspecting is not None and self._inspecting.is_alive()):
            return
        if self.transactions.open_count() or self.inspector.slot_done(slot):
            return

        def run() -> None:
            try:
                self.inspector.run("schedule", 0.0, slot=slot)
            except Exception as e:  # noqa: BLE001 - the inspection thread's last stop; logged by type
                log.info("records: scheduled inspection %s not run (%s)", slot, type(e).__name__)

        self._inspecting = threading.Thread(target=run, name="gtsdk-inspection", daemon=True)
        self._inspecting.start()

    def sample_host(self, *, latency: bool = True) -> Host:
        rates = self.success_rates()
        h = self.host.sample(restarts=self.timeline.restarts(), success_1h=rates["1h"], success_24h=rates["24h"],
                             latency=latency)
        wall = self.clock.wall()
        hid = new_id()

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO host_samples VALUES (?, ?, ?)", (hid, wall, h.model_dump_json(by_alias=True)))
            self.store.emit(conn, RecordKind.HOST, hid, h, when=wall)

        self.store.write(save)
        self.last_host = h
        return h

    # ---- reading ----------------------------------------------------------------------------------------------
    def modules(self) -> list[str]:
        return sorted(m for m, d in self.terminal.devices.items() if not d.disabled_reason and d.driver is not None)

    def usable_modules(self) -> set[str]:
        out = set()
        for m in self.modules():
            dev = self.terminal.devices[m]
            if state_level(dev.state.value, dev.reason, m, set()) is None:
                out.add(m)
        return out

    def success_rates(self) -> dict[str, Any]:
        now = self.clock.wall()
        out: dict[str, Any] = {"1h": None, "24h": None, "services": {}}
        with self.store.reader() as db:
            for label, span in (("1h", 3600.0), ("24h", 86400.0)):
                rows = db.execute("SELECT service_code, sum(result = 'completed'), count(*) FROM transactions "
                                  "WHERE started >= ? AND state = 'ended' GROUP BY service_code",
                                  (now - span,)).fetchall()
                done = sum(r[1] for r in rows)
                n = sum(r[2] for r in rows)
                out[label] = round(done / n, 4) if n else None
                for code, ok, cnt in rows:
                    out["services"].setdefault(code, {})[label] = round(ok / cnt, 4)
        return out

    def availability(self) -> availability.Figures:
        with self.store.reader() as db:
            return availability.compute(db, self.timeline, self.modules(), self.timeline.now(), self._figures)

    def statistics(self, days: int) -> dict[str, Any]:
        """The statistics sections of the summary (shared with the next call while nothing changed: read only)."""
        now = self.clock.wall()
        with self.store.reader() as db:
            rows = summary.run_queries(db, now, days, self.timeline.installed)
        return self._shaped(rows, now, days, self.timeline.installed)

    # ---- shutdown ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        if self.store.closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._inspecting is not None:
            self._inspecting.join(timeout=30)
        self._unsubscribe()
        listeners = getattr(self.terminal, "_listeners", None)
        if isinstance(listeners, list) and self._on_complete in listeners:
            listeners.remove(self._on_complete)
        try:
            self.transactions.flush()
            self.days.update(self.modules())
            self.timeline.stop()
        finally:
            self.store.close()
