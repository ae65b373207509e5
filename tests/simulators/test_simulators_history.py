"""Simulators' logs for tests are bounded (simulators/_history.py): a service on simulators runs for days."""

from __future__ import annotations

from pathlib import Path

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


@given(st.integers(1, 20), st.integers(0, 120))
def test_what_a_history_drops_is_told_oldest_first_and_nothing_else(keep: int, n: int) -> None:
    dropped: list[int] = []
    h: History[int] = History(keep, on_drop=dropped.extend)
    for i in range(n):
        h.append(i)
    assert dropped + list(h) == list(range(n))  # every entry is either kept or told dropped, once


def test_the_receipt_printer_keeps_only_the_newest_receipts_on_disk(tmp_path: Path) -> None:
    """`gtsdk serve --simulate` prints for days: the saved receipts (PNG + transcript) are bounded like the list."""
    from gtsdk.simulators.receipt_printer.engine import PrinterEngine

    engine = PrinterEngine(tmp_path)
    engine.saved.keep = 3
    for i in range(10):
        engine.feed(f"receipt {i}\n".encode() + b"\x1dV\x00")  # text, then GS V 0: full cut
    kept = sorted(tmp_path.glob("receipt-*.png"))
    assert [p.name for p in kept] == [p.name for p in sorted(engine.saved)]
    assert 3 <= len(kept) < 6 and kept[-1].name == "receipt-0010.png"
    assert sorted(p.with_suffix(".txt") for p in kept) == sorted(tmp_path.glob("receipt-*.txt"))
    assert "receipt 9" in kept[-1].with_suffix(".txt").read_text(encoding="utf-8")
