"""The fault database (10.2.2 b): every fault with its level, module, kind, error code, times and resolution.

Levels (10.2.2 b, with the standard's response targets):

* **1** — the terminal is unusable (设备宕机): a module that every service of the catalogue needs is down, or
  the service itself was not running after a crash; on site within **2 h**;
* **2** — a function fails (部分功能失效): any other module down or failing, a consumable empty, an inspection
  finding; remote diagnosis within **4 h**;
* **3** — minor (轻微异常): a consumable running low; fixed within **24 h**.

A fault is one record id in several versions: opened → acknowledged → resolved (automatic recovery, or a
maintainer's action with its resolution); every change is a row of ``fault_history`` and a new version in the
outbox.  Open and resolved times sit on the terminal clock too (:mod:`~gtsdk.records.timeline`), so a duration
is immune to wall-clock jumps.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gtsdk.driver import DeviceState
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.records.api import FaultView
from gtsdk.records.schema import Consumable, Fault, FaultState, RecordKind
from gtsdk.records.store import RecordStore, new_id, utc
from gtsdk.records.timeline import Timeline

TARGETS = {1: 2 * 3600.0, 2: 4 * 3600.0, 3: 24 * 3600.0}
DOWN_STATES = {DeviceState.NO_DEVICE.value, DeviceState.POWER_OFF.value, DeviceState.HARDWARE_ERROR.value,
               DeviceState.OFFLINE.value}
FAILING_STATES = {DeviceState.USER_ERROR.value, DeviceState.FRAUD_ATTEMPT.value, DeviceState.POTENTIAL_FRAUD.value}
#: an application's own close leaves a device offline on purpose: no fault
CLOSED_BY_APP = "closed by application"
STATE, INSPECTION, SERVICE_DOWN = "state", "inspection", "serviceDown"


def consumable_kind(name: str) -> str:
    return f"consumable:{name}"


def state_level(state: str, reason: str, module: str, needed_by_all: set[str]) -> int | None:
    """The fault level of a device state (None: no fault)."""
    if state in DOWN_STATES:
        if state == DeviceState.OFFLINE.value and reason == CLOSED_BY_APP:
            return None
        return 1 if module in needed_by_all else 2
    if state in FAILING_STATES:
        return 2
    return None


def consumable_states(module: str, detail: dict[str, Any]) -> dict[str, str]:
    """``{"receiptPaper": "ok"|"low"|"empty"}`` etc. from a printer's status detail or status event."""
    out: dict[str, str] = {}
    if module == "receipt_printer" and "paper" in detail:
        out["receiptPaper"] = {"out": "empty", "nearEnd": "low"}.get(str(detail["paper"]), "ok")
    elif module == "a4_printer" and ("reasons" in detail or "warnings" in detail):
        keys = {str(r).rsplit("-", 1)[0] if str(r).endswith(("-error", "-warning", "-report")) else str(r)
                for r in list(detail.get("reasons") or []) + list(detail.get("warnings") or [])}
        out["a4Paper"] = "empty" if "media-empty" in keys or "media-needed" in keys else (
            "low" if "media-low" in keys else "ok")
        out["toner"] = "empty" if keys & {"toner-empty", "marker-supply-empty"} else (
            "low" if keys & {"toner-low", "marker-supply-low"} else "ok")
    return out


@dataclass(frozen=True)
class FaultRow:
    id: str
    version: int
    module: str | None
    level: int
    kind: str
    code: str | None
    reason: str
    state: FaultState
    opened: float
    opened_t: float
    acknowledged: float | None = None
    resolved: float | None = None
    resolved_t: float | None = None
    resolution: str | None = None

    def body(self) -> Fault:
        return Fault(module=self.module, level=self.level, kind=self.kind, code=self.code,
                     reason=self.reason[:256], state=self.state, opened=utc(self.opened),
                     acknowledged=utc(self.acknowledged) if self.acknowledged is not None else None,
                     resolved=utc(self.resolved) if self.resolved is not None else None, resolution=self.resolution)

    def view(self, now_t: float) -> FaultView:
        end = self.resolved_t if self.resolved_t is not None else now_t
        duration = max(0.0, end - self.opened_t)
        target = TARGETS[self.level]
        b = self.body()
        return FaultView(id=self.id, version=self.version, module=b.module, level=b.level, kind=b.kind, code=b.code,
                         reason=b.reason, state=b.state, opened=b.opened, acknowledged=b.acknowledged,
                         resolved=b.resolved, resolution=b.resolution, duration=round(duration, 3), target=target,
                         overdue=duration > target)


def _iso(ts: float | None) -> str | None:
    """As pydantic writes a UTC datetime in JSON (…Z)."""
    if ts is None:
        return None
    return utc(ts).isoformat().replace("+00:00", "Z")


def fault_dict(f: FaultRow, now_t: float) -> dict[str, Any]:
    """``f.view(now_t)`` as JSON, without building models (the summary lists hundreds of faults)."""
    end = f.resolved_t if f.resolved_t is not None else now_t
    duration = max(0.0, end - f.opened_t)
    target = TARGETS[f.level]
    out: dict[str, Any] = {"id": f.id, "version": f.version, "module": f.module, "level": f.level, "kind": f.kind,
                           "code": f.code, "reason": f.reason[:256], "state": f.state.value, "opened": _iso(f.opened),
                           "acknowledged": _iso(f.acknowledged), "resolved": _iso(f.resolved),
                           "resolution": f.resolution, "duration": round(duration, 3), "target": target,
                           "overdue": duration > target}
    return {k: v for k, v in out.items() if v is not None}


class FaultDicts:
    """:func:`fault_dict` of many rows, keeping those of resolved faults (a version of a resolved fault never
    changes, nor does its duration) from one call to the next: the summary lists the same hundred faults on
    every refresh.  Holds what the last call used, no more."""

    def __init__(self) -> None:
        self._resolved: dict[tuple[str, int], dict[str, Any]] = {}

    def __call__(self, rows: Iterable[Any], now_t: float) -> list[dict[str, Any]]:
        kept: dict[tuple[str, int], dict[str, Any]] = {}
        out = []
        for r in rows:
            key = (r[0], r[1])
            d = self._resolved.get(key)
            if d is None:
                f = row_of(r)
                d = fault_dict(f, now_t)
                if f.state is not FaultState.RESOLVED:
                    out.append(d)
                    continue
            kept[key] = d
            out.append(dict(d))  # the caller may change its copy
        self._resolved = kept
        return out


COLUMNS = ("id, version, module, level, kind, code, reason, state, opened, opened_t, acknowledged, resolved, "
           "resolved_t, resolution")


def row_of(r: Any) -> FaultRow:
    return FaultRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], FaultState(r[7]), r[8], r[9], r[10], r[11], r[12],
                    r[13])


class FaultBook:
    def __init__(self, store: RecordStore, timeline: Timeline) -> None:
        self.store = store
        self.timeline = timeline
        self._lock = threading.RLock()
        self._open: dict[tuple[str | None, str], FaultRow] = {}
        self.consumables: dict[tuple[str, str], tuple[str, float]] = {}  # (module, name) -> (state, wall)
        with store.reader() as db:
            for r in db.execute(f"SELECT {COLUMNS} FROM faults WHERE state != 'resolved'").fetchall():
                f = row_of(r)
                self._open[(f.module, f.kind)] = f
            for mod, name, state, when in db.execute(
                    "SELECT module, name, state, max(time) FROM consumables GROUP BY module, name").fetchall():
                self.consumables[(mod, name)] = (state, when)

    # ---- persistence ----------------------------------------------------------------------------------------
    def _save(self, conn: sqlite3.Connection, f: FaultRow, note: str | None = None) -> None:
        conn.execute(f"INSERT OR REPLACE INTO faults ({COLUMNS}) VALUES ({', '.join('?' * 14)})",
                     (f.id, f.version, f.module, f.level, f.kind, f.code, f.reason, f.state.value, f.opened,
                      f.opened_t, f.acknowledged, f.resolved, f.resolved_t, f.resolution))
        t = f.resolved_t if f.state == FaultState.RESOLVED and f.resolved_t is not None else self.timeline.now()
        wall = {FaultState.RESOLVED: f.resolved, FaultState.ACKNOWLEDGED: f.acknowledged}.get(f.state) or f.opened
        conn.execute("INSERT OR REPLACE INTO fault_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (f.id, f.version, f.state.value, f.level, wall, t if f.version > 1 else f.opened_t, note))
        self.store.emit(conn, RecordKind.FAULT, f.id, f.body(), version=f.version, when=wall)

    # ---- opening and resolving --------------------------------------------------------------------------------
    def raise_fault(self, module: str | None, kind: str, level: int, reason: str, code: str | None = None, *,
                    opened_t: float | None = None, resolved_t: float | None = None,
                    resolution: str | None = None) -> FaultRow:
        """Open a fault for (module, kind) unless one of the same level is open; a level change closes the old
        one and opens a new one.  With *resolved_t* the fault is recorded already resolved (a past outage)."""
        with self._lock:
            key = (module, kind)
            cur = self._open.get(key)
            if cur is not None and cur.level == level and resolved_t is None:
                return cur
            t = self.timeline.now() if opened_t is None else opened_t
            writes: list[FaultRow] = []
            if cur is not None:
                writes.append(self._resolved(cur, "automatic", t))
            f = FaultRow(new_id(), 1, module, level, kind, code, reason[:256], FaultState.OPEN,
                         self.timeline.wall_at(t), t)
            writes.append(f)
            if resolved_t is not None:
                writes.append(self._resolved(f, resolution or "automatic", resolved_t))

            def save(conn: sqlite3.Connection) -> None:
                for w in writes:
                    self._save(conn, w)

            self.store.write(save)
            if cur is not None:
                self._open.pop(key, None)
            last = writes[-1]
            if last.state != FaultState.RESOLVED:
                self._open[key] = last
            return last

    def _resolved(self, f: FaultRow, resolution: str, t: float) -> FaultRow:
        return replace(f, version=f.version + 1, state=FaultState.RESOLVED, resolved=self.timeline.wall_at(t),
                       resolved_t=t, resolution=resolution)

    def clear(self, module: str | None, kind: str, resolution: str = "automatic") -> FaultRow | None:
        """The condition behind (module, kind) is gone: resolve its open fault."""
        with self._lock:
            cur = self._open.pop((module, kind), None)
            if cur is None:
                return None
            done = self._resolved(cur, resolution, self.timeline.now())
            self.store.write(lambda conn: self._save(conn, done))
            return done

    def acknowledge(self, fid: str) -> FaultRow:
        with self._lock:
            f = self._find_open(fid)
            if f.state == FaultState.ACKNOWLEDGED:
                return f
            done = replace(f, version=f.version + 1, state=FaultState.ACKNOWLEDGED,
                           acknowledged=self.timeline.clock.wall())
            self.store.write(lambda conn: self._save(conn, done))
            self._open[(f.module, f.kind)] = done
            return done

    def resolve(self, fid: str, resolution: str) -> FaultRow:
        with self._lock:
            f = self._find_open(fid)
            done = self._resolved(f, resolution, self.timeline.now())
            self.store.write(lambda conn: self._save(conn, done, note="manual"))
            self._open.pop((f.module, f.kind), None)
            return done

    def _find_open(self, fid: str) -> FaultRow:
        for f in self._open.values():
            if f.id == fid:
                return f
        if self.get(fid) is not None:
            raise GtsdkError(ErrorCode.INVALID_STATE, "fault already resolved")
        raise GtsdkError(ErrorCode.NOT_FOUND, "no fault with this id")

    # ---- consumables ------------------------------------------------------------------------------------------
    def consumable(self, module: str, name: str, state: str, *, level: float | None = None) -> None:
        """Record a consumable's state when it changes, and the faults it implies (empty 2, low 3)."""
        with self._lock:
            prev = self.consumables.get((module, name))
            if prev is None or prev[0] != state:
                wall = self.timeline.clock.wall()
                body = Consumable(module=module, name=name, state=state, level=level)
                cid = new_id()

                def save(conn: sqlite3.Connection) -> None:
                    conn.execute("INSERT INTO consumables VALUES (?, ?, ?, ?, ?, ?)",
                                 (cid, wall, module, name, state, level))
                    self.store.emit(conn, RecordKind.CONSUMABLE, cid, body, when=wall)

                self.store.write(save)
                self.consumables[(module, name)] = (state, wall)
            kind = consumable_kind(name)
            if state == "empty":
                self.raise_fault(module, kind, 2, f"{name} empty", ErrorCode.CONSUMABLE_EMPTY.value)
            elif state == "low":
                self.raise_fault(module, kind, 3, f"{name} low")
            else:
                self.clear(module, kind)

    # ---- reading ----------------------------------------------------------------------------------------------
    def open_faults(self) -> list[FaultRow]:
        with self._lock:
            return sorted(self._open.values(), key=lambda f: (f.level, f.opened))

    def get(self, fid: str) -> FaultRow | None:
        with self.store.reader() as db:
            r = db.execute(f"SELECT {COLUMNS} FROM faults WHERE id = ?", (fid,)).fetchone()
        return None if r is None else row_of(r)
