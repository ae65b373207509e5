"""Retention (5, 9.3.2): records older than ``[records] retention_days`` are purged once a day.

Open transactions and unresolved faults are kept whatever their age, and so is the timeline (runs and anchors:
a few rows per restart, needed for availability since installation).  The outbox is the fleet agent's: it
forgets a record once the broker has acknowledged it, whatever its age.
"""

from __future__ import annotations

import sqlite3

from gtsdk.records import rollups
from gtsdk.records.store import RecordStore, local_day_hour

PURGES = (
    ("transactions", "state = 'ended' AND started < ?"),
    ("ratings", "time < ?"),
    ("faults", "state = 'resolved' AND resolved < ?"),
    ("fault_history", "fault_id NOT IN (SELECT id FROM faults)"),
    ("inspections", "ended < ?"),
    ("consumables", "time < ? AND id NOT IN (SELECT id FROM consumables c2 WHERE c2.time = "
                    "(SELECT max(time) FROM consumables c3 WHERE c3.module = c2.module AND c3.name = c2.name))"),
    ("host_samples", "time < ?"),
    ("availability_days", "day < date(?, 'unixepoch')"),
)


def purge(store: RecordStore, now: float, days: int) -> dict[str, int]:
    cutoff = now - days * 86400.0

    def run(conn: sqlite3.Connection) -> dict[str, int]:
        out = {}
        for table, where in PURGES:
            args = (cutoff,) if "?" in where else ()
            out[table] = conn.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount
        rollups.purge(conn, local_day_hour(cutoff)[0])
        return out

    return store.write(run)
