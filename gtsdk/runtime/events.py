"""The event bus: every event gets a terminal-wide sequence number and stays in
a ring buffer, so a client that reconnects asks for what it missed."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from gtsdk.driver import Model
from gtsdk.failures import carrying_on

_log = logging.getLogger("gtsdk.runtime")


class Event(Model):
    seq: int
    time: datetime
    module: str
    type: str
    data: dict[str, Any] = Field(default_factory=dict)


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self, history: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: list[tuple[Listener, frozenset[str] | None]] = []

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, module: str, type: str, data: dict[str, Any] | None = None) -> Event:
        with self._lock:
            self._seq += 1
            ev = Event(seq=self._seq, time=datetime.now(UTC), module=module, type=type, data=data or {})
            self._history.append(ev)
            listeners = list(self._listeners)
        for fn, mods in listeners:
            if mods is None or module in mods:
                # a bad listener must not break publishers
                with carrying_on(module, f"an event listener ({type})", logger=_log):
                    fn(ev)
        return ev

    def subscribe(self, fn: Listener, modules: Iterable[str] | None = None) -> Callable[[], None]:
        """Call *fn* for each new event (from the publishing thread); returns an unsubscribe function."""
        item = (fn, frozenset(modules) if modules is not None else None)
        with self._lock:
            self._listeners.append(item)

        def unsubscribe() -> None:
            with self._lock:
                if item in self._listeners:
                    self._listeners.remove(item)

        return unsubscribe

    def since(self, seq: int, modules: Iterable[str] | None = None) -> tuple[list[Event], bool]:
        """Events after *seq*; the flag is False when some were already dropped from history."""
        mods = frozenset(modules) if modules is not None else None
        with self._lock:
            events = [e for e in self._history if e.seq > seq and (mods is None or e.module in mods)]
            complete = not self._history or self._history[0].seq <= seq + 1
        return events, complete
