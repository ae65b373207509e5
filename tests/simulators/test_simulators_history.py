"""Simulators' logs for tests are bounded (simulators/_history.py): a service on simulators runs for days."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gtsdk.simulators._history import History


@given(st.integers(1, 50), st.integers(0, 400))
def test_history_keeps_the_newest_entries_within_twice_its_size(keep: int, n: int) -> None:
    h: History[int] = History(keep)
    for i in range(n):
        h.append(i)
        assert len(h) < 2 * keep
    assert list(h) == list(range(n))[-len(h):] if h else n == 0
    assert len(h) >= min(n, keep)


def test_a_cursor_taken_with_len_reads_what_came_after() -> None:
    h: History[str] = History(10)
    for i in range(15):
        h.append(f"old {i}")
    before = len(h)
    h.extend([])  # a read between does not move the cursor
    for i in range(4):
        h.append(f"new {i}")
    assert h[before:] == [f"new {i}" for i in range(4)]


def test_the_chip_log_is_a_history() -> None:
    """The travel-document chip logs every APDU it receives (tens per read)."""
    import dataclasses

    from gtsdk.simulators.travel_doc.card import IcaoChip

    log = next(f for f in dataclasses.fields(IcaoChip) if f.name == "log")
    assert log.default_factory is History
