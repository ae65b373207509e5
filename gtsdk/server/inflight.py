"""Device operations the service is waiting for: bounded per module, cancelled when their caller leaves or the
service shuts down.

The runtime runs each module's operations one at a time on the module's worker thread; a request of the
service waits for its job on the event loop without a thread of its own.  Finished jobs are handed to the loop
in batches (:class:`Handover`: one ``call_soon_threadsafe`` for every job that finished while the loop was busy,
not one per job).  With an audit log, a successful operation is answered when its audit row is committed: the
request waits for both with one :class:`_Answer`, which the row's commit releases on the loop — one wake-up per
operation for the result and the commit, not two (a failed operation is answered at once, as before; an answer
whose row is not committed ``COMMIT_TIMEOUT`` seconds after its result is sent anyway and an error logged).  The
caller going away (the connection closes) cancels the job on the device.  At shutdown
every job still running after ``[service] shutdown_grace`` seconds is cancelled, so a 600 s read cannot hold a
SIGTERM for ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import MutableMapping
from functools import partial
from typing import Any

from gtsdk.commits import CommitWaiters, LoopWaiter
from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.runtime import Terminal
from gtsdk.runtime.device import Job

log = logging.getLogger("gtsdk.server")
#: the scope key under which a connection publishes a future that is done when the client has gone
DISCONNECTED = "gtsdk.disconnected"
#: seconds an answer waits for its audit row after the result; then it is sent anyway (docs/service.md, Audit log)
COMMIT_TIMEOUT = 10.0
#: how often the answers still waiting for their row are held against COMMIT_TIMEOUT (one timer per loop)
COMMIT_CHECK = 0.5


def _deliver(job: Job, waiter: asyncio.Future[Model]) -> None:
    """On the loop: the job's outcome, as it is, to its request (its catalogue error included)."""
    if waiter.done():
        return
    err = job.error
    if err is None:
        waiter.set_result(job.outcome())
    else:
        waiter.set_exception(err)


class _Gone(Exception):
    """The caller closed its connection while its operation ran."""


class Handover:
    """Jobs finished on device workers, handed to the requests waiting on the event loop: one loop callback per
    batch of jobs that finished while the loop was busy."""

    def __init__(self, loop: asyncio.AbstractEventLoop, commit_timeout: float = COMMIT_TIMEOUT) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._ready: list[tuple[Job, asyncio.Future[Model]]] = []
        self.commit_timeout = commit_timeout
        #: answers waiting for their audit row (on the loop only), and the timer that holds them to the timeout
        self.answers: dict[_Answer, None] = {}
        self._check: asyncio.TimerHandle | None = None

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
            _deliver(job, waiter)

    def hold(self, answer: _Answer) -> None:
        """On the loop: *answer* waits for its row; the check runs while any answer does."""
        self.answers[answer] = None
        if self._check is None:
            self._check = self.loop.call_later(COMMIT_CHECK, self._overdue)

    def _overdue(self) -> None:
        """On the loop: answers whose row is still not committed ``commit_timeout`` after their result go now."""
        self._check = None
        now = time.monotonic()
        for a in list(self.answers):
            t = a.settled_at
            if t is not None and now - t >= self.commit_timeout and not a.done.done():
                log.error("audit row of request %s not committed within %.0f s", a.job.request_id,
                          self.commit_timeout)
                _deliver(a.job, a.done)
        if self.answers:
            self._check = self.loop.call_later(COMMIT_CHECK, self._overdue)


class _Answer(LoopWaiter):
    """A request waiting for its operation's result and that result's audit row.

    The device's worker only notes when a successful job settled (no wake-up); the row's commit, which always
    follows the outcome (the runtime records an operation after settling it), releases the answer on the loop.
    A failed job is handed over at once: errors are answered without waiting for their row."""

    __slots__ = ("done", "handover", "heard", "job", "settled_at")

    def __init__(self, job: Job, done: asyncio.Future[Model], handover: Handover) -> None:
        super().__init__(handover.loop)
        self.job, self.done, self.handover = job, done, handover
        self.settled_at: float | None = None
        self.heard = False

    def settled(self, job: Job) -> None:
        """On the thread that settles the job (its done callback)."""
        if job.error is not None:
            self.handover.post(job, self.done)
        else:
            self.settled_at = time.monotonic()

    def committed(self) -> None:
        """On the loop: the row is on disk."""
        self.heard = True
        if self.job.finished:
            _deliver(self.job, self.done)
        else:  # not expected (the row is made after the outcome): wait for the outcome then
            self.job.add_done_callback(partial(self.handover.post, waiter=self.done))


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

    async def wait(self, module: str, job: Job, scope: MutableMapping[str, Any], receive: Any,
                   commits: CommitWaiters | None = None) -> Model:
        """The job's result — with *commits* (the audit log's), only once the job's audit row is committed; the job
        is cancelled on the device if the caller goes away first."""
        loop = asyncio.get_running_loop()
        handover = self._handover
        if handover is None or handover.loop is not loop:
            handover = self._handover = Handover(loop)
        done: asyncio.Future[Model] = loop.create_future()
        answer: _Answer | None = None
        if commits is not None:
            answer = _Answer(job, done, handover)
            if commits.expect(job.audit_key, answer):
                handover.hold(answer)
                job.add_done_callback(answer.settled)
            else:  # its row is committed already, so the job has its outcome
                answer = None
                job.add_done_callback(partial(handover.post, waiter=done))
        else:
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
            if answer is not None and commits is not None:
                handover.answers.pop(answer, None)
                if not answer.heard:
                    commits.forget(job.audit_key, answer)
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

