"""What a simulator saw, for tests to read — bounded, because a simulator in ``gtsdk serve --simulate`` runs for
days and must not grow with every command (issue #18, the soak benchmark).

:class:`History` is a list that keeps its newest :data:`KEEP` to ``2 × KEEP`` entries: when it reaches twice its
size it drops the older half at once (amortised O(1) per append).  Tests that take ``len(h)`` as a cursor and read
``h[before:]`` afterwards keep working as long as fewer than :data:`KEEP` entries arrive in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: entries a history keeps at least (and holds at most twice that many)
KEEP = 1000


class History(list[T]):
    def __init__(self, keep: int = KEEP, on_drop: Callable[[list[T]], None] | None = None) -> None:
        super().__init__()
        self.keep = keep
        #: told the entries dropped (oldest first): a history of files deletes them with it
        self.on_drop = on_drop

    def append(self, item: T) -> None:
        super().append(item)
        if len(self) >= 2 * self.keep:
            dropped = self[: len(self) - self.keep]
            del self[: len(self) - self.keep]
            if self.on_drop is not None:
                self.on_drop(dropped)
