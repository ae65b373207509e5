"""Device operations the service is waiting for: bounded per module, cancelled when their caller leaves or the
service shuts down.

The runtime runs each module's operations one at a time on the module's worker thread; a request of the
service waits for its job on the event loop without a thread of its own.  Finished jobs are handed to the loop
in batches (:class:`Handover`: one ``call_soon_threadsafe`` for every job that finished while the loop was busy,
not one per job); the caller going away (the connection closes) cancels the job on the device.  At shutdown
every job still running after ``[service] shutdown_grace`` seconds is cancelled, so a 600 s read cannot hold a
SIGTERM for ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import MutableMapping
from functools import partial
from typing import Any

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.runtime import Terminal
from gtsdk.runtime.device import Job

log = logging.getLogger("gtsdk.server")
#: the scope key under which a connection publishes a future that is done when the client has gone
DISCONNECTED = "gtsdk.disconnected"


class _Gone(Exception):
    """The caller closed its connection while its operation ran."""


class Handover:
    """Jobs finished on device workers, handed to the requests waiting on the event loop: one loop callback per
    batch of jobs that finished while the loop was busy."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._ready: list[tuple[Job, asyncio.Future[Model]]] = []

    def post(self, job: Job, waiter: asyncio.Future[Model]) -> None:
        """On the device's worker, as the job's done callback."""
        with self._lock:
            self._ready.append((job, waiter))
            first = len(self._ready) == 1
        if first:  # else a delivery is already scheduled and will take this job too
            try:
                self.loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _deliver(self) -> None:
        """On the loop: each job's outcome, as it is, to its request (its catalogue error included)."""
        with self._lock:
            ready, self._ready = self._ready, []
        for job, waiter in ready:
            if waiter.done():
                continue
            err = job.error
            if err is None:
                waiter.set_result(job.outcome())
            else:
                waiter.set_exception(err)


class InFlight:
    def __init__(self, terminal: Terminal, max_pending: int) -> None:
        self.terminal = terminal
        self.max_pending = max_pending
        self._jobs: dict[tuple[str, str], Job] = {}
        self._per_module: dict[str, int] = {}
        self._handover: Handover | None = None
        self.closing = False

    def __len__(self) -> int:
        return len(self._jobs)

    def submit(self, module: str, op: str, request: Any, request_id: str, caller: str | None) -> Job:
        if self.closing:
            raise GtsdkError(ErrorCode.NO_DEVICE, "service shutting down")
        n = self._per_module.get(module, 0)
        if n >= self.max_pending:
            raise GtsdkError(ErrorCode.DEVICE_BUSY, f"{n} operations of {module} already queued or running")
        job = self.terminal.submit(module, op, request, request_id=request_id, caller=caller)
        self._jobs[(module, request_id)] = job
        self._per_module[module] = n + 1
        return job

    async def wait(self, module: str, job: Job, scope: MutableMapping[str, Any], receive: Any) -> Model:
        """The job's result; the job is cancelled on the device if the caller goes away first."""
        loop = asyncio.get_running_loop()
        handover = self._handover
        if handover is None or handover.loop is not loop:
            handover = self._handover = Handover(loop)
        done: asyncio.Future[Model] = loop.create_future()
        job.add_done_callback(partial(handover.post, waiter=done))
        watch: asyncio.Future[Any] | None = scope.get(DISCONNECTED)
        task: asyncio.Task[Any] | None = None
        if watch is None:  # served by a plain uvicorn protocol: watch with a task reading the next message
            task = watch = loop.create_task(_until_disconnect(receive))

        def gone(_: asyncio.Future[Any]) -> None:
            if not done.done():
                done.set_exception(_Gone())

        watch.add_done_callback(gone)
        try:
            return await done
        except _Gone:
            raise GtsdkError(ErrorCode.CANCELED, "caller went away") from None
        finally:
            watch.remove_done_callback(gone)
            if task is not None:
                task.cancel()
            if not job.finished:  # the caller went away, or we are shutting down: stop its device work
                self.terminal.cancel(module, job.request_id)
            self._jobs.pop((module, job.request_id), None)
            left = self._per_module.get(module, 1) - 1
            if left:
                self._per_module[module] = left
            else:
                self._per_module.pop(module, None)

    def cancel_all(self) -> int:
        """Cancel every job still waited for (shutdown); returns how many."""
        jobs = list(self._jobs.items())
        for (module, rid), job in jobs:
            if not job.finished:
                self.terminal.cancel(module, rid)
        if jobs:
            log.warning("shutdown: cancelled %d operation(s) still running", len(jobs))
        return len(jobs)

    async def drain(self, grace: float) -> None:
        """At shutdown: refuse new operations, let running ones finish for *grace* seconds, cancel the rest."""
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._jobs and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.cancel_all()


async def _until_disconnect(receive: Any) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return

