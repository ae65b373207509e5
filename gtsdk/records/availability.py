"""Availability since installation (10.2.2 i: ≥ 99.5 %), per module and for the terminal.

Everything is computed on the terminal clock (:mod:`~gtsdk.records.timeline`), from two persisted histories:

* the gaps between runs of the service — the service not running is downtime for the terminal and every module;
* the fault database — a module is down while it has an open level 1 or 2 fault, the terminal while any level 1
  fault is open.

Overlapping intervals are merged first, so an outage is counted once however many records describe it.  For the
per-day records (:class:`~gtsdk.records.schema.Availability`, one per UTC day and module, rewritten with a higher
version while the day goes on) intervals are placed on the wall clock through the timeline's anchors.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gtsdk.records.schema import Availability, RecordKind
from gtsdk.records.store import RecordStore
from gtsdk.records.timeline import Timeline

TARGET = 0.995
TERMINAL = ""  # the module column value of the terminal as a whole
Interval = tuple[float, float]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def total(intervals: Iterable[Interval], lo: float = float("-inf"), hi: float = float("inf")) -> float:
    return sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in intervals)


@dataclass(frozen=True)
class Figures:
    since: float  # wall time of installation
    seconds: float  # terminal clock now: seconds since installation
    down: dict[str, list[Interval]]  # module ("" = terminal) -> merged down intervals
    service_down: float

    def ratio(self, module: str = TERMINAL) -> float:
        if self.seconds <= 0:
            return 1.0
        return max(0.0, 1.0 - total(self.down.get(module, [])) / self.seconds)

    def downtime(self, module: str = TERMINAL) -> float:
        return total(self.down.get(module, []))


#: the faults that make a module or the terminal unavailable (level 1 and 2); an open one lasts until now
DOWN_FAULTS = "SELECT module, level, opened_t, resolved_t FROM faults WHERE level <= 2"


def compute(db: sqlite3.Connection, timeline: Timeline, modules: Iterable[str], now_t: float,
            cache: FiguresCache | None = None) -> Figures:
    gaps = timeline.gaps(db)
    rows = db.execute(DOWN_FAULTS).fetchall()
    mods = tuple(modules)
    if cache is not None:
        hit = cache.get(mods, gaps, rows)
        if hit is not None:
            return Figures(since=timeline.installed, seconds=now_t, down=hit[0], service_down=hit[1])
    per: dict[str, list[Interval]] = {m: list(gaps) for m in mods}
    per[TERMINAL] = list(gaps)
    for module, level, start, end in rows:
        if end is None:
            end = now_t
        if level == 1:
            per[TERMINAL].append((start, end))
        if module is not None and module in per:
            per[module].append((start, end))
    fig = Figures(since=timeline.installed, seconds=now_t, down={m: merge(iv) for m, iv in per.items()},
                  service_down=total(merge(gaps)))
    if cache is not None:
        cache.put(mods, gaps, rows, fig)
    return fig


class FiguresCache:
    """The merged down intervals of the last computation, reused while the modules, the gaps between runs and the
    level 1–2 faults read are the same and none of those faults is open (an open one ends at "now")."""

    def __init__(self) -> None:
        self._last: tuple[tuple[str, ...], list[Interval], list[Any], dict[str, list[Interval]], float] | None = None

    def get(self, mods: tuple[str, ...], gaps: list[Interval],
            rows: list[Any]) -> tuple[dict[str, list[Interval]], float] | None:
        last = self._last
        if last is None or last[0] != mods or last[1] != gaps or last[2] != rows:
            return None
        return last[3], last[4]

    def put(self, mods: tuple[str, ...], gaps: list[Interval], rows: list[Any], fig: Figures) -> None:
        if any(r[3] is None for r in rows):
            self._last = None
        else:
            self._last = (mods, gaps, rows, fig.down, fig.service_down)


def _utc_day_bounds(d: date) -> tuple[float, float]:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    return start, start + 86400.0


def day_figures(fig: Figures, timeline: Timeline, d: date, now_wall: float) -> dict[str, tuple[float, float, float]]:
    """module -> (up, down, unknown) seconds within UTC day *d* (up + down + unknown = the part that has passed)."""
    lo, hi = _utc_day_bounds(d)
    passed = max(0.0, min(hi, now_wall) - lo)
    covered = max(0.0, min(hi, now_wall) - max(lo, fig.since))
    out: dict[str, tuple[float, float, float]] = {}
    for module, intervals in fig.down.items():
        down = 0.0
        for s, e in intervals:
            ws, we = timeline.wall_at(s), timeline.wall_at(e)
            down += max(0.0, min(we, hi, now_wall) - max(ws, lo))
        down = min(down, covered)
        out[module] = (covered - down, down, passed - covered)
    return out


class DayRecords:
    """Writes one :class:`Availability` record per UTC day and module, a new version when the figures move."""

    def __init__(self, store: RecordStore, timeline: Timeline) -> None:
        self.store = store
        self.timeline = timeline

    def update(self, modules: list[str], *, min_change: float = 1.0) -> int:
        now_t = self.timeline.now()
        now_wall = self.timeline.clock.wall()
        with self.store.reader() as db:
            fig = compute(db, self.timeline, modules, now_t)
            stored = {(d, m): (up, down, unk, v) for d, m, up, down, unk, v in
                      db.execute("SELECT day, module, up, down, unknown, version FROM availability_days "
                                 "WHERE day >= ?", ((datetime.fromtimestamp(now_wall, UTC) -
                                                     timedelta(days=3)).date().isoformat(),)).fetchall()}
        first = datetime.fromtimestamp(max(fig.since, now_wall - 3 * 86400), UTC).date()
        last = datetime.fromtimestamp(now_wall, UTC).date()
        writes: list[tuple[str, str, float, float, float, int]] = []
        d = first
        while d <= last:
            for module, (up, down, unk) in day_figures(fig, self.timeline, d, now_wall).items():
                prev = stored.get((d.isoformat(), module))
                if prev is not None and abs(prev[0] - up) < min_change and abs(prev[1] - down) < min_change:
                    continue
                writes.append((d.isoformat(), module, up, down, unk, (prev[3] if prev else 0) + 1))
            d += timedelta(days=1)
        if not writes:
            return 0

        def save(conn: sqlite3.Connection) -> None:
            for day, module, up, down, unk, version in writes:
                conn.execute("INSERT OR REPLACE INTO availability_days VALUES (?, ?, ?, ?, ?, ?)",
                             (day, module, up, down, unk, version))
                body = Availability(day=date.fromisoformat(day), module=module or None, up=round(up, 3),
                                    down=round(down, 3), unknown=round(max(0.0, unk), 3))
                self.store.emit(conn, RecordKind.AVAILABILITY, f"av-{day}-{module or 'terminal'}", body,
                                version=version, when=time.time())

        self.store.write(save)
        return len(writes)
