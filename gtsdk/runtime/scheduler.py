"""One timer thread for every deadline in the terminal (no thread per request).

A timer that is no longer needed (its operation finished first — the common case) is
cancelled: it is skipped when due, and the heap is compacted once cancelled timers are
the majority, so the heap holds about as many timers as there are live operations rather
than every operation of the last default-timeout seconds.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from gtsdk.failures import swallowed

log = logging.getLogger("gtsdk.runtime")

#: compact only above this many cancelled timers (small heaps are cheap to leave alone)
_COMPACT_MIN = 256


def _done() -> None:
    """The callback of a timer that has run or was cancelled (so the timer keeps nothing alive: an operation
    and its timer refer to each other, and a cycle would wait for the garbage collector)."""


class Timer:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._cv = threading.Condition()
        self._count = itertools.count()
        self._cancelled = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="gtsdk-scheduler", daemon=True)
        self._thread.start()

    def at(self, when: float, fn: Callable[[], None]) -> Timer:
        """Run *fn* at monotonic time *when* (on the scheduler thread; keep it short)."""
        timer = Timer(when, fn)
        with self._cv:
            heapq.heappush(self._heap, (when, next(self._count), timer))
            if self._heap[0][2] is timer:
                self._cv.notify()  # a new earliest deadline: the loop must wake sooner
        return timer

    def cancel(self, timer: Timer) -> None:
        """*timer* will not run (no effect once it has run)."""
        with self._cv:
            if timer.cancelled:
                return
            timer.cancelled = True
            timer.fn = _done  # drop the callback: it usually holds its operation, which holds the timer
            self._cancelled += 1
            if self._cancelled > _COMPACT_MIN and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    @property
    def pending(self) -> int:
        """Timers in the heap, cancelled ones not yet dropped included."""
        with self._cv:
            return len(self._heap)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(wait)
                if self._stopped:
                    return
                _, _, timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    self._cancelled -= 1
                    continue
                timer.cancelled = True  # has run: a later cancel is a no-op
                fn, timer.fn = timer.fn, _done
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - logged by type and place
                swallowed("scheduler", "a scheduled callback", e, logger=log)
