"""The records database: one SQLite file in the gtsdk home (``records.sqlite``).

* mode 0600 from the first byte: the file is created with ``os.open(..., 0o600)`` before SQLite opens it, and
  SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file;
* WAL with ``synchronous=FULL``: a write that was acknowledged to a caller survives a power cut, not only a
  ``kill -9`` (docs/records.md);
* every record is written together with its :class:`~gtsdk.records.schema.RecordEnvelope` in the outbox, in one
  transaction (:func:`gtsdk.records.outbox.append`), so what exists here is queued for the fleet platform and
  nothing rolled back ever is.

One writer connection behind a lock (callers run off the event loop, e.g. ``asyncio.to_thread``) and one reader
connection for the aggregations; WAL lets the reader see committed data while a write is going on.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from gtsdk.driver import Model
from gtsdk.records import outbox, rollups
from gtsdk.records.schema import RecordEnvelope, RecordKind

log = logging.getLogger("gtsdk.records")

T = TypeVar("T")
FILE_NAME = "records.sqlite"
#: version of the local table layout (meta.layout); migrations key on it
LAYOUT = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL,
    start_t REAL NOT NULL, start_wall REAL NOT NULL, start_mono REAL NOT NULL,
    last_t REAL NOT NULL, last_wall REAL NOT NULL, last_mono REAL NOT NULL,
    gap REAL NOT NULL, gap_source TEXT NOT NULL, clean INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS anchors (t REAL NOT NULL, wall REAL NOT NULL, run_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS anchors_t ON anchors(t);
CREATE TABLE IF NOT EXISTS catalogue_versions (version TEXT PRIMARY KEY, loaded REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, service_code TEXT NOT NULL, app TEXT, state TEXT NOT NULL,
    result TEXT, reason_code TEXT, started REAL NOT NULL, started_t REAL NOT NULL, last_t REAL NOT NULL,
    ended REAL, duration REAL, operations INTEGER NOT NULL DEFAULT 0, failed_operations INTEGER NOT NULL DEFAULT 0,
    holder_key TEXT, day TEXT NOT NULL, hour INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS transactions_day ON transactions(day, service_code, result, hour);
CREATE INDEX IF NOT EXISTS transactions_started ON transactions(started);
CREATE INDEX IF NOT EXISTS transactions_open ON transactions(state) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS ratings (
    id TEXT PRIMARY KEY, transaction_id TEXT UNIQUE, service_code TEXT, level INTEGER NOT NULL,
    tags TEXT NOT NULL, comment TEXT, time REAL NOT NULL, day TEXT NOT NULL, idempotency_key TEXT UNIQUE);
CREATE INDEX IF NOT EXISTS ratings_day ON ratings(day, service_code, level);
CREATE TABLE IF NOT EXISTS faults (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, module TEXT, level INTEGER NOT NULL, kind TEXT NOT NULL,
    code TEXT, reason TEXT NOT NULL, state TEXT NOT NULL, opened REAL NOT NULL, opened_t REAL NOT NULL,
    acknowledged REAL, resolved REAL, resolved_t REAL, resolution TEXT);
CREATE INDEX IF NOT EXISTS faults_opened ON faults(opened);
CREATE INDEX IF NOT EXISTS faults_unresolved ON faults(state) WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS fault_history (
    fault_id TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL, level INTEGER NOT NULL,
    wall REAL NOT NULL, t REAL NOT NULL, note TEXT, PRIMARY KEY (fault_id, version));
CREATE TABLE IF NOT EXISTS inspections (
    id TEXT PRIMARY KEY, trigger TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, ok INTEGER NOT NULL,
    findings TEXT NOT NULL, slot TEXT);
CREATE TABLE IF NOT EXISTS consumables (
    id TEXT PRIMARY KEY, time REAL NOT NULL, module TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
    level REAL);
CREATE TABLE IF NOT EXISTS host_samples (id TEXT PRIMARY KEY, time REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS availability_days (
    day TEXT NOT NULL, module TEXT NOT NULL, up REAL NOT NULL, down REAL NOT NULL, unknown REAL NOT NULL,
    version INTEGER NOT NULL, PRIMARY KEY (day, module));
"""


def new_id() -> str:
    return uuid.uuid4().hex


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def local_day_hour(ts: float) -> tuple[str, int]:
    """The terminal's local calendar day and hour of *ts* (statistics are by local time, 10.1.2.3)."""
    lt = time.localtime(ts)
    return f"{lt.tm_year:04d}-{lt.tm_mon:02d}-{lt.tm_mday:02d}", lt.tm_hour


def _create_private(path: Path) -> None:
    """Create *path* empty with mode 0600 (never readable by others, not even for a moment)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


class _Reading:
    """``with store.reader() as db``: the read connection under its lock (a plain class: a summary enters it a
    dozen times, and a generator-based context manager costs several times more)."""

    __slots__ = ("_conn", "_lock")

    def __init__(self, lock: threading.Lock, conn: sqlite3.Connection) -> None:
        self._lock, self._conn = lock, conn

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        return self._conn

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class RecordStore:
    def __init__(self, path: Path, terminal_id: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_private(path)
        for suffix in ("-wal", "-shm"):  # left by an older run with a looser mode: tighten
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._lock = threading.Lock()
        self._conn = self._connect()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
            outbox.create(self._conn)
            rollups.create(self._conn)
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('layout', ?)", (str(LAYOUT),))
        self.terminal_id = terminal_id or self._generated_terminal_id()
        self._rlock = threading.Lock()
        self._reader = self._connect()
        self._reader.execute("PRAGMA query_only=ON")
        self._reading = _Reading(self._rlock, self._reader)
        self.closed = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _generated_terminal_id(self) -> str:
        """A terminal without ``[terminal] id`` still needs a stable id on its records: made once, kept."""
        cur = self.meta("terminal_id")
        if cur is None:
            cur = "T-" + uuid.uuid4().hex[:12]
            self.set_meta("terminal_id", cur)
        return cur

    # ---- meta ---------------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ---- writing ------------------------------------------------------------------------------------------
    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run *fn* in one immediate transaction on the writer connection; committed (and fsynced) on return."""
        with self._lock:
            if self.closed:
                raise RuntimeError("record store closed")
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out

    def emit(self, conn: sqlite3.Connection, kind: RecordKind, record_id: str, body: Model, *, version: int = 1,
             when: float | None = None) -> int:
        """Queue the envelope of a record in the open transaction *conn* (see :func:`outbox.append`)."""
        env = RecordEnvelope(id=record_id, kind=kind, version=version, terminal_id=self.terminal_id,
                             time=utc(when if when is not None else time.time()),
                             body=body.model_dump(mode="json", by_alias=True, exclude_none=True))
        return outbox.append(conn, env)

    # ---- reading ------------------------------------------------------------------------------------------
    def reader(self) -> AbstractContextManager[sqlite3.Connection]:
        """The read connection (one reader at a time; a snapshot per statement)."""
        return self._reading

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._conn.close()
        with self._rlock:
            self._reader.close()
