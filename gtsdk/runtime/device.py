"""One device: its driver, its command queue and worker thread, its state.

Commands for one device run one at a time in submission order (XFS4IoT);
status, capabilities and statistics answer from cached state without queuing.
Every command has a deadline and can be cancelled; a driver that ignores both
is abandoned after a grace period and the device is reconnected on a fresh
worker, so one hung driver never blocks its module for good.
"""

from __future__ import annotations

import copy
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from gtsdk.driver import (
    Capabilities,
    DeviceInfo,
    DeviceState,
    Driver,
    Empty,
    HealthLevel,
    HealthRequest,
    HealthResult,
    Model,
    ModuleSpec,
    OpContext,
    OperationInfo,
    Request,
    Statistics,
    Status,
)
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.facade import check_timeout
from gtsdk.failures import carrying_on, swallowed
from gtsdk.runtime.config import ModuleConfig
from gtsdk.runtime.events import EventBus
from gtsdk.runtime.scheduler import Scheduler, Timer

log = logging.getLogger("gtsdk.runtime")

#: a hung driver is abandoned this long after its deadline
HANG_GRACE = 2.0
_HEALTH = "health"
_CONNECT_ERRORS = {ErrorCode.NO_DEVICE.value, ErrorCode.COMMUNICATION_ERROR.value}
#: the business transaction (办件) operations submitted in this context belong to (gtsdk.records; the service
#: sets it from the X-Transaction-Id header); an explicit ``transaction_id`` to ``submit`` wins
CURRENT_TRANSACTION: ContextVar[str | None] = ContextVar("gtsdk_transaction", default=None)


def validation_error(e: ValidationError) -> GtsdkError:
    """The first problem of a pydantic error as ``invalidData`` naming the field (no input values)."""
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or None
    return GtsdkError(ErrorCode.INVALID_DATA, str(err.get("msg", "invalid")), field=loc)


def parse_request(model: type[Model], data: Any) -> Model:
    if isinstance(data, model):
        return data
    if data is None:
        data = {}
    if isinstance(data, Model):
        data = data.model_dump()
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e) from None


@dataclass
class OperationRecord:
    """What the runtime tells its completion listeners (audit, metrics)."""

    module: str
    operation: str
    request_id: str
    code: str
    #: seconds from the start of the operation (or of its wait in the queue) to its end
    duration: float
    caller: str | None
    time: datetime
    #: the result model on success (kept in memory only; the audit log derives a masked subject from it)
    result: Model | None = None
    #: the business transaction the operation was made in (gtsdk.records), if any
    transaction_id: str | None = None
    #: unique per operation in this process (a client may reuse a request id): what a wait for this
    #: operation's audit row is keyed by (:attr:`Job.audit_key`)
    audit_key: str = ""

    @property
    def duration_ms(self) -> float:
        """:attr:`duration` in milliseconds, as the audit log stores it."""
        return self.duration * 1000.0


#: guards every job's outcome and who waits for it (held for an instant; one lock for all jobs, none per job)
_OUTCOME = threading.Lock()
#: numbers jobs for their audit keys ("#<n>": a request id cannot contain "#"); next() on it is atomic in CPython
_JOB_SERIALS = itertools.count(1)


class Job:
    """One submitted operation and, once it has one, its outcome: a result or a catalogue error.

    The first outcome stands (the driver's answer, the deadline or a cancel).  Who waits says so with
    :meth:`add_done_callback` (called on the thread that settles the job), or takes :attr:`future`, a
    ``concurrent.futures.Future`` made on first use: most jobs are waited for by one callback, and a Future
    costs a Condition and its locks."""

    __slots__ = ("_callbacks", "_error", "_future", "_result", "audit_key", "caller", "ctx", "expiry", "finished", "op",
                 "request", "started", "transaction_id")

    def __init__(self, op: str, request: Model, ctx: OpContext, caller: str | None = None,
                 transaction_id: str | None = None) -> None:
        self.op, self.request, self.ctx, self.caller, self.transaction_id = op, request, ctx, caller, transaction_id
        #: this job's key among audit rows (OperationRecord.audit_key): unique even where request ids repeat
        self.audit_key = f"#{next(_JOB_SERIALS)}"
        self.started: float | None = None
        #: the timer that fails the job at its deadline (cancelled when the job ends first)
        self.expiry: Timer | None = None
        #: the job has its outcome
        self.finished = False
        self._result: Model | None = None
        self._error: GtsdkError | None = None
        self._future: Future[Model] | None = None
        self._callbacks: list[Callable[[Job], None]] | None = None

    @property
    def request_id(self) -> str:
        return self.ctx.request_id

    @property
    def future(self) -> Future[Model]:
        """The outcome as a ``concurrent.futures.Future`` (``job.future.result(timeout)``)."""
        with _OUTCOME:
            f = self._future
            if f is None:
                f = self._future = Future()
                if self.finished:
                    _resolve(f, self._result, self._error)
        return f

    @property
    def error(self) -> GtsdkError | None:
        """The catalogue error the job ended with (None while it runs, and on success)."""
        return self._error

    def outcome(self) -> Model:
        """The result of a finished job, or its error raised."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise GtsdkError(ErrorCode.INVALID_STATE, "the operation has not finished")
        return self._result

    def add_done_callback(self, fn: Callable[[Job], None]) -> None:
        """Call ``fn(job)`` once the job has its outcome: now if it has one, else on the thread that settles it
        (keep it short: that is usually the device's worker)."""
        with _OUTCOME:
            if not self.finished:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        fn(self)

    def settle(self, result: Model | None = None, error: GtsdkError | None = None) -> bool:
        """Give the job its outcome; False (and no change) when it already has one."""
        with _OUTCOME:
            if self.finished:
                return False
            self.finished = True
            self._result, self._error = result, error
            future, callbacks = self._future, self._callbacks
            self._callbacks = None
        if future is not None:
            _resolve(future, result, error)
        if callbacks is not None:
            for fn in callbacks:
                try:
                    fn(self)
                except Exception as e:  # noqa: BLE001 - a waiter's callback must not take the worker down
                    swallowed(self.op, "a job's done callback", e, logger=log)
        return True


def _resolve(f: Future[Model], result: Model | None, error: GtsdkError | None) -> None:
    try:
        if error is not None:
            f.set_exception(error)
        elif result is not None:
            f.set_result(result)
    except InvalidStateError:  # its holder cancelled the future: the job's own outcome stands
        pass


class _Counts:
    """UnifiedPOS-style counters of one device, as plain numbers (a pydantic model is slow to update)."""

    __slots__ = ("by_error", "by_operation", "failures", "last_error", "operations", "since", "total_ms")

    def __init__(self) -> None:
        self.operations = self.failures = 0
        self.by_operation: dict[str, int] = {}
        self.by_error: dict[str, int] = {}
        self.total_ms = 0.0
        self.last_error: str | None = None
        self.since = datetime.now(UTC)

    def add(self, op: str, code: str, seconds: float) -> None:
        self.operations += 1
        self.by_operation[op] = self.by_operation.get(op, 0) + 1
        self.total_ms += seconds * 1000.0
        if code != ErrorCode.SUCCESS.value:
            self.failures += 1
            self.by_error[code] = self.by_error.get(code, 0) + 1
            self.last_error = code

    def statistics(self, module: str) -> Statistics:
        """A snapshot (the dicts copied: the counters go on)."""
        return Statistics(module=module, operations=self.operations, failures=self.failures,
                          by_operation=dict(self.by_operation), by_error=dict(self.by_error), total_ms=self.total_ms,
                          last_error=self.last_error, since=self.since)


#: what a status is made of besides the driver's detail: state, opened, busy, reason, last error, since
_StatusKey = tuple[DeviceState, bool, bool, str, str | None, datetime]


def _same_json(a: Any, b: Any) -> bool:
    """*a* and *b* serialise to the same JSON: equal, of the same types (``1 == True == 1.0`` is not enough) and
    with dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class Device:
    def __init__(
        self,
        spec: ModuleSpec,
        config: ModuleConfig | None,
        driver_class: type[Driver] | None,
        bus: EventBus,
        scheduler: Scheduler,
        on_complete: Callable[[OperationRecord], None] | None = None,
        disabled_reason: str | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.bus = bus
        self._scheduler = scheduler
        self._on_complete = on_complete
        self.disabled_reason = disabled_reason
        self.driver: Driver | None = None
        self._lock = threading.RLock()
        # a C-level queue: one semaphore per hand-over instead of a Condition and a fresh lock per wait
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._queued: dict[str, Job] = {}
        self._running: Job | None = None
        self._generation = itertools.count()
        self._worker_gen = -1
        self._stopping = False
        self.connected = False
        self.opened = False
        self.state = DeviceState.NO_DEVICE if disabled_reason else DeviceState.STARTING
        self.reason = disabled_reason or ""
        self.since = datetime.now(UTC)
        #: the driver itself reported the fault the device is in (a jammed printer, an open cover): an operation
        #: that succeeds meanwhile (a job status query) says nothing about it, so only the driver clears it
        self._driver_fault = False
        self._info = DeviceInfo()
        self._counts = _Counts()
        self._last_error: str | None = None
        #: the last status as wire JSON, with what it was made from (status_json)
        self._status_json: tuple[_StatusKey, dict[str, Any], bytes] | None = None
        if driver_class is not None and config is not None and disabled_reason is None:
            try:
                settings = driver_class.settings_model.model_validate(config.settings)
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(p) for p in err.get("loc", ()))
                raise ConfigError(f"modules.{spec.id}.{loc}" if loc else f"modules.{spec.id}", err["msg"]) from None
            self.driver = driver_class(settings, emit=self._emit, set_state=self._driver_state)
            self._info = DeviceInfo(driver=driver_class.name or config.driver, driver_version=driver_class.version)

    # ---- state and events -------------------------------------------------
    @property
    def module(self) -> str:
        return self.spec.id

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        self.bus.publish(self.spec.id, event, data)

    def _set_state(self, state: DeviceState, reason: str = "") -> None:
        with self._lock:
            if state == self.state and reason == self.reason:
                return
            previous = self.state
            self.state, self.reason, self.since = state, reason, datetime.now(UTC)
        if state != previous:
            self.bus.publish(self.spec.id, "statusChanged", {"state": state.value, "previous": previous.value,
                                                             "reason": reason})

    def _driver_state(self, state: DeviceState, reason: str = "") -> None:
        """The driver's own state sink (see ``_driver_fault``)."""
        with self._lock:
            self._driver_fault = state in (DeviceState.HARDWARE_ERROR, DeviceState.OFFLINE)
        self._set_state(state, reason)

    def _detail(self) -> dict[str, Any]:
        if self.driver is None:
            return {}
        try:  # status answers whatever the driver does (a plain try: this is the service's busiest query)
            return self.driver.status_detail()
        except Exception as e:  # noqa: BLE001 - logged by type and place, answered without the detail
            swallowed(self.spec.id, "status_detail", e, logger=log)
            return {}

    def _status_key(self) -> _StatusKey:
        with self._lock:
            return self.state, self.opened, self._running is not None, self.reason, self._last_error, self.since

    def _status_of(self, key: _StatusKey, detail: dict[str, Any]) -> Status:
        state, opened, busy, reason, last_error, since = key
        return Status(module=self.spec.id, state=state, opened=opened, busy=busy, reason=reason, detail=detail,
                      last_error=last_error, since=since)

    def status(self) -> Status:
        detail = self._detail()
        return self._status_of(self._status_key(), detail)

    def status_json(self) -> bytes:
        """:meth:`status` as wire JSON (camelCase, no nulls: ``model_dump_json(by_alias=True, exclude_none=True)``),
        made again only when something in it changed — the service's busiest query answers from these bytes
        without building and serialising a model each time."""
        detail = self._detail()
        key = self._status_key()
        last = self._status_json
        if last is not None and last[0] == key and _same_json(last[1], detail):
            return last[2]
        data = self._status_of(key, detail).model_dump_json(by_alias=True, exclude_none=True).encode()
        try:  # a copy: a driver may hand out its own dict and change it in place later
            kept = copy.deepcopy(detail)
        except Exception:  # noqa: BLE001 - a value that cannot be copied: answered, not kept
            self._status_json = None
            return data
        self._status_json = (key, kept, data)
        return data

    def capabilities(self) -> Capabilities:
        features: dict[str, Any] = {}
        if self.driver is not None:
            with carrying_on(self.spec.id, "features", logger=log):
                features = self.driver.features()
        # an optional operation (the contract's method has a default) is listed only if the driver implements it
        drv_cls, base = type(self.driver) if self.driver is not None else None, self.spec.driver_class
        abstract: frozenset[str] = getattr(base, "__abstractmethods__", frozenset())
        ops = [OperationInfo(name=o.name, version=o.version, clause=self.spec.clause) for o in
               self.spec.operations.values()
               if drv_cls is None or o.name in abstract or getattr(base, o.name, None) is None
               or getattr(drv_cls, o.name, None) is not getattr(base, o.name)]
        ops.append(OperationInfo(name=_HEALTH, version="1.0"))
        return Capabilities(module=self.spec.id, clause=self.spec.clause, operations=ops, device=self._info,
                            features=features)

    def statistics(self) -> Statistics:
        with self._lock:
            return self._counts.statistics(self.spec.id)

    def reset_statistics(self) -> None:
        with self._lock:
            self._counts = _Counts()

    # ---- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        if self.driver is None:
            return
        self._spawn_worker()
        if self.config is not None and self.config.enabled and (self.config.auto_open or self.spec.open_op is None):
            # opened is the application's intent: a device absent at start is reconnected, and its
            # operations answer noDevice (not notOpen) until it comes back
            self.opened = self.spec.open_op is not None
            self._queue.put(self._internal("__connect__"))

    def stop(self) -> None:
        self._stopping = True
        with self._lock:
            pending = list(self._queued.values())
            self._queued.clear()
        for job in pending:
            job.ctx.cancel()
            job.settle(error=GtsdkError(ErrorCode.CANCELED, "terminal stopping"))
        if self._running is not None:
            self._running.ctx.cancel()
        self._queue.put(None)
        t = getattr(self, "_thread", None)
        if t is not None:
            t.join(timeout=3)
        if self.driver is not None:
            # must not raise, by contract; stopping goes on
            with carrying_on(self.spec.id, "disconnect", logger=log):
                self.driver.disconnect()
        self.connected = False

    def _spawn_worker(self) -> None:
        gen = next(self._generation)
        self._worker_gen = gen
        self._thread = threading.Thread(target=self._work, args=(gen,), name=f"gtsdk-{self.spec.id}-{gen}",
                                        daemon=True)
        self._thread.start()

    def _internal(self, op: str) -> Job:
        return Job(op=op, request=Request(timeout=None), ctx=OpContext(f"internal-{op}", 30.0, self._emit))

    # ---- submitting ----------------------------------------------------------
    def submit(self, op: str, request: Any = None, *, timeout: float | None = None, request_id: str | None = None,
               caller: str | None = None, transaction_id: str | None = None) -> Job:
        if self.disabled_reason is not None or self.driver is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, self.disabled_reason or "module not configured")
        if self._stopping:
            raise GtsdkError(ErrorCode.NO_DEVICE, "terminal stopping")
        if op == _HEALTH:
            req: Model = parse_request(HealthRequest, request)
            default_timeout = 30.0
        else:
            ospec = self.spec.operation(op)
            req = parse_request(ospec.request, request)
            default_timeout = ospec.default_timeout
        check_timeout(timeout)
        t_ms = getattr(req, "timeout", None)
        if timeout is None:
            timeout = (t_ms / 1000.0) if t_ms else (self.config.timeout if self.config and self.config.timeout
                                                    else default_timeout)
        rid = request_id or uuid.uuid4().hex
        job = Job(op, req, OpContext(rid, timeout, self._emit), caller,
                  transaction_id or CURRENT_TRANSACTION.get())
        with self._lock:
            if rid in self._queued or (self._running is not None and self._running.request_id == rid):
                raise GtsdkError(ErrorCode.INVALID_DATA, "duplicate request id", field="requestId")
            self._queued[rid] = job
        job.expiry = self._scheduler.at(job.ctx.deadline, partial(self._expire, job))
        self._queue.put(job)
        return job

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            job = self._queued.pop(request_id, None)
            running = self._running
            # a job that already has its outcome (cancelled, timed out) is not cancelled again, though its driver
            # may still be unwinding: the caller was answered, the id is free
            if running is None or running.request_id != request_id or running.finished:
                running = None
        target = job or running
        if target is None:
            return False
        target.ctx.cancel(ErrorCode.CANCELED)
        target.settle(error=GtsdkError(ErrorCode.CANCELED, "canceled by request"))
        if running is not None:
            self._scheduler.at(time.monotonic() + HANG_GRACE, lambda: self._check_hung(running))
        return True

    def _expire(self, job: Job) -> None:
        if job.finished:
            return
        job.ctx.cancel(ErrorCode.TIME_OUT)
        with self._lock:
            self._queued.pop(job.request_id, None)
        limit = job.ctx.deadline - job.ctx.started
        job.settle(error=GtsdkError(ErrorCode.TIME_OUT, f"no result within {limit:.3g} s"))
        self._scheduler.at(time.monotonic() + HANG_GRACE, lambda: self._check_hung(job))

    def _check_hung(self, job: Job) -> None:
        with self._lock:
            if self._running is not job:
                return
            self._running = None
        log.warning("%s: driver did not return from %s; abandoning worker and reconnecting", self.spec.id, job.op)
        self._set_state(DeviceState.HARDWARE_ERROR, f"driver did not return from {job.op}")
        self.connected = False
        self._spawn_worker()
        self._queue.put(self._internal("__reconnect__"))

    # ---- the worker -------------------------------------------------------
    def _idle_wait(self) -> float | None:
        drv = self.driver
        if drv is None or self.config is None or not self.config.enabled:
            return None
        if not self.connected and (self.opened or self.spec.open_op is None):
            return self.config.reconnect_interval
        if self.connected and drv.poll_interval:
            return drv.poll_interval
        return None

    def _work(self, gen: int) -> None:
        while not self._stopping and gen == self._worker_gen:
            try:
                job = self._queue.get(timeout=self._idle_wait())
            except queue.Empty:
                self._idle(gen)
                continue
            if job is None or gen != self._worker_gen:
                if job is not None:  # belongs to the replacement worker
                    self._queue.put(job)
                return
            self._run(job, gen)

    def _idle(self, gen: int) -> None:
        drv = self.driver
        if drv is None:
            return
        ctx = OpContext("internal-poll", 10.0, self._emit)
        try:
            if not self.connected:
                self._connect()
            else:
                drv.poll(ctx)
        except GtsdkError as e:
            self._after_error(e)
        except Exception as e:  # noqa: BLE001 - logged, then handled as the device failing
            swallowed(self.spec.id, "poll", e, logger=log)
            self._after_error(GtsdkError(ErrorCode.HARDWARE_ERROR, type(e).__name__))

    def _connect(self) -> None:
        assert self.driver is not None
        with self._lock:
            self._driver_fault = False  # a fresh connection: the driver reports what it finds
        self.driver.connect()
        self.connected = True
        # the device works; only its description would be missing
        with carrying_on(self.spec.id, "device_info", logger=log):
            info = self.driver.device_info()
            self._info = info.model_copy(update={"driver": info.driver or self._info.driver,
                                                 "driver_version": info.driver_version or self._info.driver_version})
        if self.config is not None and (self.config.auto_open or self.opened):
            self.opened = True
        if not self._driver_fault:  # connected to a device that is in a fault it reported while connecting
            self._set_state(DeviceState.ONLINE, "")

    def _after_error(self, e: GtsdkError) -> None:
        if e.code in _CONNECT_ERRORS:
            if self.connected and self.driver is not None:
                with carrying_on(self.spec.id, "disconnect", logger=log):
                    self.driver.disconnect()
            self.connected = False
            self._set_state(DeviceState.NO_DEVICE if e.code == ErrorCode.NO_DEVICE else DeviceState.OFFLINE,
                            e.detail or e.code)
        elif e.code == ErrorCode.HARDWARE_ERROR:
            self._set_state(DeviceState.HARDWARE_ERROR, e.detail or e.code)
        elif e.code == ErrorCode.FRAUD_ATTEMPT:
            self._set_state(DeviceState.FRAUD_ATTEMPT, e.detail or e.code)

    def _run(self, job: Job, gen: int) -> None:
        with self._lock:
            self._queued.pop(job.request_id, None)
            expired = job.finished
            if not expired:
                self._running = job
        if expired:  # timed out or cancelled while queued: counted, never run
            if job.expiry is not None:
                self._scheduler.cancel(job.expiry)
            if not job.op.startswith("__"):
                self._record(job, job.error.code if job.error is not None else ErrorCode.CANCELED.value)
            return
        job.started = time.monotonic()
        result: Model | None = None
        try:
            job.ctx.check()
            result = self._dispatch(job)
            recovered = not self._driver_fault and self.state in (
                DeviceState.HARDWARE_ERROR, DeviceState.OFFLINE, DeviceState.NO_DEVICE, DeviceState.STARTING)
            if gen == self._worker_gen and recovered and self.connected:
                self._set_state(DeviceState.ONLINE, "")
            job.settle(result)
        except GtsdkError as e:
            if gen == self._worker_gen:
                self._after_error(e)
            job.settle(error=e)
        except Exception as e:  # noqa: BLE001 - logged by type, answered as internalError
            swallowed(self.spec.id, job.op, e, logger=log)
            job.settle(error=GtsdkError(ErrorCode.INTERNAL_ERROR, f"driver raised {type(e).__name__}"))
        finally:
            with self._lock:
                if self._running is job:
                    self._running = None
            if job.expiry is not None and job.finished:
                self._scheduler.cancel(job.expiry)
        if not job.op.startswith("__"):
            # the outcome that stands: the driver's, or the deadline's or a cancel's that came first
            err = job.error
            self._record(job, err.code if err is not None else ErrorCode.SUCCESS.value,
                         result if err is None else None)

    def _record(self, job: Job, code: str, result: Model | None = None) -> None:
        seconds = time.monotonic() - (job.started or job.ctx.started)
        with self._lock:
            self._counts.add(job.op, code, seconds)
            if code != ErrorCode.SUCCESS.value:
                self._last_error = code
        if self._on_complete is not None:
            try:  # audit and metrics listeners must not fail the operation
                self._on_complete(OperationRecord(self.spec.id, job.op, job.request_id, code, seconds, job.caller,
                                                  datetime.now(UTC), result, job.transaction_id, job.audit_key))
            except Exception as e:  # noqa: BLE001 - logged by type and place; the operation stands
                swallowed(self.spec.id, "a completion listener", e, logger=log)

    def _dispatch(self, job: Job) -> Model:
        drv = self.driver
        assert drv is not None
        op, spec = job.op, self.spec
        if op in ("__connect__", "__reconnect__"):
            if op == "__reconnect__":
                with carrying_on(self.spec.id, "disconnect", logger=log):
                    drv.disconnect()
            try:
                self._connect()
            except GtsdkError as e:
                self._after_error(e)
            return Empty()
        if op == _HEALTH:
            if not self.connected:
                self._connect()
            level = getattr(job.request, "level", HealthLevel.INTERNAL)
            result: HealthResult = drv.health(level, job.ctx)
            return result
        if op == spec.open_op:
            if not self.connected:
                self._connect()
            self.opened = True
            method = getattr(drv, op, None)
            return self._call(method, job) if method is not None else Empty()
        if op == spec.close_op:
            method = getattr(drv, op, None)
            out: Model = Empty()
            if method is not None and self.connected:
                out = self._call(method, job)
            drv.disconnect()
            self.connected = False
            self.opened = False
            self._set_state(DeviceState.OFFLINE, "closed by application")
            return out
        ospec = spec.operation(op)
        if spec.open_op is not None and ospec.needs_open and not self.opened:
            raise GtsdkError(ErrorCode.NOT_OPEN, f"call {spec.open_op} first")
        if not self.connected:
            self._connect()
        return self._call(getattr(drv, op), job)

    def _call(self, method: Any, job: Job) -> Model:
        result = method(job.request, job.ctx)
        if not isinstance(result, Model):
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"driver returned {type(result).__name__}, not a model")
        return result
