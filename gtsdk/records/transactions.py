"""Business transactions (办件) of kiosk apps (10.1.1.2, 10.1.2): begin, device operations, end.

An open transaction lives in the database from ``begin`` (so it survives a restart) and in memory (its counters
and last activity, flushed at every heartbeat).  Its record — :class:`~gtsdk.records.schema.Transaction` — is
written to the outbox once, when it ends: by the app (completed / failed / abandoned / timedOut, with a reason
code) or by the service after ``[records] transaction_idle`` seconds without activity (abandoned,
``idleTimeout``; its end is the last activity).  Nothing personal is stored: the service code, times, result,
counters, the app, and on request a :mod:`holder key <gtsdk.records.holder>`.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from gtsdk.audit import subject_of
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.records import rollups
from gtsdk.records.api import TransactionView
from gtsdk.records.holder import HolderKeys
from gtsdk.records.schema import RecordKind, Transaction, TransactionResult
from gtsdk.records.store import RecordStore, local_day_hour, new_id, utc
from gtsdk.records.timeline import Timeline

IDLE_REASON = "idleTimeout"
#: modules whose successful read names the holder
HOLDER_MODULES = ("idcard", "travel_doc")
MAX_OPEN = 1000


@dataclass
class _Open:
    id: str
    service_code: str
    app: str | None
    started: float  # wall
    started_t: float
    last_t: float
    operations: int = 0
    failed: int = 0
    holders: dict[str, str] = field(default_factory=dict)  # module -> holder key (memory only)
    dirty: bool = False


def _view(row: Any) -> TransactionView:
    (tid, code, app, state, result, reason, started, ended, duration, ops, failed, holder) = row
    return TransactionView(id=tid, service_code=code, app=app, state=state, started=utc(started),
                           ended=utc(ended) if ended is not None else None, duration=duration,
                           result=TransactionResult(result) if result else None, reason_code=reason,
                           operations=ops, failed_operations=failed, holder_key=holder)


VIEW_COLUMNS = ("id, service_code, app, state, result, reason_code, started, ended, duration, operations, "
                "failed_operations, holder_key")


class TransactionBook:
    def __init__(self, store: RecordStore, timeline: Timeline, holder_keys: HolderKeys | None,
                 idle: float) -> None:
        self.store = store
        self.timeline = timeline
        self.holder_keys = holder_keys
        self.idle = idle
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._idle_cv = threading.Condition(self._lock)
        self._pending: set[str] = set()  # request ids of operations not recorded yet
        with store.reader() as db:
            for tid, code, app, started, started_t, last_t, ops, failed in db.execute(
                    "SELECT id, service_code, app, started, started_t, last_t, operations, failed_operations "
                    "FROM transactions WHERE state = 'open'").fetchall():
                self._open[tid] = _Open(tid, code, app, started, started_t, last_t, ops, failed)

    # ---- app side ---------------------------------------------------------------------------------------
    def begin(self, service_code: str, app: str | None) -> TransactionView:
        with self._lock:
            if len(self._open) >= MAX_OPEN:
                raise GtsdkError(ErrorCode.DEVICE_BUSY, f"{MAX_OPEN} transactions are open; end some first")
        wall = self.timeline.clock.wall()
        t = self.timeline.now()
        tid = new_id()
        day, hour = local_day_hour(wall)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO transactions (id, service_code, app, state, started, started_t, last_t, day, "
                         "hour) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                         (tid, service_code, app, wall, t, t, day, hour))

        self.store.write(insert)
        with self._lock:
            self._open[tid] = _Open(tid, service_code, app, wall, t, t)
        return TransactionView(id=tid, service_code=service_code, app=app, state="open", started=utc(wall))

    def _mine(self, tid: str, app: str | None) -> _Open:
        o = self._open.get(tid)
        if o is None or o.app != app:
            raise GtsdkError(ErrorCode.INVALID_DATA, "no open transaction with this id for this app",
                             field="X-Transaction-Id")
        return o

    def check(self, tid: str, app: str | None) -> None:
        """The transaction named on a device operation is open and the caller's own; it is now active."""
        with self._lock:
            o = self._mine(tid, app)
            o.last_t = self.timeline.now()
            o.dirty = True

    def end(self, tid: str, app: str | None, result: TransactionResult, reason_code: str | None) -> TransactionView:
        with self._lock:
            o = self._open.get(tid)
            if o is not None and o.app != app:
                o = None
        if o is None:  # ended already (a retried request) or unknown
            view = self.get(tid, app)
            if view.state == "ended" and view.result == result and view.reason_code == reason_code:
                return view
            raise GtsdkError(ErrorCode.INVALID_STATE, f"transaction already ended as {view.result}",
                             field="result")
        return self._finish(o, result, reason_code, self.timeline.now())

    def _finish(self, o: _Open, result: TransactionResult, reason_code: str | None, end_t: float) -> TransactionView:
        ended = self.timeline.wall_at(end_t)
        duration = max(0.0, end_t - o.started_t)
        body = Transaction(service_code=o.service_code, started=utc(o.started), ended=utc(ended), duration=duration,
                           result=result, reason_code=reason_code, operations=o.operations,
                           failed_operations=o.failed, app=o.app)

        def close(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE transactions SET state = 'ended', result = ?, reason_code = ?, ended = ?, duration = ?, "
                "last_t = ?, operations = ?, failed_operations = ? WHERE id = ? AND state = 'open'",
                (result.value, reason_code, ended, duration, end_t, o.operations, o.failed, o.id))
            if cur.rowcount != 1:
                return False
            holder, day, hour = conn.execute("SELECT holder_key, day, hour FROM transactions WHERE id = ?",
                                             (o.id,)).fetchone()
            rollups.add_transaction(conn, day, hour, o.service_code, result.value, duration)
            rec = body.model_copy(update={"holder_key": holder}) if holder else body
            self.store.emit(conn, RecordKind.TRANSACTION, o.id, rec, when=ended)
            return True

        won = self.store.write(close)
        with self._lock:
            self._open.pop(o.id, None)
            self._idle_cv.notify_all()
        view = self.get(o.id, o.app)
        if not won and (view.result, view.reason_code) != (result, reason_code):  # a concurrent end came first
            raise GtsdkError(ErrorCode.INVALID_STATE, f"transaction already ended as {view.result}", field="result")
        return view

    def get(self, tid: str, app: str | None) -> TransactionView:
        with self.store.reader() as db:
            row = db.execute(f"SELECT {VIEW_COLUMNS} FROM transactions WHERE id = ?", (tid,)).fetchone()
        if row is None or row[2] != app:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no transaction with this id for this app", field="transactionId")
        view = _view(row)
        with self._lock:
            o = self._open.get(tid)
            if o is not None:
                view = view.model_copy(update={"operations": o.operations, "failed_operations": o.failed})
        return view

    def holder_key(self, tid: str, app: str | None, module: str) -> str:
        with self._lock:
            o = self._mine(tid, app)
            key = o.holders.get(module)
        if key is None:
            raise GtsdkError(ErrorCode.INVALID_STATE, f"no successful {module}.read within this transaction",
                             field="module")

        def store(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE transactions SET holder_key = ? WHERE id = ?", (key, tid))

        self.store.write(store)
        return key

    # ---- runtime side -----------------------------------------------------------------------------------
    def expect(self, request_id: str) -> None:
        """An operation with this request id is about to be submitted within a transaction."""
        with self._lock:
            self._pending.add(request_id)

    def settled(self, request_id: str, timeout: float = 2.0) -> None:
        """Wait (briefly) until the operation was counted: the runtime tells its listeners just after it resolves
        the caller's future, and an app that reads its transaction right after the answer must see it."""
        with self._lock:
            self._idle_cv.wait_for(lambda: request_id not in self._pending, timeout=timeout)
            self._pending.discard(request_id)

    def on_operation(self, tid: str, module: str, operation: str, code: str, result: object,
                     request_id: str | None = None) -> None:
        """A device operation made within *tid* completed (``Terminal.on_complete``; device worker thread)."""
        try:
            with self._lock:
                o = self._open.get(tid)
                if o is None:
                    return
                o.operations += 1
                if code != ErrorCode.SUCCESS.value:
                    o.failed += 1
                o.last_t = self.timeline.now()
                o.dirty = True
                app = o.app
            if module in HOLDER_MODULES and operation == "read" and result is not None and self.holder_keys:
                number = subject_of(result)
                if number:
                    try:
                        key = self.holder_keys.derive(app or "", module, number)
                    except GtsdkError:
                        return
                    with self._lock:
                        if tid in self._open:
                            self._open[tid].holders[module] = key
        finally:
            if request_id is not None:
                with self._lock:
                    if request_id in self._pending:
                        self._pending.discard(request_id)
                        self._idle_cv.notify_all()

    # ---- housekeeping -------------------------------------------------------------------------------------
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def wait_idle(self, timeout: float) -> bool:
        """Until no transaction is open (True) or *timeout* seconds passed (False)."""
        with self._lock:
            return self._idle_cv.wait_for(lambda: not self._open, timeout=timeout)

    def flush(self) -> None:
        """Persist counters and last activity of open transactions (at each heartbeat)."""
        with self._lock:
            rows = [(o.last_t, o.operations, o.failed, o.id) for o in self._open.values() if o.dirty]
            for o in self._open.values():
                o.dirty = False
        if rows:
            def upd(conn: sqlite3.Connection) -> None:
                conn.executemany("UPDATE transactions SET last_t = ?, operations = ?, failed_operations = ? "
                                 "WHERE id = ? AND state = 'open'", rows)
            self.store.write(upd)

    def close_idle(self) -> list[str]:
        """End transactions idle for longer than the limit as abandoned (their end is the last activity)."""
        now = self.timeline.now()
        with self._lock:
            stale = [o for o in self._open.values() if now - o.last_t > self.idle]
        for o in stale:
            self._finish(o, TransactionResult.ABANDONED, IDLE_REASON, o.last_t)
        return [o.id for o in stale]
