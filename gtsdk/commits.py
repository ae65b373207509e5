"""Waiting until a row is committed: threads and event-loop tasks, woken in one step per commit.

A writer thread commits rows in batches (group commit) and tells :class:`CommitWaiters` which keys it made
durable.  Whoever waits for a key — a thread (:meth:`CommitWaiters.wait`) or a coroutine
(:meth:`CommitWaiters.wait_async`) — is woken then; a coroutine through one ``call_soon_threadsafe`` per event
loop per batch, not one per row, and without a thread-side future per request.  Keys committed shortly before
anyone asks are remembered (the last *recent* of them), so a waiter that comes late returns at once.

A :class:`LoopWaiter` is told on its event loop by a method call instead of a future: the service waits for an
operation's result and its audit row with one of them, so the loop wakes once per operation, not twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable


class LoopWaiter:
    """A waiter told of its key's commit on :attr:`loop`, by :meth:`committed` (override it)."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def committed(self) -> None:
        raise NotImplementedError


Waiter = asyncio.Future[bool] | threading.Event | LoopWaiter


def _wake(waiters: list[asyncio.Future[bool] | LoopWaiter]) -> None:
    """On the waiters' event loop: every waiter of one committed batch."""
    for w in waiters:
        if isinstance(w, LoopWaiter):
            w.committed()
        elif not w.done():
            w.set_result(True)


def _expire(f: asyncio.Future[bool]) -> None:
    if not f.done():
        f.set_result(False)


class CommitWaiters:
    """Keys (request ids) committed recently, and who waits for the others."""

    def __init__(self, recent: int = 8192) -> None:
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._max_recent = recent
        #: key -> its waiters; empty once nobody waits (tests look)
        self.waiting: dict[str, list[Waiter]] = {}

    def committed(self, keys: Iterable[str]) -> None:
        """The writer made *keys* durable: remember them and wake their waiters (any thread)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[bool] | LoopWaiter]] = {}
        with self._lock:
            recent, waiting = self._recent, self.waiting
            for key in keys:
                recent[key] = None
                if waiting:
                    for w in waiting.pop(key, ()):
                        if isinstance(w, threading.Event):
                            w.set()
                        else:
                            loop = w.loop if isinstance(w, LoopWaiter) else w.get_loop()
                            by_loop.setdefault(loop, []).append(w)
            while len(recent) > self._max_recent:
                recent.popitem(last=False)
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(_wake, futures)
            except RuntimeError:  # that loop is closed: its waiters went with it
                pass

    def expect(self, key: str, w: Waiter) -> bool:
        """Register *w* for *key*; False (and nothing registered) when *key* is already committed."""
        with self._lock:
            if key in self._recent:
                return False
            self.waiting.setdefault(key, []).append(w)
            return True

    def forget(self, key: str, w: Waiter) -> None:
        """Unregister *w* (it was woken, or gave up)."""
        with self._lock:
            lst = self.waiting.get(key)
            if lst is not None and w in lst:
                lst.remove(w)
                if not lst:
                    del self.waiting[key]

    def is_committed(self, key: str) -> bool:
        with self._lock:
            return key in self._recent

    def wait(self, key: str, timeout: float) -> bool:
        """Block until *key* is committed (True) or *timeout* seconds pass (False)."""
        ev = threading.Event()
        if not self.expect(key, ev):
            return True
        try:
            return ev.wait(timeout)
        finally:
            self.forget(key, ev)

    async def wait_async(self, key: str, timeout: float) -> bool:
        """:meth:`wait` on the running event loop (no thread, no task; one timer)."""
        if key in self._recent:  # a read of a dict the writer changes under its lock: atomic, and a hint only
            return True
        loop = asyncio.get_running_loop()
        f: asyncio.Future[bool] = loop.create_future()
        if not self.expect(key, f):
            return True
        timer = loop.call_later(timeout, _expire, f)
        try:
            if await f:  # woken by its commit: the writer already dropped the waiter
                return True
        except BaseException:  # the waiting task was cancelled
            self.forget(key, f)
            raise
        finally:
            timer.cancel()
        self.forget(key, f)
        return self.is_committed(key)  # committed just as the time ran out
