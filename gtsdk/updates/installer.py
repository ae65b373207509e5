"""The terminal side of an update: verify, install side by side, certify, switch between transactions, watch,
roll back (issue #17; clauses 9.1.1.2 a/d, 10.2.2 c).

:meth:`Updater.stage` verifies a bundle (:mod:`~gtsdk.updates.trust`), unpacks it checking every SM3 digest,
and builds ``versions/<version>`` next to the running one: its wheelhouse is the running version's wheels with
the bundle's wheels in place of the same projects, its virtual environment is installed from that wheelhouse,
its configuration (the bundle's, or the running one) passes ``check-config`` run by the new code.

:meth:`Updater.switch` waits until no transaction is open, stops the service, certifies each changed driver with
``certify-driver`` from the new environment against the device (the service has let it go), and only when every
one reaches the manifest's tier moves ``previous`` then ``current`` by rename and starts the new version on
probation.  A failed certification marks the version failed and starts the old one again.  During probation the
supervisor reports each start of the service and the module states; a crash loop (more than *N* starts within
*T* seconds) or a health regression (a module that was online before the switch is not, after a grace period)
rolls back to ``previous``.  Every step is written to the update audit log and reported to *on_progress* (the
fleet agent forwards it to the platform).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from packaging.version import Version

from gtsdk.errors import GtsdkError
from gtsdk.failures import carrying_on
from gtsdk.updates import bundle as bundles
from gtsdk.updates import errors as ue
from gtsdk.updates.environment import Environment, project_name
from gtsdk.updates.layout import Layout, read_json, write_json
from gtsdk.updates.manifest import CONFIG, MANIFEST, SIGNATURE, WHEELS, Manifest, tier_rank
from gtsdk.updates.trust import Identity, TrustStore, check

log = logging.getLogger("gtsdk.updates")

#: phases reported to on_progress and the audit log
PHASES = ("refused", "staged", "waiting", "certifying", "certified", "switched", "confirmed", "rolledBack",
          "failed", "recovered")


class ServiceControl(Protocol):
    """The running service, as the updater needs it."""

    def open_transactions(self) -> int: ...

    def health(self) -> dict[str, str] | None:
        """Module id → device state ('online', 'offline', …), or None when the service does not answer."""

    def stop(self) -> None: ...

    def start(self, version: str) -> None: ...


class Audit(Protocol):
    def record(self, **row: Any) -> None: ...


@dataclass
class Policy:
    #: seconds a switch waits for open transactions to end
    transaction_wait: float = 600.0
    #: a crash loop: more than this many starts of the service …
    crash_restarts: int = 3
    #: … within this many seconds
    crash_window: float = 120.0
    #: modules online before the switch must be online again within this many seconds
    health_grace: float = 60.0
    #: the new version is confirmed after this many seconds without a crash loop or regression
    probation: float = 300.0
    #: certify drivers against gtsdk's simulators (test benches, simulated terminals)
    simulate_devices: bool = False
    #: versions kept on disk besides current and previous
    keep: int = 1


Progress = Mapping[str, Any]


class Updater:
    def __init__(self, root: Path, *, identity: Identity, environment: Environment,
                 control: ServiceControl | None = None, policy: Policy | None = None, audit: Audit | None = None,
                 on_progress: Callable[[Progress], None] | None = None, gtsdk_version: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        from gtsdk import __version__

        self.layout = Layout(root).create()
        self.identity = identity
        self.env = environment
        self.control = control
        self.policy = policy or Policy()
        self.audit = audit
        self.on_progress = on_progress
        self.gtsdk_version = gtsdk_version or __version__
        self.trust = TrustStore(self.layout.trusted)
        self.clock = clock
        #: test seam: called with the name of each step of a switch (a kill -9 lands between any two)
        self.checkpoint: Callable[[str], None] = lambda _phase: None

    # ---- reporting -----------------------------------------------------------------------------------
    def _report(self, phase: str, version: str | None, code: str = "success", detail: str = "",
                started: float | None = None, **extra: Any) -> None:
        doc = {"phase": phase, "version": version, "code": code, "detail": detail[:500],
               "terminalId": self.identity.terminal_id, "time": datetime.now(UTC).isoformat(), **extra}
        if self.audit is not None:
            self.audit.record(module="update", operation=phase, request_id=f"update:{version or '-'}", code=code,
                              duration_ms=round((time.monotonic() - started) * 1000, 1) if started else 0.0,
                              caller="updater")
        if self.on_progress is not None:
            with carrying_on("update", f"the progress listener ({phase})", logger=log):  # it must not stop an update
                self.on_progress(doc)
        log.info("update %s %s %s %s", phase, version, code, detail[:200])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.layout.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise GtsdkError(ue.BUSY, "another update holds the lock") from None
            yield
        finally:
            os.close(fd)

    # ---- reading the disk ----------------------------------------------------------------------------
    @property
    def current(self) -> str | None:
        return self.layout.current

    def info(self, version: str) -> dict[str, Any]:
        return read_json(self.layout.version_dir(version) / "ready.json") or {}

    def manifest(self, version: str) -> Manifest:
        return Manifest.model_validate_json((self.layout.version_dir(version) / "bundle" / MANIFEST).read_bytes())

    # ---- stage ---------------------------------------------------------------------------------------
    def stage(self, bundle_path: Path) -> Manifest:
        """Verify and install *bundle_path* beside the running version; returns its manifest."""
        t0 = time.monotonic()
        version: str | None = None
        try:
            with self._locked():
                signed = bundles.read_signed(bundle_path)
                version = signed.manifest.version
                m = check(signed, self.trust, self.identity, current=self.current, gtsdk_version=self.gtsdk_version)
                if self.layout.is_failed(m.version):
                    failed = read_json(self.layout.version_dir(m.version) / "failed.json") or {}
                    raise GtsdkError(str(failed.get("code", ue.ROLLED_BACK)),
                                     f"{m.version} failed on this terminal before: {failed.get('detail', '')}")
                if not self.layout.is_ready(m.version):
                    self._install(bundle_path, signed, m)
        except GtsdkError as e:
            self._report("refused" if e.code.startswith("update.") and e.code not in (ue.INSTALL_FAILED, ue.BUSY)
                         else "failed", version, e.code, e.detail, t0)
            raise
        self._report("staged", m.version, started=t0)
        return m

    def _install(self, bundle_path: Path, signed: bundles.Signed, m: Manifest) -> None:
        vdir = self.layout.version_dir(m.version)
        if vdir.exists():  # an interrupted earlier attempt: start again
            shutil.rmtree(vdir)
        vdir.mkdir(parents=True)
        try:
            files = vdir / "files"
            bundles.unpack(bundle_path, m, files)
            wheelhouse = vdir / "wheels"
            wheelhouse.mkdir()
            new = {project_name(Path(w).name): files / w for w in m.wheels}
            cur = self.current
            requires = list(self.info(cur).get("requires", [])) if cur else []
            digests: dict[str, str] = {}
            if cur:
                carried = read_json(self.layout.version_dir(cur) / "wheels.json") or {}
                for w in sorted((self.layout.version_dir(cur) / "wheels").glob("*.whl")):
                    if project_name(w.name) not in new and w.name in carried:
                        os.link(w, wheelhouse / w.name)
                        digests[w.name] = str(carried[w.name])
            for rel in m.wheels:
                w = files / rel
                os.replace(w, wheelhouse / w.name)
                digests[w.name] = m.files[rel].sm3
            write_json(vdir / "wheels.json", digests)
            for r in [*m.requires, *new]:
                if r not in requires:
                    requires.append(r)
            self.env.build(vdir / "venv", wheelhouse, requires)
            config = self.layout.config(m.version)
            config.parent.mkdir()
            if m.has_config:
                os.replace(files / CONFIG, config)
            elif cur and self.layout.config(cur).is_file():
                shutil.copy2(self.layout.config(cur), config)
            if config.is_file():
                why = self.env.check_config(vdir / "venv", config)
                if why is not None:
                    raise GtsdkError(ue.CONFIG_REJECTED, why)
            (vdir / "bundle").mkdir()
            (vdir / "bundle" / MANIFEST).write_bytes(signed.manifest_bytes)
            if signed.signature is not None:
                write_json(vdir / "bundle" / SIGNATURE, signed.signature)
            shutil.rmtree(files)
            write_json(vdir / "ready.json", {"version": m.version, "name": m.name, "requires": requires,
                                             "drivers": m.drivers, "requiredTier": m.required_tier,
                                             "staged": datetime.now(UTC).isoformat()})
        except BaseException:
            shutil.rmtree(vdir, ignore_errors=True)
            raise

    def install_base(self, bundle_path: Path) -> str:
        """First installation on a terminal: stage and point ``current`` at it (no service to switch)."""
        m = self.stage(bundle_path)
        if self.current is None:
            self.layout.point(self.layout.current_link, m.version)
            self._report("confirmed", m.version)
        return m.version

    # ---- switch --------------------------------------------------------------------------------------
    def _control(self) -> ServiceControl:
        if self.control is None:
            raise GtsdkError(ue.BUSY, "no service control: the switch runs in the supervisor")
        return self.control

    def _wait_transactions(self, version: str) -> None:
        ctl = self._control()
        end = time.monotonic() + self.policy.transaction_wait
        reported = False
        while ctl.open_transactions() > 0:
            if not reported:
                self._report("waiting", version, ue.TRANSACTION_OPEN, "waiting for open transactions to end")
                reported = True
            if time.monotonic() >= end:
                raise GtsdkError(ue.TRANSACTION_OPEN,
                                 f"transactions still open after {self.policy.transaction_wait:.0f} s")
            time.sleep(min(0.5, max(0.01, end - time.monotonic())))

    def _settings_for(self, version: str, entry: str) -> dict[str, Any]:
        module, _, driver = entry.partition(".")
        try:
            cfg = tomllib.loads(self.layout.config(version).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return {}
        table = cfg.get("modules", {}).get(module, {})
        if not isinstance(table, dict) or table.get("driver") != driver:
            return {}
        runtime = {"driver", "enabled", "timeout", "reconnect_interval", "auto_open"}
        return {k: v for k, v in table.items() if k not in runtime}

    def _certify(self, version: str) -> None:
        info = self.info(version)
        required = info.get("requiredTier")
        for entry in info.get("drivers", []):
            self._report("certifying", version, detail=entry)
            t0 = time.monotonic()
            out = self.layout.version_dir(version) / "certification" / entry
            if out.exists():
                shutil.rmtree(out)
            # against the simulator, its own settings reach it; against the device, the configured ones
            settings = {} if self.policy.simulate_devices else self._settings_for(version, entry)
            c = self.env.certify(self.layout.venv(version), entry, settings, simulate=self.policy.simulate_devices,
                                 out=out)
            if tier_rank(c.tier) < tier_rank(required):
                raise GtsdkError(ue.CERTIFICATION_FAILED,
                                 f"{entry} reached {c.tier or 'no tier'}; the bundle requires {required}")
            self._report("certified", version, detail=f"{entry}: {c.tier}", started=t0, entry=entry, tier=c.tier)

    def switch(self, version: str) -> None:
        """Make the staged *version* current, between transactions, after its drivers passed certification."""
        t0 = time.monotonic()
        with self._locked():
            ctl = self._control()
            old = self.current
            if not self.layout.is_ready(version) or self.layout.is_failed(version):
                raise GtsdkError(ue.BUNDLE_INVALID, f"version {version} is not staged or has failed")
            if old == version:
                return
            try:
                self._wait_transactions(version)
            except GtsdkError as e:
                self._report("waiting", version, e.code, e.detail, t0)
                raise
            baseline = ctl.health() or {}
            self.checkpoint("stopping")
            ctl.stop()
            try:
                self._certify(version)
            except GtsdkError as e:
                self.layout.mark_failed(version, e.code, e.detail)
                self._report("failed", version, e.code, e.detail, t0)
                if old is not None:
                    ctl.start(old)
                raise
            self.checkpoint("certified")
            self.layout.set_journal({"op": "switch", "from": old, "to": version})
            self.checkpoint("journaled")
            if old is not None:
                self.layout.point(self.layout.previous_link, old)
            self.checkpoint("previous")
            self.layout.point(self.layout.current_link, version)
            self.checkpoint("current")
            self._begin_probation(version, old, baseline)
            self.checkpoint("probation")
            ctl.start(version)
            self._report("switched", version, started=t0, previous=old)

    def _begin_probation(self, version: str, previous: str | None, baseline: Mapping[str, str]) -> None:
        online = sorted(m for m, s in baseline.items() if s == "online")
        self.layout.set_journal({"op": "probation", "version": version, "previous": previous,
                                 "since": self.clock(), "starts": [], "online": online})

    # ---- after the switch ----------------------------------------------------------------------------
    def recover(self) -> str | None:
        """After any start (of the supervisor or the machine): finish what a crash interrupted.  Returns the
        version to run.  The pointer is always exactly one complete version; a switch cut short before
        ``current`` moved stays on the old version, one cut after it goes on probation."""
        j = self.layout.journal()
        cur = self.current
        if j is not None and j.get("op") == "switch":
            if cur is not None and cur == j.get("to"):
                self._begin_probation(cur, j.get("from"), {})
                self._report("recovered", cur, detail="switch completed before the interruption; on probation")
            else:
                self.layout.set_journal(None)
                self._report("recovered", cur, ue.ROLLED_BACK, f"switch to {j.get('to')} interrupted; stays on {cur}")
        elif j is not None and j.get("op") == "probation" and cur != j.get("version"):
            self.layout.set_journal(None)
        elif j is not None and j.get("op") == "rollback":
            target = j.get("to")
            if isinstance(target, str) and self.layout.is_ready(target) and cur != target:
                self.layout.point(self.layout.current_link, target)
            self.layout.set_journal(None)
            cur = self.current
        return cur

    def on_start(self) -> None:
        """The supervisor started the service: count it while on probation; a crash loop rolls back."""
        j = self.layout.journal()
        if j is None or j.get("op") != "probation":
            return
        now = self.clock()
        starts = [t for t in j.get("starts", []) if now - t <= self.policy.crash_window] + [now]
        j["starts"] = starts
        self.layout.set_journal(j)
        if len(starts) > self.policy.crash_restarts:
            self.rollback(f"crash loop: {len(starts)} starts within {self.policy.crash_window:.0f} s")

    def watch(self, health: Mapping[str, str] | None) -> str:
        """One look during probation: 'none' (not on probation), 'watching', 'confirmed' or 'rolledBack'."""
        j = self.layout.journal()
        if j is None or j.get("op") != "probation":
            return "none"
        age = self.clock() - float(j.get("since", 0))
        if age >= self.policy.health_grace:
            missing = [m for m in j.get("online", []) if (health or {}).get(m) != "online"]
            if missing:
                self.rollback(f"health regression: {', '.join(missing)} no longer online")
                return "rolledBack"
        if age >= self.policy.probation:
            self.layout.set_journal(None)
            self._report("confirmed", j.get("version"))
            self._prune()
            return "confirmed"
        return "watching"

    def rollback(self, reason: str) -> str | None:
        """Back to ``previous``; the failed version is marked and never switched to again."""
        j = self.layout.journal() or {}
        bad = self.current
        target = j.get("previous") or self.layout.previous
        if not isinstance(target, str) or not self.layout.is_ready(target) or bad is None:
            self._report("failed", bad, ue.ROLLED_BACK, f"{reason}; no previous version to roll back to")
            return bad
        self.layout.set_journal({"op": "rollback", "from": bad, "to": target})
        self.layout.mark_failed(bad, ue.ROLLED_BACK, reason)
        self.layout.point(self.layout.current_link, target)
        self.layout.set_journal(None)
        self._report("rolledBack", bad, ue.ROLLED_BACK, reason, to=target)
        return target  # the supervisor restarts the service on it

    def _prune(self) -> None:
        keep = {self.current, self.layout.previous}
        older = sorted((v for v in self.layout.ready_versions() if v not in keep), key=Version)
        for v in older[: max(0, len(older) - self.policy.keep)]:
            shutil.rmtree(self.layout.version_dir(v), ignore_errors=True)

    def apply(self, bundle_path: Path) -> str:
        """Stage and switch; returns the version now current."""
        m = self.stage(bundle_path)
        if self.current is None:
            return self.install_base(bundle_path)
        self.switch(m.version)
        return m.version


def wheels_of(manifest: Manifest) -> list[str]:
    return [p[len(WHEELS):] for p in manifest.wheels]
