"""An operation's answer waits for its result and its audit row together (gtsdk/server/inflight.py): the row's
commit wakes the event loop once for both; a failure is answered at once; an answer whose row never comes is
released after the commit timeout; a caller that leaves takes its waiter with it (clause 9.3.3 b)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, cast

import pytest

from gtsdk.commits import CommitWaiters
from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import lights
from gtsdk.modules._base import OpContext
from gtsdk.runtime import Terminal
from gtsdk.runtime.device import Job
from gtsdk.server import inflight as inflight_mod
from gtsdk.server.inflight import DISCONNECTED, Handover, InFlight


class _Terminal:
    """What InFlight.wait asks of the terminal: cancelling a job whose caller left."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def cancel(self, module: str, request_id: str) -> bool:
        self.cancelled.append(request_id)
        return True


def _job(rid: str) -> Job:
    return Job("on", lights.LightRequest(light="status"), OpContext(rid, 5.0, lambda *_: None))


def _result(state: str = "on") -> lights.Lights:
    return lights.Lights(states={"status": state})


class _Counting:
    """Counts the loop's wake-ups from other threads that answer operations (results handed over, commits heard);
    not asyncio.to_thread's own."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.calls = 0
        self._real = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = self  # type: ignore[method-assign,assignment]

    def __call__(self, cb: Any, *args: Any) -> Any:
        self.calls += getattr(cb, "__name__", "") in ("_wake", "_deliver")
        return self._real(cb, *args)


def _setup() -> tuple[InFlight, _Terminal, dict[str, Any]]:
    term = _Terminal()
    flight = InFlight(cast(Terminal, term), max_pending=8)
    scope: dict[str, Any] = {DISCONNECTED: asyncio.get_running_loop().create_future()}
    return flight, term, scope


def test_success_is_answered_by_its_commit_in_one_wake() -> None:
    commits = CommitWaiters()

    async def main() -> tuple[Model, int, bool]:
        loop = asyncio.get_running_loop()
        flight, _, scope = _setup()
        counting = _Counting(loop)
        job = _job("ok-1")
        task = asyncio.ensure_future(flight.wait("lights", job, scope, None, commits))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(job.settle, _result())
        await asyncio.sleep(0.05)
        answered_before_commit = task.done()  # the result alone does not answer
        await asyncio.to_thread(commits.committed, [job.audit_key])
        out = await asyncio.wait_for(task, 5)
        assert flight._handover is not None and not flight._handover.answers
        return out, counting.calls, answered_before_commit

    out, wakes, early = asyncio.run(main())
    assert out == _result() and not early
    assert wakes == 1  # the commit's, none for the result
    assert not commits.waiting


def test_commits_of_a_batch_answer_every_operation_in_one_wake() -> None:
    commits = CommitWaiters()

    async def main() -> tuple[list[Any], int]:
        loop = asyncio.get_running_loop()
        flight, _, scope = _setup()
        counting = _Counting(loop)
        jobs = [_job(f"b{i}") for i in range(5)]
        tasks = [asyncio.ensure_future(flight.wait("lights", j, scope, None, commits)) for j in jobs]
        await asyncio.sleep(0.01)

        def worker() -> None:
            for i, j in enumerate(jobs):
                j.settle(_result(f"s{i}"))
            commits.committed([j.audit_key for j in jobs])

        await asyncio.to_thread(worker)
        got = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got, counting.calls

    got, wakes = asyncio.run(main())
    assert [g.states["status"] for g in got] == [f"s{i}" for i in range(5)]
    assert wakes == 1


def test_a_failure_is_answered_at_once_without_its_row() -> None:
    commits = CommitWaiters()

    async def main() -> None:
        flight, _, scope = _setup()
        job = _job("bad-1")
        task = asyncio.ensure_future(flight.wait("lights", job, scope, None, commits))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(job.settle, None, GtsdkError(ErrorCode.NO_MEDIA, "no card"))
        with pytest.raises(GtsdkError) as e:
            await asyncio.wait_for(task, 5)
        assert e.value.code == ErrorCode.NO_MEDIA.value
        commits.committed([job.audit_key])  # the row comes later: nobody waits for it any more
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert not commits.waiting


def test_a_row_committed_before_the_wait_answers_at_once() -> None:
    commits = CommitWaiters()

    async def main() -> Model:
        flight, _, scope = _setup()
        job = _job("early-1")
        job.settle(_result("early"))
        commits.committed([job.audit_key])
        return await asyncio.wait_for(flight.wait("lights", job, scope, None, commits), 5)

    assert asyncio.run(main()) == _result("early")
    assert not commits.waiting


def test_a_row_never_written_releases_the_answer_after_the_timeout(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """As documented (docs/service.md, Audit log): past the commit timeout the answer goes, with an error logged."""
    monkeypatch.setattr(inflight_mod, "COMMIT_CHECK", 0.05)
    commits = CommitWaiters()

    async def main() -> tuple[Model, float, float]:
        flight, _, scope = _setup()
        flight._handover = Handover(asyncio.get_running_loop(), commit_timeout=0.3)
        job = _job("lost-1")
        task = asyncio.ensure_future(flight.wait("lights", job, scope, None, commits))
        await asyncio.sleep(0.2)  # time before the result does not count
        settled = time.monotonic()
        await asyncio.to_thread(job.settle, _result())
        out = await asyncio.wait_for(task, 5)
        return out, time.monotonic() - settled, flight._handover.commit_timeout

    with caplog.at_level(logging.ERROR, logger="gtsdk.server"):
        out, waited, timeout = asyncio.run(main())
    assert out == _result()
    assert timeout <= waited < 4.0
    assert "lost-1 not committed within" in caplog.text
    assert not commits.waiting


def test_a_caller_that_leaves_cancels_its_job_and_leaves_no_waiter() -> None:
    commits = CommitWaiters()

    async def main() -> list[str]:
        flight, term, scope = _setup()
        job = _job("gone-1")
        task = asyncio.ensure_future(flight.wait("lights", job, scope, None, commits))
        await asyncio.sleep(0.01)
        assert job.audit_key in commits.waiting
        scope[DISCONNECTED].set_result(None)
        with pytest.raises(GtsdkError) as e:
            await asyncio.wait_for(task, 5)
        assert e.value.code == ErrorCode.CANCELED.value
        assert flight._handover is not None and not flight._handover.answers and len(flight) == 0
        return term.cancelled

    assert asyncio.run(main()) == ["gone-1"]
    assert not commits.waiting


def test_a_successful_result_after_the_commit_was_heard_still_reaches_the_caller() -> None:
    """Not expected (the runtime records an operation after settling it), but safe: the answer waits for it."""
    commits = CommitWaiters()

    async def main() -> Model:
        flight, _, scope = _setup()
        job = _job("odd-1")
        task = asyncio.ensure_future(flight.wait("lights", job, scope, None, commits))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(commits.committed, [job.audit_key])
        await asyncio.sleep(0.02)
        assert not task.done()
        threading.Thread(target=job.settle, args=(_result("late"),)).start()
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(main()) == _result("late")


def test_a_reused_request_id_waits_for_its_own_row() -> None:
    """A client may send the same X-Request-Id again (a retry after an error, answered without waiting for its row):
    the earlier row's commit must not answer the new operation before its own row is on disk."""
    commits = CommitWaiters()

    async def main() -> tuple[bool, Model]:
        flight, _, scope = _setup()
        first, second = _job("again-1"), _job("again-1")
        assert first.audit_key != second.audit_key
        first.settle(_result("first"))
        commits.committed([first.request_id, first.audit_key])  # the earlier operation's row, as the audit log says
        task = asyncio.ensure_future(flight.wait("lights", second, scope, None, commits))
        await asyncio.to_thread(second.settle, _result("second"))
        await asyncio.sleep(0.05)
        early = task.done()
        await asyncio.to_thread(commits.committed, [second.request_id, second.audit_key])
        return early, await asyncio.wait_for(task, 5)

    early, got = asyncio.run(main())
    assert not early and got == _result("second")
