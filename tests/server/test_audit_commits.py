"""Waiting for committed audit rows (gtsdk/commits.py, gtsdk/audit.py): group commit, one wake-up per batch,
no waiter left behind, and the row building moved off the device's worker (clause 9.3.3 b)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gtsdk import commits
from gtsdk.audit import AuditLog, subject_of
from gtsdk.commits import CommitWaiters
from gtsdk.driver import Model
from gtsdk.modules import lights
from gtsdk.runtime.device import OperationRecord


class Card(Model):
    """A result naming a person (as IdCardData does)."""

    id_number: str
    name: str


def test_thread_waiter_woken_by_its_commit() -> None:
    w = CommitWaiters()
    threading.Timer(0.05, w.committed, args=(["a", "b"],)).start()
    t = time.monotonic()
    assert w.wait("b", timeout=5)
    assert time.monotonic() - t < 4
    assert w.wait("a", timeout=0)  # already committed: remembered
    assert not w.wait("never", timeout=0.02)
    assert not w.waiting


def test_async_waiters_of_a_batch_woken_in_one_callback() -> None:
    w = CommitWaiters()

    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        calls = 0
        real = loop.call_soon_threadsafe

        def counting(*args: object) -> asyncio.Handle:
            nonlocal calls
            calls += args[0] is commits._wake
            return real(*args)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        tasks = [asyncio.ensure_future(w.wait_async(f"r{i}", 5)) for i in range(20)]
        await asyncio.sleep(0.01)
        assert len(w.waiting) == 20
        await asyncio.to_thread(w.committed, [f"r{i}" for i in range(20)])
        out = await asyncio.gather(*tasks)
        assert calls == 1
        return out

    assert asyncio.run(main()) == [True] * 20
    assert not w.waiting


def test_async_waiter_times_out_or_is_cancelled_without_trace() -> None:
    w = CommitWaiters()

    async def main() -> None:
        assert not await w.wait_async("late", 0.02)
        task = asyncio.ensure_future(w.wait_async("gone", 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        w.committed(["early"])
        assert await w.wait_async("early", 0.01)

    asyncio.run(main())
    assert not w.waiting


def test_recent_keys_are_bounded() -> None:
    w = CommitWaiters(recent=3)
    w.committed(["a", "b", "c", "d"])
    assert not w.is_committed("a") and w.is_committed("d")


def test_listener_hands_the_record_over_and_the_writer_masks_it(tmp_path: Path) -> None:
    """The device's worker only queues the record; the row is made on the writer thread, masked."""
    log = AuditLog(tmp_path)
    try:
        card = Card(id_number="110101199003071234", name="张三")
        for rid, result in (("r-card", card), ("r-light", lights.Lights(states={"hall": "on"}))):
            log.listener(OperationRecord("idcard", "read", rid, "success", 0.0125, "tok:kiosk", datetime.now(UTC),
                                         result))
        assert log.wait_committed("r-card", 10) and log.wait_committed("r-light", 10)
        rows = {r["request_id"]: r for r in log.query()}
        assert rows["r-card"]["subject"] == "11**************34" and rows["r-card"]["app"] == "kiosk"
        assert rows["r-card"]["duration_ms"] == 12.5
        assert rows["r-light"]["subject"] is None
        assert log.query(person="110101199003071234")[0]["request_id"] == "r-card"
        assert log.verify().ok
    finally:
        log.close()


def test_a_record_that_cannot_be_a_row_costs_no_other_row(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    try:
        log.listener(object())  # not an OperationRecord: logged and skipped
        log.record(module="lights", operation="on", request_id="after", code="success", duration_ms=1.0)
        assert log.wait_committed("after", 10)
        assert log.flush(5)
        assert [r["request_id"] for r in log.query()] == ["after"]
    finally:
        log.close()


def test_group_commit_chains_rows_across_a_day_change(tmp_path: Path) -> None:
    """One batch spanning midnight: the day's head names its last row, and the chain verifies."""
    log = AuditLog(tmp_path)
    try:
        rows = [{"time": f"2026-01-0{d}T23:59:59.{i:03d}+00:00", "module": "lights", "operation": "on",
                 "request_id": f"d{d}-{i}", "code": "success", "duration_ms": 1.0, "caller": None, "app": None,
                 "subject": None, "subject_key": None} for d in (1, 2) for i in range(3)]
        log._append(rows)
        assert [r["request_id"] for r in log.query()] == [r["request_id"] for r in rows]
        with log._lock:
            head = log._db.execute("SELECT last_id FROM heads WHERE day = '2026-01-01'").fetchone()
        assert head["last_id"] == 3
        assert log.verify().ok
    finally:
        log.close()


def test_subject_of_looks_only_at_fields_the_result_has() -> None:
    assert subject_of(lights.Lights(states={})) is None
    assert subject_of(Card(id_number="X1", name="n")) == "X1"
    assert subject_of(None) is None

    class Plain:
        document_number = "E12345678"

    assert subject_of(Plain()) == "E12345678"
