"""One timer thread for every deadline in the terminal (no thread per request).

Timers are cancellable: a request that completes before its deadline cancels its timer, which drops the
callback (and with it the request, its context and its future) at once; cancelled entries are purged from the
heap once they are the majority.  Without this every finished request stayed reachable until its deadline
passed (30 s by default), so a busy service held tens of thousands of dead jobs and the garbage collector's
full passes over them stalled every thread for hundreds of milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("gtsdk.runtime")


class Timer:
    """A scheduled callback; :meth:`cancel` forgets the callback (safe from any thread, idempotent)."""

    __slots__ = ("_owner", "fn", "seq", "when")

    def __init__(self, when: float, seq: int, fn: Callable[[], None], owner: Scheduler) -> None:
        self.when, self.seq, self._owner = when, seq, owner
        self.fn: Callable[[], None] | None = fn

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        if self.fn is not None:
            self.fn = None
            self._owner._cancelled()


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._cv = threading.Condition()
        self._count = itertools.count()
        self._dead = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="gtsdk-scheduler", daemon=True)
        self._thread.start()

    def at(self, when: float, fn: Callable[[], None]) -> Timer:
        """Run *fn* at monotonic time *when* (on the scheduler thread; keep it short)."""
        timer = Timer(when, next(self._count), fn, self)
        with self._cv:
            heapq.heappush(self._heap, timer)
            if self._heap[0] is timer:  # only an earlier wake-up needs the thread; later ones it finds itself
                self._cv.notify()
        return timer

    def __len__(self) -> int:
        """Timers still pending (cancelled ones not counted)."""
        with self._cv:
            return len(self._heap) - self._dead

    def _cancelled(self) -> None:
        with self._cv:
            self._dead += 1
            if self._dead > 64 and self._dead * 2 > len(self._heap):
                self._heap = [t for t in self._heap if t.fn is not None]
                heapq.heapify(self._heap)
                self._dead = 0

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopped:
                    while self._heap and self._heap[0].fn is None:
                        heapq.heappop(self._heap)
                        self._dead -= 1
                    if self._heap and self._heap[0].when <= time.monotonic():
                        break
                    self._cv.wait(self._heap[0].when - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                timer = heapq.heappop(self._heap)
                fn, timer.fn = timer.fn, None
            if fn is None:
                continue
            try:
                fn()
            except Exception:
                log.exception("scheduled callback failed")
