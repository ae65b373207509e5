"""The terminal's own clock for availability: seconds since installation that never jump (10.2.2 i).

Every run of the service is a row of ``runs``; within a run the clock is ``start_t + (monotonic - start_mono)``.
A heartbeat (every ``[records] heartbeat`` seconds, and at a clean stop) persists how far the run got.  When
the service starts again, the time it was not running — counted as downtime — is

* ``monotonic now - monotonic at the last heartbeat`` when the host has not rebooted in between (the boot id
  is the same; CLOCK_MONOTONIC is shared by all processes of a boot), so a wall-clock jump while the service
  was stopped neither creates nor erases downtime;
* ``wall now - wall at the last heartbeat`` (never negative) across a reboot, where no monotonic clock spans
  the gap.

After a crash the last heartbeat is at most one interval old, so the crash's downtime is over-counted by less
than one heartbeat, never under-counted.  The wall clock is used only to place intervals on calendar days:
``anchors`` map the terminal clock to wall time, with a new anchor at every run start and whenever the wall
clock is seen to jump during a run.
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
from dataclasses import dataclass

from gtsdk.records.clock import Clock
from gtsdk.records.store import RecordStore

#: a wall clock further than this from where the monotonic clock says it should be has jumped
JUMP = 2.0


@dataclass(frozen=True)
class Run:
    id: int
    start_t: float
    last_t: float
    gap: float  # not-running seconds before this run (0 for the first run)
    gap_source: str  # install | monotonic | wall
    clean: bool
    start_wall: float


class Timeline:
    def __init__(self, store: RecordStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self.run_id = 0
        self._start_t = 0.0
        self._start_mono = 0.0
        self._anchor = (0.0, 0.0)  # (t, wall) of the newest anchor
        self._anchors: list[tuple[float, float]] = []
        self.previous: Run | None = None
        self.installed = 0.0

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> Run:
        """Begin a run: measure the downtime since the last one and anchor the clock."""
        c = self.clock
        wall, mono, boot = c.wall(), c.mono(), c.boot_id()

        def begin(conn: sqlite3.Connection) -> Run:
            prev = conn.execute("SELECT id, boot_id, last_t, last_wall, last_mono, clean FROM runs "
                                "ORDER BY id DESC LIMIT 1").fetchone()
            if prev is None:
                gap, source, start_t = 0.0, "install", 0.0
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('installed', ?)", (repr(wall),))
            else:
                _, pboot, plast_t, plast_wall, plast_mono, _ = prev
                if pboot == boot and mono >= plast_mono:
                    gap, source = mono - plast_mono, "monotonic"
                else:
                    gap, source = max(0.0, wall - plast_wall), "wall"
                start_t = plast_t + gap
                # the gap sits just before this start on the wall clock
                conn.execute("INSERT INTO anchors VALUES (?, ?, ?)", (plast_t, wall - gap, -1))
            cur = conn.execute("INSERT INTO runs (boot_id, start_t, start_wall, start_mono, last_t, last_wall, "
                               "last_mono, gap, gap_source, clean) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                               (boot, start_t, wall, mono, start_t, wall, mono, gap, source))
            rid = int(cur.lastrowid or 0)
            conn.execute("UPDATE anchors SET run_id = ? WHERE run_id = -1", (rid,))
            conn.execute("INSERT INTO anchors VALUES (?, ?, ?)", (start_t, wall, rid))
            return Run(rid, start_t, start_t, gap, source, False, wall)

        with self._lock:
            self.previous = self.last_run()
            run = self.store.write(begin)
            self.run_id, self._start_t, self._start_mono = run.id, run.start_t, mono
            self._anchor = (run.start_t, wall)
            inst = self.store.meta("installed")
            self.installed = float(inst) if inst else wall
            self._load_anchors()
        return run

    def last_run(self) -> Run | None:
        with self.store.reader() as db:
            row = db.execute("SELECT id, start_t, last_t, gap, gap_source, clean, start_wall FROM runs "
                             "ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else Run(int(row[0]), row[1], row[2], row[3], row[4], bool(row[5]), row[6])

    def now(self) -> float:
        """Seconds since installation on the terminal clock."""
        return self._start_t + (self.clock.mono() - self._start_mono)

    def beat(self, *, clean: bool = False) -> None:
        """Persist how far this run got; re-anchor when the wall clock jumped."""
        t, wall, mono = self.now(), self.clock.wall(), self.clock.mono()
        with self._lock:
            at, aw = self._anchor
            jumped = abs(wall - (aw + (t - at))) > JUMP

            def persist(conn: sqlite3.Connection) -> None:
                conn.execute("UPDATE runs SET last_t = ?, last_wall = ?, last_mono = ?, clean = ? WHERE id = ?",
                             (t, wall, mono, int(clean), self.run_id))
                if jumped:
                    conn.execute("INSERT INTO anchors VALUES (?, ?, ?)", (t, wall, self.run_id))

            self.store.write(persist)
            if jumped:
                self._anchor = (t, wall)
                self._load_anchors()

    def stop(self) -> None:
        self.beat(clean=True)

    # ---- reading --------------------------------------------------------------------------------------------
    def _load_anchors(self) -> None:
        with self.store.reader() as db:
            self._anchors = [(float(t), float(w)) for t, w in
                             db.execute("SELECT t, wall FROM anchors ORDER BY t, rowid").fetchall()]

    def wall_at(self, t: float) -> float:
        """Where the terminal-clock instant *t* falls on the wall clock (for placing it on a day)."""
        a = self._anchors
        if not a:
            return self.clock.wall() - (self.now() - t)
        i = bisect.bisect_right(a, (t, float("inf"))) - 1
        at, aw = a[max(i, 0)]
        return aw + (t - at)

    def gaps(self, db: sqlite3.Connection) -> list[tuple[float, float]]:
        """The intervals (terminal clock) when the service was not running."""
        return [(float(s) - float(g), float(s)) for s, g in
                db.execute("SELECT start_t, gap FROM runs WHERE gap > 0 ORDER BY id").fetchall()]

    def restarts(self) -> int:
        with self.store.reader() as db:
            return max(0, int(db.execute("SELECT count(*) FROM runs").fetchone()[0]) - 1)
