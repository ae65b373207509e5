"""``gtsdk serve`` keeps start-up's objects out of the collector's full passes (gtsdk.server.run.settle_heap)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gtsdk.server.run import settle_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    """The test process gets its collector back as it was."""
    try:
        yield
    finally:
        gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_start_up_objects_are_frozen_and_later_cycles_are_still_collected(thawed: None) -> None:
    kept = [_Node() for _ in range(100)]
    settle_heap()
    assert gc.get_freeze_count() >= len(kept)  # start-up's objects are no longer walked
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle made after start-up: garbage only the collector can free
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
