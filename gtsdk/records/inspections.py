"""Inspections (巡检, 10.2.2 a): every module's health check at the ``internal`` level, which consumes no media
and disturbs no user (UnifiedPOS checkHealth: no printing, no card movement), findings turned into faults.

Run on a schedule (``[records] inspections = ["06:00"]``, local time, once per slot and day — a slot missed
while the service was down runs when it comes back the same day), with ``gtsdk inspect`` or
``POST /v1/ops/inspections`` (maintenance scope).  An inspection waits while a transaction is open: a scheduled
one tries again at the next tick, an on-demand one waits up to its ``wait`` and then answers ``deviceBusy``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Literal

from gtsdk.driver import HealthLevel, HealthResult, Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.records.api import InspectionView
from gtsdk.records.faults import DOWN_STATES, INSPECTION, FaultBook, state_level
from gtsdk.records.schema import Inspection, InspectionFinding, RecordKind
from gtsdk.records.store import RecordStore, new_id, utc
from gtsdk.records.transactions import TransactionBook

if TYPE_CHECKING:
    from gtsdk.runtime import Terminal
    from gtsdk.runtime.device import Job

HEALTH_TIMEOUT = 20.0
Trigger = Literal["schedule", "manual", "remote"]


def _text(s: str) -> str:
    return s.replace("\n", " ")[:256]


class Inspector:
    def __init__(self, terminal: Terminal, store: RecordStore, faults: FaultBook, transactions: TransactionBook,
                 needed_by_all: Callable[[], set[str]]) -> None:
        self.terminal = terminal
        self.store = store
        self.faults = faults
        self.transactions = transactions
        self.needed_by_all = needed_by_all
        self._running = threading.Lock()

    def run(self, trigger: Trigger, wait: float, slot: str | None = None) -> InspectionView:
        if not self.transactions.wait_idle(wait):
            raise GtsdkError(ErrorCode.DEVICE_BUSY, "a transaction is open; the inspection waits until it ends",
                             retryable=True)
        if not self._running.acquire(timeout=max(wait, 0.001)):
            raise GtsdkError(ErrorCode.DEVICE_BUSY, "an inspection is already running", retryable=True)
        try:
            return self._run(trigger, slot)
        finally:
            self._running.release()

    def _run(self, trigger: Trigger, slot: str | None) -> InspectionView:
        started = time.time()
        needed = self.needed_by_all()
        jobs: dict[str, Job] = {}
        findings: dict[str, InspectionFinding] = {}
        for mod_id, dev in sorted(self.terminal.devices.items()):
            if dev.disabled_reason or dev.driver is None:
                continue
            try:
                jobs[mod_id] = dev.submit("health", {"level": HealthLevel.INTERNAL}, timeout=HEALTH_TIMEOUT,
                                          caller="records:inspection")
            except GtsdkError as e:
                findings[mod_id] = self._finding(mod_id, None, e, needed)
        futures: dict[str, Future[Model]] = {m: j.future for m, j in jobs.items()}
        wait_futures(list(futures.values()), timeout=HEALTH_TIMEOUT + 5)
        for mod_id, fut in futures.items():
            if not fut.done():
                findings[mod_id] = self._finding(mod_id, None, GtsdkError(ErrorCode.TIME_OUT, "no answer"), needed)
                continue
            exc = fut.exception()
            res = fut.result() if exc is None else None
            err = exc if isinstance(exc, GtsdkError) else (
                GtsdkError(ErrorCode.INTERNAL_ERROR, type(exc).__name__) if exc is not None else None)
            findings[mod_id] = self._finding(mod_id, res if isinstance(res, HealthResult) else None, err, needed)
        ended = time.time()
        ordered = [findings[m] for m in sorted(findings)]
        for f in ordered:
            if f.ok:
                self.faults.clear(f.module, INSPECTION)
            elif f.level is not None:
                self.faults.raise_fault(f.module, INSPECTION, f.level, f.text or "inspection finding", f.code)
        body = Inspection(trigger=trigger, started=utc(started), ended=utc(ended), findings=ordered)
        iid = new_id()
        ok = all(f.ok for f in ordered)

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO inspections VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (iid, trigger, started, ended, int(ok),
                          json.dumps([f.model_dump(mode="json", by_alias=True) for f in ordered]), slot))
            self.store.emit(conn, RecordKind.INSPECTION, iid, body, when=ended)

        self.store.write(save)
        return InspectionView(id=iid, trigger=trigger, started=body.started, ended=body.ended, ok=ok,
                              findings=ordered)

    def _finding(self, module: str, res: HealthResult | None, err: GtsdkError | None,
                 needed: set[str]) -> InspectionFinding:
        dev = self.terminal.devices[module]
        if err is not None and err.code == ErrorCode.UNSUPPORTED_COMMAND.value:
            return InspectionFinding(module=module, ok=True, text="no internal health check")
        if err is not None:
            down = err.code in (ErrorCode.NO_DEVICE.value, ErrorCode.COMMUNICATION_ERROR.value) or \
                dev.state.value in DOWN_STATES
            level = (state_level(dev.state.value, dev.reason, module, needed) or 2) if down else 2
            return InspectionFinding(module=module, ok=False, level=level, code=err.code,
                                     text=_text(err.detail or err.code))
        assert res is not None
        if res.ok:
            return InspectionFinding(module=module, ok=True, text=_text(res.text))
        return InspectionFinding(module=module, ok=False, level=2, code=None, text=_text(res.text or "not ok"))

    def last(self) -> InspectionView | None:
        with self.store.reader() as db:
            r = db.execute("SELECT id, trigger, started, ended, ok, findings FROM inspections "
                           "ORDER BY started DESC LIMIT 1").fetchone()
        if r is None:
            return None
        return InspectionView(id=r[0], trigger=r[1], started=utc(r[2]), ended=utc(r[3]), ok=bool(r[4]),
                              findings=[InspectionFinding.model_validate(f) for f in json.loads(r[5])])

    def slot_done(self, slot: str) -> bool:
        with self.store.reader() as db:
            return db.execute("SELECT 1 FROM inspections WHERE slot = ? LIMIT 1", (slot,)).fetchone() is not None


def due_slot(times: list[str], now: float) -> str | None:
    """The latest scheduled slot of today that has passed, as ``YYYY-MM-DD HH:MM`` (local time)."""
    lt = time.localtime(now)
    hm = f"{lt.tm_hour:02d}:{lt.tm_min:02d}"
    passed = [t for t in times if t <= hm]
    if not passed:
        return None
    return f"{lt.tm_year:04d}-{lt.tm_mon:02d}-{lt.tm_mday:02d} {passed[-1]}"
