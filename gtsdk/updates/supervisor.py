"""Run the service of the current version and keep it honest: ``gtsdk update supervise``.

The supervisor (under systemd or any init) starts the current version's service command, restarts it when it
exits (with a bounded back-off), tells the :class:`~gtsdk.updates.installer.Updater` of every start (a crash
loop on probation rolls back) and polls the service's module states (a health regression rolls back).  It is
also the :class:`~gtsdk.updates.installer.ServiceControl` of a switch: it stops the service for the switch
window and starts the version named.  A switch is requested by dropping ``switch-request.json`` in the update
root (``gtsdk update install``, the fleet agent); the supervisor picks it up between two polls.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from gtsdk.errors import GtsdkError
from gtsdk.updates.installer import Updater
from gtsdk.updates.layout import read_json

log = logging.getLogger("gtsdk.updates.supervisor")

REQUEST = "switch-request.json"
STOP_TIMEOUT = 30.0
MAX_BACKOFF = 30.0
HEALTH_TIMEOUT = 5.0
MAX_HEALTH_BYTES = 1 << 20


def open_transactions_in(records_db: Path) -> int:
    """Open 办件 in the terminal's records database (gtsdk.records keeps every open transaction there from
    ``begin``); 0 when there is no database."""
    if not records_db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{records_db}?mode=ro", uri=True, timeout=5.0) as db:
            row = db.execute("SELECT count(*) FROM transactions WHERE state = 'open'").fetchone()
    except sqlite3.Error:
        return 0  # no transactions table yet
    return int(row[0])


def https_health(url: str, *, ca: Path | None, token: str | None) -> Callable[[], dict[str, str] | None]:
    """Module states from the service's ``GET /v1/services`` (None when it does not answer)."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)

    def probe() -> dict[str, str] | None:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=HEALTH_TIMEOUT, context=ctx) as r:
                doc = json.loads(r.read(MAX_HEALTH_BYTES))
        except (OSError, ValueError):
            return None
        mods = (doc.get("data") or doc).get("modules", []) if isinstance(doc, dict) else []
        return {str(m.get("module")): str(m.get("state")) for m in mods if isinstance(m, dict)}

    return probe


class Supervisor:
    def __init__(self, updater: Updater, command: Sequence[str], *, records_db: Path | None = None,
                 health: Callable[[], dict[str, str] | None] | None = None, poll: float = 1.0,
                 env: dict[str, str] | None = None) -> None:
        self.updater = updater
        self.command = list(command)
        self.records_db = records_db
        self.probe = health
        self.poll = poll
        self.env = env
        self._child: subprocess.Popen[bytes] | None = None
        self._version: str | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._intended_stop = False
        self._backoff = 0.5
        updater.control = self

    # ---- ServiceControl ---------------------------------------------------------------------------
    def open_transactions(self) -> int:
        return open_transactions_in(self.records_db) if self.records_db is not None else 0

    def health(self) -> dict[str, str] | None:
        return self.probe() if self.probe is not None else None

    def argv(self, version: str) -> list[str]:
        lay = self.updater.layout
        values = {"venv": str(lay.venv(version)), "config": str(lay.config(version)), "version": version,
                  "root": str(lay.root)}
        return [part.format(**values) for part in self.command]

    def start(self, version: str) -> None:
        with self._lock:
            self._version = version
            self._intended_stop = False
            # cwd: the version's own folder, so nothing from wherever the supervisor was started shadows its code
            env = {**(self.env if self.env is not None else os.environ),
                   "GTSDK_UPDATE_ROOT": str(self.updater.layout.root)}
            self._child = subprocess.Popen(self.argv(version), env=env, stdin=subprocess.DEVNULL,
                                           cwd=self.updater.layout.version_dir(version), start_new_session=True)
            log.info("service %s started (pid %d)", version, self._child.pid)
        self.updater.on_start()

    def stop(self) -> None:
        with self._lock:
            child, self._child = self._child, None
            self._intended_stop = True
        if child is None or child.poll() is not None:
            return
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(5.0)
        except ProcessLookupError:
            pass

    @property
    def pid(self) -> int | None:
        c = self._child
        return c.pid if c is not None and c.poll() is None else None

    # ---- the loop -----------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def _switch_requested(self) -> None:
        path = self.updater.layout.root / REQUEST
        req = read_json(path)
        if req is None:
            return
        path.unlink(missing_ok=True)
        version = req.get("version")
        if not isinstance(version, str):
            return
        try:
            self.updater.switch(version)
        except GtsdkError as e:
            log.warning("switch to %s refused: %s", version, e.code)
            if self._child is None and self.updater.current is not None:
                self.start(self.updater.current)

    def run(self, *, until: float | None = None) -> None:
        """Supervise until :meth:`request_stop` (or *until*, a monotonic deadline)."""
        cur = self.updater.recover()
        if cur is None:
            raise GtsdkError("update.bundleInvalid", "no version installed: run `gtsdk update install-base` first")
        self.start(cur)
        try:
            while not self._stop.is_set() and (until is None or time.monotonic() < until):
                self._stop.wait(self.poll)
                self._switch_requested()
                with self._lock:
                    child = self._child
                if child is not None and child.poll() is not None:
                    log.warning("service %s exited with %s", self._version, child.returncode)
                    self._stop.wait(self._backoff)
                    self._backoff = min(MAX_BACKOFF, self._backoff * 2)
                    target = self.updater.current or self._version
                    if target is not None and not self._stop.is_set():
                        self.start(target)  # on probation, on_start may roll back: start again on the target
                        if self.updater.current != target:
                            self.stop()
                            self.start(self.updater.current or target)
                    continue
                state = self.updater.watch(self.health())
                if state == "rolledBack" and self.updater.current is not None:
                    self.stop()
                    self.start(self.updater.current)
                elif state in ("confirmed", "none"):
                    self._backoff = 0.5
        finally:
            self.stop()
