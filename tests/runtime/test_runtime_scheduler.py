"""The runtime's one timer thread: deadlines fire on time, finished operations leave no timers behind."""

from __future__ import annotations

import threading
import time

from _runtime_fixtures import register_all

from gtsdk.runtime import Terminal, parse_config
from gtsdk.runtime.scheduler import Scheduler

register_all()


def test_timers_fire_in_deadline_order_and_cancelled_ones_never() -> None:
    s = Scheduler()
    fired: list[str] = []
    done = threading.Event()
    try:
        now = time.monotonic()
        def late() -> None:
            fired.append("late")
            done.set()

        s.at(now + 0.2, late)
        keep = s.at(now + 0.05, lambda: fired.append("early"))
        gone = s.at(now + 0.1, lambda: fired.append("cancelled"))
        s.cancel(gone)
        assert done.wait(5)
        assert fired == ["early", "late"]
        s.cancel(keep)  # after it ran: nothing happens
        assert s.pending == 0
    finally:
        s.stop()


def test_finished_operations_leave_no_timers_behind() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "recording"}}})
    with Terminal(cfg) as t:
        t.lights.on(light="a")
        scheduler = t._scheduler
        for i in range(2000):  # each would otherwise hold a 30 s deadline timer in the heap
            t.lights.on(light=f"l{i % 8}")
        assert scheduler.pending < 600  # compacted: about the live operations, not the last 2000


def test_a_finished_timer_keeps_nothing_alive() -> None:
    """An operation and its deadline timer refer to each other; once the timer ran or was cancelled it drops its
    callback, so nothing of the operation waits for the cyclic garbage collector."""
    import gc
    import weakref

    from gtsdk.runtime.scheduler import Scheduler

    class Op:
        pass

    s = Scheduler()
    try:
        op = Op()
        op.timer = s.at(time.monotonic() + 60, lambda o=op: print(o))  # type: ignore[attr-defined,misc]
        ref = weakref.ref(op)
        s.cancel(op.timer)  # type: ignore[attr-defined]
        gc.disable()
        try:
            del op
            assert ref() is None  # freed by reference counting alone
        finally:
            gc.enable()
    finally:
        s.stop()
