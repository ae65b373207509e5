"""A job's outcome and its hand-over to the event loop: the first outcome stands, waiters are told once, finished
jobs reach the loop in batches."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest
from _runtime_fixtures import RecordingLights, register_all, wait_for

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import lights
from gtsdk.modules._base import OpContext
from gtsdk.runtime import Terminal, parse_config
from gtsdk.runtime.device import Job
from gtsdk.server.inflight import Handover

register_all()


def _job(rid: str = "r1") -> Job:
    return Job("on", lights.LightRequest(light="status"), OpContext(rid, 5.0, lambda *_: None))


def _result(state: str = "on") -> lights.Lights:
    return lights.Lights(states={"status": state})


def test_the_first_outcome_stands_and_waiters_hear_it_once() -> None:
    job = _job()
    heard: list[Any] = []
    job.add_done_callback(lambda j: heard.append(j.error))
    assert job.settle(error=GtsdkError(ErrorCode.TIME_OUT, "late"))
    assert not job.settle(_result())  # the driver's answer after the deadline changes nothing
    assert heard == [job.error] and job.error is not None and job.error.code == ErrorCode.TIME_OUT.value
    with pytest.raises(GtsdkError) as e:
        job.outcome()
    assert e.value.code == ErrorCode.TIME_OUT.value
    # a Future asked for after the outcome carries it
    with pytest.raises(GtsdkError):
        job.future.result(timeout=0)


def test_a_callback_added_after_the_outcome_runs_at_once_and_a_failing_one_spares_the_others() -> None:
    job = _job()
    heard: list[str] = []

    def bad(j: Job) -> None:
        raise ValueError("listener bug")

    job.add_done_callback(bad)
    job.add_done_callback(lambda j: heard.append("second"))
    fut = job.future
    assert job.settle(_result())
    assert heard == ["second"] and fut.result(timeout=0) == _result()
    job.add_done_callback(lambda j: heard.append("late"))
    assert heard == ["second", "late"]


def test_unfinished_job_has_no_outcome() -> None:
    job = _job()
    assert not job.finished and job.error is None
    with pytest.raises(GtsdkError) as e:
        job.outcome()
    assert e.value.code == ErrorCode.INVALID_STATE.value


def test_jobs_finished_together_reach_the_loop_in_one_callback() -> None:
    async def main() -> tuple[list[Any], int]:
        loop = asyncio.get_running_loop()
        handover = Handover(loop)
        scheduled = 0
        real = loop.call_soon_threadsafe

        def counting(cb: Any, *args: Any) -> Any:
            nonlocal scheduled
            scheduled += 1
            return real(cb, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        jobs = [_job(f"r{i}") for i in range(5)]
        waiters: list[asyncio.Future[Any]] = [loop.create_future() for _ in jobs]
        for job, w in zip(jobs, waiters, strict=True):
            job.add_done_callback(functools.partial(handover.post, waiter=w))

        def finish() -> None:  # on another thread, while the loop waits: one batch
            for i, job in enumerate(jobs):
                if i == 3:
                    job.settle(error=GtsdkError(ErrorCode.CANCELED, "canceled by request"))
                else:
                    job.settle(_result(f"s{i}"))

        th = threading.Thread(target=finish)
        th.start()
        th.join()
        got = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 5)
        return got, scheduled

    got, scheduled = asyncio.run(main())
    assert scheduled == 1
    assert [g.states["status"] if isinstance(g, lights.Lights) else g.code for g in got] == [
        "s0", "s1", "s2", ErrorCode.CANCELED.value, "s4"]


def test_statistics_snapshot_is_not_changed_by_later_operations() -> None:
    with Terminal(parse_config({"modules": {"lights": {"driver": "recording"}}})) as t:
        t.call("lights", "on", {"light": "a"}, timeout=5)
        before = t.device("lights").statistics()
        t.call("lights", "on", {"light": "b"}, timeout=5)
        after = t.device("lights").statistics()
        assert before.by_operation == {"on": 1} and after.by_operation == {"on": 2}


def test_cancelled_acall_cancels_the_device_job() -> None:
    async def main(t: Terminal) -> None:
        task = asyncio.create_task(t.acall("lights", "on", {"light": "slow"}, timeout=10, request_id="slow-1"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with Terminal(parse_config({"modules": {"lights": {"driver": "recording", "delay": 2.0}}})) as t:
        asyncio.run(main(t))
        # the job was stopped on the device (its sleep woken), not left to run its 2 s out
        assert wait_for(lambda: t.device("lights").statistics().by_error.get(ErrorCode.CANCELED.value) == 1,
                        timeout=1.5)
        drv = t.device("lights").driver
        assert isinstance(drv, RecordingLights) and drv.calls == ["start slow"]


def test_a_cancelled_job_is_not_found_again_while_its_driver_unwinds() -> None:
    with Terminal(parse_config({"modules": {"lights": {"driver": "recording"}}})) as t:
        drv = t.device("lights").driver
        assert isinstance(drv, RecordingLights)
        job = t.submit("lights", "on", {"light": "hang"}, timeout=10, request_id="stuck-1")
        assert wait_for(lambda: drv.calls == ["start hang"])
        try:
            assert t.cancel("lights", "stuck-1")
            assert job.error is not None and job.error.code == ErrorCode.CANCELED.value
            assert not t.cancel("lights", "stuck-1")  # answered already; the driver has not returned yet
        finally:
            drv.hang.set()
