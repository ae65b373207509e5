"""Daily rollups of transactions and ratings, kept in the same database transaction as the record itself.

The statistics of a year (10.1.2) then read a few thousand rollup rows instead of every transaction: per day,
service and result (counts and summed duration), per day and hour (0–24 h peaks), and per day, service and
rating level.  :func:`rebuild` recomputes them from the records (after a purge, or for data written around the
store); tests check that the maintained rollups always equal a rebuild.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS tx_daily (
    day TEXT NOT NULL, service_code TEXT NOT NULL, result TEXT NOT NULL, n INTEGER NOT NULL, duration REAL NOT NULL,
    PRIMARY KEY (day, service_code, result)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tx_hourly (
    day TEXT NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rating_daily (
    day TEXT NOT NULL, service_code TEXT NOT NULL, level INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (day, service_code, level)) WITHOUT ROWID;
"""


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def add_transaction(conn: sqlite3.Connection, day: str, hour: int, service_code: str, result: str,
                    duration: float) -> None:
    conn.execute("INSERT INTO tx_daily VALUES (?, ?, ?, 1, ?) ON CONFLICT (day, service_code, result) "
                 "DO UPDATE SET n = n + 1, duration = duration + excluded.duration",
                 (day, service_code, result, duration))
    conn.execute("INSERT INTO tx_hourly VALUES (?, ?, 1) ON CONFLICT (day, hour) DO UPDATE SET n = n + 1",
                 (day, hour))


def add_rating(conn: sqlite3.Connection, day: str, service_code: str | None, level: int) -> None:
    conn.execute("INSERT INTO rating_daily VALUES (?, ?, ?, 1) ON CONFLICT (day, service_code, level) "
                 "DO UPDATE SET n = n + 1", (day, service_code or "", level))


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every rollup from the records (inside the caller's transaction)."""
    conn.execute("DELETE FROM tx_daily")
    conn.execute("DELETE FROM tx_hourly")
    conn.execute("DELETE FROM rating_daily")
    conn.execute("INSERT INTO tx_daily SELECT day, service_code, result, count(*), coalesce(sum(duration), 0) "
                 "FROM transactions WHERE state = 'ended' GROUP BY day, service_code, result")
    conn.execute("INSERT INTO tx_hourly SELECT day, hour, count(*) FROM transactions WHERE state = 'ended' "
                 "GROUP BY day, hour")
    conn.execute("INSERT INTO rating_daily SELECT day, coalesce(service_code, ''), level, count(*) FROM ratings "
                 "GROUP BY day, coalesce(service_code, ''), level")


def purge(conn: sqlite3.Connection, before_day: str) -> None:
    for table in ("tx_daily", "tx_hourly", "rating_daily"):
        conn.execute(f"DELETE FROM {table} WHERE day < ?", (before_day,))
