"""Availability since installation on the terminal clock (10.2.2 i): the service's own downtime counts, a
wall-clock jump neither creates nor erases downtime, overlapping outages count once (fake clocks; the same
with a real process and libfaketime is in tests/records/test_records_restart.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from _records_fixtures import FakeClock

from gtsdk.records.availability import TERMINAL, day_figures, merge, total
from gtsdk.records.config import RecordsConfig
from gtsdk.records.recorder import Recorder
from gtsdk.records.schema import FaultState
from gtsdk.runtime import Terminal

CFG = RecordsConfig(heartbeat=10, inspections=[])


def start(home: Path, clock: FakeClock, terminal: Terminal | None = None) -> Recorder:
    return Recorder(terminal or Terminal(), home, CFG, clock=clock, background=False)


def crash(rec: Recorder) -> None:
    """What kill -9 leaves behind: whatever was committed, no final heartbeat."""
    rec._unsubscribe()
    rec.store.close()


def run_for(rec: Recorder, clock: FakeClock, seconds: float, beat: float = 10.0) -> None:
    """Let the service run: the clocks move and the heartbeat ticks."""
    while seconds > 0:
        step = min(beat, seconds)
        clock.advance(step)
        seconds -= step
        rec.timeline.beat()


def test_stopped_service_and_wall_jumps_count_once(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = start(tmp_path, clock)
    run_for(rec, clock, 1000)
    rec.close()  # a clean stop
    clock.advance(600)  # stopped for 10 minutes ...
    clock.jump_wall(+3600)  # ... and meanwhile the wall clock was set an hour ahead
    rec = start(tmp_path, clock)
    assert (rec.run.gap, rec.run.gap_source) == (600, "monotonic")
    run_for(rec, clock, 400)
    clock.jump_wall(-7200)  # NTP sets it back two hours while running
    run_for(rec, clock, 1000)
    fig = rec.availability()
    assert fig.seconds == pytest.approx(3000)
    assert fig.service_down == pytest.approx(600) and fig.downtime(TERMINAL) == pytest.approx(600)
    assert fig.ratio() == pytest.approx(1 - 600 / 3000)
    assert rec.timeline.restarts() == 1
    # a clean stop is downtime but not a fault
    assert [f for f in rec.faults.open_faults()] == []
    rec.close()


def test_crash_is_bounded_by_the_heartbeat(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = start(tmp_path, clock)
    run_for(rec, clock, 100)
    clock.advance(7)  # up for 7 s more after the last heartbeat, then killed
    crash(rec)
    clock.advance(100)
    rec = start(tmp_path, clock)
    assert rec.run.gap == pytest.approx(107)  # over-counted by < one heartbeat (10 s), never under
    fig = rec.availability()
    assert fig.service_down == pytest.approx(107) and fig.seconds == pytest.approx(207)
    with rec.store.reader() as db:
        rows = db.execute("SELECT level, kind, state, resolution, resolved_t - opened_t FROM faults").fetchall()
    assert rows == [(1, "serviceDown", "resolved", "restart", pytest.approx(107))]
    assert fig.downtime(TERMINAL) == pytest.approx(107)  # the fault and the gap are one outage
    rec.close()


def test_reboot_uses_the_wall_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = start(tmp_path, clock)
    run_for(rec, clock, 50)
    rec.close()
    clock.reboot(downtime=300)
    rec = start(tmp_path, clock)
    assert (rec.run.gap, rec.run.gap_source) == (300, "wall")
    rec.close()
    clock.reboot(downtime=100)
    clock.jump_wall(-1000)  # across a reboot with the clock set back: no negative downtime
    rec = start(tmp_path, clock)
    assert rec.run.gap == 0
    assert rec.availability().seconds == pytest.approx(350)
    rec.close()


def test_outage_across_a_restart_counts_once(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = start(tmp_path, clock)
    run_for(rec, clock, 100)
    rec.faults.raise_fault("idcard", "state", 1, "reader gone")  # the terminal is down from t=100 ...
    run_for(rec, clock, 100)
    rec.close()
    clock.advance(50)  # ... through a stop ...
    rec = start(tmp_path, clock)
    run_for(rec, clock, 30)
    open_ = rec.faults.open_faults()
    assert len(open_) == 1 and open_[0].state == FaultState.OPEN
    rec.faults.clear("idcard", "state")  # ... until t=280
    run_for(rec, clock, 20)
    fig = rec.availability()
    assert fig.seconds == pytest.approx(300)
    assert fig.downtime(TERMINAL) == pytest.approx(180)  # 100 + 50 + 30, the stop inside counted once
    assert fig.service_down == pytest.approx(50)
    rec.close()


def test_days_follow_the_wall_clock(tmp_path: Path) -> None:
    clock = FakeClock(wall=1_767_225_600.0 - 3600)  # 2025-12-31 23:00 UTC
    rec = start(tmp_path, clock)
    run_for(rec, clock, 1800)
    rec.close()
    clock.advance(3600)  # down 23:30 → 00:30
    rec = start(tmp_path, clock)
    run_for(rec, clock, 1800)  # up to 01:00
    fig = rec.availability()
    d1 = day_figures(fig, rec.timeline, date(2025, 12, 31), clock.wall())[TERMINAL]
    d2 = day_figures(fig, rec.timeline, date(2026, 1, 1), clock.wall())[TERMINAL]
    assert d1 == pytest.approx((1800, 1800, 82800))  # before installation is unknown, not up
    assert d2 == pytest.approx((1800, 1800, 0))
    assert rec.days.update(rec.modules()) == 2
    assert rec.days.update(rec.modules()) == 0  # nothing moved: no new version
    rec.close()


def test_merge() -> None:
    assert merge([(5, 7), (0, 2), (1, 3), (7, 8), (9, 9)]) == [(0, 3), (5, 8)]
    assert total([(0, 3), (5, 8)], 1, 6) == 3


def test_figures_are_reused_only_while_nothing_they_come_from_changed(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = start(tmp_path, clock)
    run_for(rec, clock, 100)
    rec.faults.raise_fault("idcard", "state", 1, "reader gone")  # level 1: the terminal is down
    run_for(rec, clock, 100)
    open_fig = rec.availability()
    run_for(rec, clock, 50)
    assert rec.availability().downtime() == pytest.approx(open_fig.downtime() + 50)  # an open fault grows
    rec.faults.clear("idcard", "state")  # closed at t=250
    first = rec.availability()
    run_for(rec, clock, 50)
    again = rec.availability()
    assert again.down is first.down  # the same merged intervals, not merged again
    assert again.seconds == pytest.approx(300) and again.downtime() == pytest.approx(150)
    assert again.ratio() == pytest.approx(1 - 150 / 300)
    rec.faults.raise_fault("lights", "state", 1, "relay")  # a new fault: merged anew
    run_for(rec, clock, 10)
    rec.faults.clear("lights", "state")
    later = rec.availability()
    assert later.down is not first.down and later.downtime() == pytest.approx(160)
    rec.close()
