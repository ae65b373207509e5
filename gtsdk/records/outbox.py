"""The transactional outbox of a terminal's records (DESIGN: at least once on the wire, exactly once in the
platform's database).

The record store writes each record and its :class:`~gtsdk.records.schema.RecordEnvelope` in **one** SQLite
transaction (:func:`append` takes the store's open connection), so a record that exists locally is always
queued for delivery and a record that was rolled back never is.  The fleet agent (gtsdk.fleet.agent) drains the
queue in ``seq`` order (:meth:`Outbox.pending`), publishes each envelope with QoS 1 and forgets it
(:meth:`Outbox.ack`) only when the **platform's receipt** says the database transaction that applied it committed
— never on the broker's acknowledgement, since a broker can lose what it acknowledged.  Anything not confirmed is
published again (after a crash, on a new connection, when the agent's loss recovery sees it lost), and the
platform's ingest is idempotent on ``(id, version)``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from gtsdk.records.schema import RecordEnvelope

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,          -- the RecordEnvelope as UTF-8 JSON (camelCase)
    created REAL NOT NULL        -- time.time() when queued
);
"""
#: a single envelope larger than this is refused (it would not fit an MQTT message the brokers accept by default)
MAX_ENVELOPE_BYTES = 256 * 1024


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def append(conn: sqlite3.Connection, envelope: RecordEnvelope) -> int:
    """Queue *envelope* inside the caller's open transaction; returns its sequence number."""
    body = envelope.model_dump_json(by_alias=True, exclude_none=True).encode()
    if len(body) > MAX_ENVELOPE_BYTES:
        raise ValueError(f"record {envelope.id} is {len(body)} bytes (limit {MAX_ENVELOPE_BYTES})")
    cur = conn.execute("INSERT INTO outbox (record_id, version, kind, body, created) VALUES (?, ?, ?, ?, ?)",
                       (envelope.id, envelope.version, envelope.kind.value, body, time.time()))
    assert cur.lastrowid is not None
    return cur.lastrowid


@dataclass(frozen=True)
class Pending:
    seq: int
    record_id: str
    version: int
    kind: str
    body: bytes
    created: float


class Outbox:
    """The sending side: read what is queued, forget what the platform confirmed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        create(conn)

    def pending(self, limit: int = 100, after: int = 0) -> list[Pending]:
        rows = self._conn.execute(
            "SELECT seq, record_id, version, kind, body, created FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit)).fetchall()
        return [Pending(*r) for r in rows]

    def get(self, seqs: Iterable[int]) -> list[Pending]:
        """The queued records among *seqs* (those still waiting), in ``seq`` order."""
        wanted = sorted(set(seqs))
        out: list[Pending] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = self._conn.execute(
                f"SELECT seq, record_id, version, kind, body, created FROM outbox WHERE seq IN "
                f"({','.join('?' * len(chunk))}) ORDER BY seq", chunk).fetchall()
            out += [Pending(*r) for r in rows]
        return out

    def ack(self, seqs: Iterable[int]) -> None:
        with self._conn:
            self._conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def size(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def oldest_age(self, now: float | None = None) -> float | None:
        """Seconds the oldest queued record has waited (None when the queue is empty)."""
        row = self._conn.execute("SELECT min(created) FROM outbox").fetchone()
        return None if row[0] is None else (now or time.time()) - float(row[0])
