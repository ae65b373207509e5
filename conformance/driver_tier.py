"""Driver tier: a driver plugin, in process, against its module contract (7.4.4).

Runs the driver inside the gtsdk runtime — against our simulator of the device
(``simulate=True``) or the vendor's real device (settings given, ``interactive``
for a person's part) — and checks lifecycle, every operation end to end, the open/close
state machine, error mapping, timeout and cancel, recovery after the device
vanishes, thread safety and statistics.

The operations clause 8.4 lists for the module are mandatory: each must complete
successfully with a result that validates and carries data before any tier is
reached.  A driver that raises anything but a catalogue error fails, and the
evidence shows the exception type and message (personal data masked).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError, info
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal, parse_config, registry

from . import pii, samples, scenarios
from .framework import Fail, NotApplicable, NotRun, Registry, clock, require, reset_clock, run
from .model import CheckResult, Report, Tier
from .scenarios import World

checks = Registry()
check = checks.check

#: 8.4 l) image processing and n) the soft keyboard are software functions: nothing to unplug
SOFTWARE = ("imaging", "keyboard")
#: seconds within which a vanished device must be noticed (an operation fails, the status leaves online)
OUTAGE_NOTICED = 5.0
NEEDS_WORLD = "--simulate (gtsdk's simulator of the device) or --interactive (a person at the device)"


@dataclass
class Crash:
    op: str
    type: str
    message: str
    traceback: str


@dataclass
class DriverContext:
    module: str
    driver: str
    settings: dict[str, Any]
    sim: simulation.Simulation | None = None
    terminal: Terminal | None = None
    interactive: bool = False
    ask: Callable[[str], bool] | None = None
    crashes: list[Crash] = field(default_factory=list)
    never_online: bool = False

    def make_terminal(self, **extra: Any) -> Terminal:
        mod = {"driver": self.driver, "reconnect_interval": 0.2, **self.settings, **extra}
        return Terminal(parse_config({"modules": {self.module: mod}}), strict=True)

    @property
    def t(self) -> Terminal:
        if self.terminal is None:
            from gtsdk.errors import ConfigError

            try:
                self.terminal = self.make_terminal()
            except ConfigError as e:
                raise Fail(f"the driver refuses its settings: {e.detail}{self.sim_hint()}") from None
            self._record_crashes()
            self.terminal.start()
        return self.terminal

    def sim_hint(self) -> str:
        if self.sim is None or self.sim.driver == self.driver:
            return ""
        return (f"; gtsdk's simulator of {self.module} is made for the {self.sim.driver!r} driver, "
                f"{self.driver!r} may not speak its protocol")

    def _record_crashes(self) -> None:
        """Wrap the driver's methods so an exception that is not a catalogue error is kept for the report
        (the runtime turns it into internalError and drops the text, which may carry personal data)."""
        assert self.terminal is not None
        drv = self.terminal.device(self.module).driver
        if drv is None:
            return
        for name in [*MODULES[self.module].operations, "connect", "disconnect"]:
            original = getattr(drv, name, None)
            if original is None:
                continue

            def wrapper(*a: Any, _orig: Any = original, _name: str = name, **kw: Any) -> Any:
                try:
                    return _orig(*a, **kw)
                except GtsdkError:
                    raise
                except Exception as e:
                    self.crashes.append(Crash(_name, type(e).__name__, pii.mask(str(e))[:300],
                                              pii.mask(traceback.format_exc(limit=3))[-1500:]))
                    raise

            setattr(drv, name, wrapper)

    def crash_for(self, op: str) -> Crash | None:
        return next((c for c in reversed(self.crashes) if c.op == op), None)

    def wait_online(self, timeout: float = 15.0) -> str:
        if self.never_online:  # lifecycle already waited in vain: later checks do not wait again
            timeout = min(timeout, 1.0)
        end = time.monotonic() + clock().cap(timeout, "the device came online")
        st = self.t.device(self.module).status()
        while time.monotonic() < end and st.state != "online":
            time.sleep(0.05)
            st = self.t.device(self.module).status()
        return st.state.value

    def call(self, op: str, body: dict[str, Any] | None = None, timeout: float = 15.0) -> tuple[str, Any]:
        """(code, result or error) — never raises for catalogue errors."""
        try:
            req = body if body is not None else samples.sample(self.module, op)
            return "success", self.t.call(self.module, op, req, timeout=clock().cap(timeout, f"{op}"))
        except GtsdkError as e:
            return e.code, e

    # ---- the world ---------------------------------------------------------------------------------
    def world(self, w: World) -> str:
        if self.sim is not None:
            act = samples.find_action(self.sim.actions(), w.actions)
            if act is not None:
                first = samples.find_action(self.sim.actions(), w.reset) if w.reset else None
                if first is not None:
                    self.sim.control(first, {})
                    clock().sleep(w.settle)
                self.sim.control(act, dict(w.params))
                return f"sim:{act}"
        if self.interactive and self.ask is not None:
            if not self.ask(w.question):
                raise Fail(f"operator answered no: {w.question}")
            return "operator"
        raise NotRun(f"needs the world to change: {w.question}", NEEDS_WORLD)

    def person(self, w: World, go: Callable[[], None]) -> None:
        if self.sim is not None and samples.find_action(self.sim.actions(), w.actions) is not None:
            scenarios.person_during(self.world)(w, go)
        elif self.interactive and self.ask is not None:
            if not self.ask(w.question):
                raise Fail(f"operator answered no: {w.question}")
            go()
        else:
            raise NotRun(f"needs a person: {w.question}", NEEDS_WORLD)


def _catalogued(code: str) -> bool:
    return info(code).code == code


@check("driver.load", "Driver loads through the gtsdk.drivers entry point and implements the contract",
       Tier.BRONZE, refs={"7.4.4": "重新部署"}, budget=20)
def load(ctx: DriverContext) -> dict[str, Any]:
    cls = registry.load(ctx.module, ctx.driver)
    base = MODULES[ctx.module].driver_class
    require(issubclass(cls, base), f"{cls.__name__} is not a {base.__name__}")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    require(not missing, f"abstract methods not implemented: {missing}")
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "version": cls.version}


@check("driver.settings", "Unknown settings are rejected naming the key", Tier.BRONZE,
       refs={"9.2.2 b": "参数过滤"}, budget=20)
def settings(ctx: DriverContext) -> dict[str, Any]:
    from gtsdk.errors import ConfigError

    try:
        ctx.make_terminal(no_such_setting_xyz=1).stop()
    except ConfigError as e:
        require("no_such_setting_xyz" in e.key, f"error does not name the key: {e.detail}")
        return {"error": e.detail}
    raise Fail("a misspelt setting was accepted silently")


@check("driver.lifecycle", "Device comes online; capabilities list every mandatory operation of 8.4 with versions",
       Tier.BRONZE, refs={"8.4": "接口功能"}, budget=30)
def lifecycle(ctx: DriverContext) -> dict[str, Any]:
    state = ctx.wait_online(10.0)
    ctx.never_online = state != "online"
    st = ctx.t.device(ctx.module).status()
    crash = ctx.crash_for("connect")
    require(state == "online", f"device did not come online: {state} ({st.reason})"
            + (f"; connect raised {crash.type}: {crash.message}" if crash else "") + ctx.sim_hint())
    caps = ctx.t.device(ctx.module).capabilities()
    listed = {o.name: o.version for o in caps.operations}
    missing = [op for op in scenarios.mandatory(ctx.module) if not listed.get(op)]
    require(not missing, f"capabilities miss operations {missing}")
    return {"status": st.wire(), "device": caps.device.wire()}


@check("driver.operations", "Every mandatory operation completes end to end with a result that validates and "
       "carries data; unsupportedCommand only for optional operations the capabilities do not list; never a crash",
       Tier.BRONZE, refs={"8.4": "应满足如下接口功能要求", "6.4.4 a": "返回结构"}, budget=150)
def operations(ctx: DriverContext) -> dict[str, Any]:
    ctx.wait_online()
    spec = MODULES[ctx.module]
    listed = {o.name for o in ctx.t.device(ctx.module).capabilities().operations}

    def call(op: str, body: dict[str, Any], timeout: float) -> scenarios.Called:
        t0 = time.monotonic()
        code, out = ctx.call(op, body, timeout)
        took = time.monotonic() - t0
        if code == "success":
            return scenarios.Called(code, out.model_dump(mode="json", by_alias=True), seconds=took,
                                    evidence={"result": type(out).__name__})
        detail = out.detail if isinstance(out, GtsdkError) else ""
        crash = ctx.crash_for(op)
        if code == ErrorCode.INTERNAL_ERROR and crash is not None:
            detail = f"the driver raised {crash.type}: {crash.message}"
            return scenarios.Called(code, None, detail, took, {"traceback": crash.traceback})
        return scenarios.Called(code, None, detail, took)

    def check_result(op: str, data: Any) -> str | None:
        model = spec.operations[op].result if op in spec.operations else None
        if model is None:
            return None
        try:
            model.model_validate(data, by_alias=True)
        except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
            return f"the result does not validate against {model.__name__}: {str(e)[:200]}"
        return None

    verdicts = scenarios.run(ctx.module, call, ctx.world, listed=listed, validate=check_result,
                             interactive=ctx.interactive, person=ctx.person)
    out = {v.op: v.summary() for v in verdicts}
    bad = [f"{v.op}: {v.problem}" for v in verdicts if v.problem]
    require(not bad, "; ".join(bad), operations=out, clause=spec.clause)
    waiting = [v for v in verdicts if v.needs]
    if waiting:
        raise NotRun("; ".join(f"{v.op} needs the world to change" for v in waiting), waiting[0].needs,
                     operations=out)
    return {"clause": spec.clause, "operations": out}


@check("driver.invalid_request", "Illegal parameters and missing data give invalidData naming the field",
       Tier.BRONZE, refs={"6.4.4 c": "非法参数、数据缺失"}, budget=30)
def invalid_request(ctx: DriverContext) -> dict[str, Any]:
    spec = MODULES[ctx.module]
    seen = {}
    for op, ospec in spec.operations.items():
        code, err = ctx.call(op, {**samples.sample(ctx.module, op), "noSuchField": 1}, timeout=2)
        require(code == ErrorCode.INVALID_DATA, f"{op} accepted an unknown field (code {code})")
        require(isinstance(err, GtsdkError) and err.field == "noSuchField", f"{op}: error does not name the field")
        seen[op] = code
        required = ospec.request.model_json_schema(by_alias=True).get("required", [])
        if required:
            code, err = ctx.call(op, {}, timeout=2)
            require(code == ErrorCode.INVALID_DATA and isinstance(err, GtsdkError) and err.field in required,
                    f"{op} without its required fields gave {code}")
            seen[f"{op}(missing)"] = code
    code, _ = ctx.call("no_such_operation", {}, timeout=2)
    require(code == ErrorCode.INVALID_COMMAND, f"unknown operation gave {code}, not invalidCommand")
    return {"codes": seen}


def _idle(ctx: DriverContext) -> None:
    dev = ctx.t.device(ctx.module)
    end = time.monotonic() + clock().cap(10)
    while dev.status().busy and time.monotonic() < end:  # earlier checks' operations finish (and count) first
        time.sleep(0.05)
    time.sleep(0.2)


def _settled(ctx: DriverContext, want: int, within: float = 5.0) -> Any:
    """The statistics once *want* operations are counted (an operation that timed out while queued is
    counted when the worker reaches it), or as they are after *within* seconds."""
    dev = ctx.t.device(ctx.module)
    end = time.monotonic() + clock().cap(within)
    s = dev.statistics()
    while s.operations < want and time.monotonic() < end:
        time.sleep(0.05)
        s = dev.statistics()
    return s


def _plain_op(module: str) -> tuple[str, float]:
    """An operation to repeat (not open/close), with a short timeout when it waits for a person."""
    spec = MODULES[module]
    waiting = samples.WAITING.get(module, ("", ()))[0]
    op = next(o for o in spec.operations if o not in (spec.open_op, spec.close_op))
    return op, (0.3 if op == waiting else 20.0)


@check("driver.statistics", "Statistics count operations and failures", Tier.SILVER,
       refs={"10.1.2.3 b": "功能使用量和故障情况"}, budget=30)
def statistics(ctx: DriverContext) -> dict[str, Any]:
    dev = ctx.t.device(ctx.module)
    _idle(ctx)
    dev.reset_statistics()
    op, timeout = _plain_op(ctx.module)
    ctx.call(op, {"noSuchField": 1})  # rejected before the queue: not a device operation
    codes = [ctx.call(op, timeout=timeout)[0] for _ in range(2)]
    s = _settled(ctx, 2)
    failed = sum(1 for c in codes if c != "success")
    require(s.operations == 2, f"expected 2 counted operations, got {s.operations}")
    require(s.failures == failed, f"expected {failed} failures, got {s.failures}")
    return {"statistics": s.wire(), "codes": codes}


@check("driver.state_machine", "close → notOpen → open → usable", Tier.SILVER,
       refs={"8.4 a": "打开设备、关闭设备"}, budget=30)
def state_machine(ctx: DriverContext) -> dict[str, Any]:
    spec = MODULES[ctx.module]
    if spec.close_op is None or spec.open_op is None:
        raise NotApplicable(f"{ctx.module} has no open/close operations in its contract")
    ctx.wait_online()
    code, _ = ctx.call(spec.close_op, {})
    require(code == "success", f"{spec.close_op} failed: {code}")
    st = ctx.t.device(ctx.module).status()
    require(not st.opened, "status still says opened after close")
    probe = next(op for op, o in spec.operations.items() if o.needs_open and op not in (spec.open_op, spec.close_op))
    code, _ = ctx.call(probe, timeout=2)
    require(code == ErrorCode.NOT_OPEN, f"{probe} after close gave {code}, not notOpen")
    code, _ = ctx.call(spec.open_op, samples.sample(ctx.module, spec.open_op))
    require(code == "success", f"{spec.open_op} failed after close: {code}")
    require(ctx.wait_online() == "online", "device not online after reopening")
    return {"probe": probe}


def _take_medium_away(ctx: DriverContext) -> None:
    entry = samples.WAITING.get(ctx.module)
    if ctx.sim is not None and entry is not None:
        act = samples.find_action(ctx.sim.actions(), entry[1])
        if act:
            ctx.sim.control(act, {})


def _waiting(ctx: DriverContext) -> str:
    entry = samples.WAITING.get(ctx.module)
    if entry is None:
        raise NotApplicable(f"{ctx.module} has no operation that waits for a person (clause 8.4)")
    return entry[0]


@check("driver.timeout", "An operation waiting for a person ends with timeOut at its deadline; device usable after",
       Tier.SILVER, refs={"6.4.4 c": "接口超时"}, budget=20)
def timeout(ctx: DriverContext) -> dict[str, Any]:
    op = _waiting(ctx)
    ctx.wait_online()
    _take_medium_away(ctx)
    t0 = time.monotonic()
    code, _ = ctx.call(op, timeout=0.3)
    took = time.monotonic() - t0
    require(code == ErrorCode.TIME_OUT, f"{op} with no medium gave {code}, not timeOut")
    require(took < 2.3, f"timeOut came {took:.2f} s after a 0.3 s deadline")
    require(ctx.wait_online(5) == "online", "device not online after the timeout")
    return {"elapsed_s": round(took, 3)}


@check("driver.cancel", "A waiting operation can be cancelled by request id", Tier.SILVER,
       refs={"6.4.4 c": "容错机制"}, budget=20)
def cancel(ctx: DriverContext) -> dict[str, Any]:
    op = _waiting(ctx)
    ctx.wait_online()
    _take_medium_away(ctx)
    job = ctx.t.submit(ctx.module, op, samples.sample(ctx.module, op), timeout=10, request_id="cx-1")
    time.sleep(0.2)
    t0 = time.monotonic()
    require(ctx.t.cancel(ctx.module, "cx-1"), "cancel found no such request")
    try:
        job.future.result(timeout=clock().cap(3))
        raise Fail("operation completed although cancelled")
    except GtsdkError as e:
        require(e.code == ErrorCode.CANCELED, f"cancelled operation ended with {e.code}")
    except TimeoutError:
        raise Fail("the cancelled operation did not end within 3 s") from None
    require(ctx.wait_online(5) == "online", "device not online after cancel")
    return {"cancel_latency_ms": round((time.monotonic() - t0) * 1000, 1)}


@check("driver.recovery", "Device vanishes → a catalogue code and a status that says so; it returns → recovers "
       "by itself", Tier.SILVER, refs={"6.4.4 c": "网络中断", "10.2.2 d": "实时采集终端状态"}, budget=45)
def recovery(ctx: DriverContext) -> dict[str, Any]:
    if ctx.module in SOFTWARE:
        raise NotApplicable(f"{ctx.module} is a software function (8.4 l, 8.4 n): no device to unplug")
    unplug = World(samples.UNPLUG, f"Unplug the {ctx.module} device, then confirm")
    replug = World(samples.REPLUG, f"Plug the {ctx.module} device back in, then confirm")
    if ctx.sim is not None:
        acts = ctx.sim.actions()
        able = samples.find_action(acts, samples.UNPLUG) and samples.find_action(acts, samples.REPLUG)
        if not able and not ctx.interactive:
            raise NotRun(f"the simulator has no unplug/replug actions ({sorted(acts)})", "--interactive")
    elif not ctx.interactive:
        raise NotRun("needs the device to vanish and come back", NEEDS_WORLD)
    ctx.wait_online()
    ctx.world(unplug)
    spec = MODULES[ctx.module]
    op = next(o for o in spec.operations if o not in (spec.open_op, spec.close_op))
    codes = []
    end = time.monotonic() + clock().cap(OUTAGE_NOTICED)
    while True:  # a device may accept one more request before it notices (a prompt queued behind another)
        code, _ = ctx.call(op, timeout=3)
        codes.append(code)
        if code != "success" or time.monotonic() >= end:
            break
        time.sleep(0.2)
    require(code != "success", f"{op} kept succeeding on an unplugged device ({len(codes)} calls in "
            f"{OUTAGE_NOTICED:g} s)")
    require(code != ErrorCode.INTERNAL_ERROR and _catalogued(code), f"{op} on an unplugged device gave {code}")
    state = ctx.t.device(ctx.module).status().state.value
    while state == "online" and time.monotonic() < end:
        time.sleep(0.05)
        state = ctx.t.device(ctx.module).status().state.value
    require(state != "online", f"status still online {OUTAGE_NOTICED:g} s after the device vanished")
    ctx.world(replug)
    back = ctx.wait_online(20)
    require(back == "online", f"device did not recover after replug (state {back})")
    return {"codes_while_unplugged": codes, "state_while_unplugged": state}


@check("driver.concurrency", "Concurrent callers: every call completes with a result or catalogue code; counted once",
       Tier.GOLD, refs={"6.4.4 b": "数据流转完整性"}, budget=60)
def concurrency(ctx: DriverContext) -> dict[str, Any]:
    ctx.wait_online()
    _idle(ctx)
    op, timeout_s = _plain_op(ctx.module)
    dev = ctx.t.device(ctx.module)
    dev.reset_statistics()
    codes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            code, _ = ctx.call(op, timeout=timeout_s)
            dev.status()
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(clock().cap(50))
    require(len(codes) == 20, f"only {len(codes)} of 20 calls completed")
    bad = [c for c in codes if c == ErrorCode.INTERNAL_ERROR or not _catalogued(c)]
    require(not bad, f"non-catalogue outcomes: {bad}")
    s = _settled(ctx, 20)
    require(s.operations == 20, f"statistics counted {s.operations} operations, expected 20")
    return {"operation": op, "codes": sorted(set(codes))}


@check("driver.latency", "status() answers from cached state while an operation runs (not queued behind it)",
       Tier.GOLD, refs={"10.2.2 d": "实时采集终端状态"}, budget=20)
def latency(ctx: DriverContext) -> dict[str, Any]:
    ctx.wait_online()
    dev = ctx.t.device(ctx.module)
    entry = samples.WAITING.get(ctx.module)
    job = None
    if entry is not None:  # a waiting operation holds the queue for its whole deadline
        _take_medium_away(ctx)
        job = ctx.t.submit(ctx.module, entry[0], samples.sample(ctx.module, entry[0]), timeout=3.0)
        time.sleep(0.1)
    samples_ms = []
    for _ in range(100):
        t0 = time.perf_counter()
        dev.status()
        samples_ms.append((time.perf_counter() - t0) * 1000)
    busy = job is not None and not job.future.done()
    if job is not None:
        ctx.t.cancel(ctx.module, job.request_id)
    samples_ms.sort()
    p50, p99 = samples_ms[50], samples_ms[98]
    # a queued status would wait for the operation (seconds); the budget leaves room for a loaded machine
    require(p99 < 250, f"status p99 {p99:.1f} ms")
    return {"status_p50_ms": round(p50, 3), "status_p99_ms": round(p99, 3), "while_operation_ran": busy}


def certify_driver(entry: str, settings: dict[str, Any] | None = None, *, simulate: bool = False,
                   only: list[str] | None = None, workdir: Path | None = None, interactive: bool = False,
                   ask: Callable[[str], bool] | None = None, budget: float | None = 600.0,
                   progress: Callable[[CheckResult], None] | None = None,
                   sim: Callable[[str, Path], simulation.Simulation] | None = None) -> Report:
    """Run the driver tier for ``<module>.<driver>`` and return the report.

    With *simulate*, the checks change the world (take the card away, unplug the device) through a
    simulator started as ``sim(module, workdir)`` — gtsdk's own (:func:`gtsdk.sim.start`) unless *sim*
    names another, e.g. a simulated vendor SDK for a bridge driver.  Giving *sim* implies *simulate*.
    """
    module, _, driver = entry.partition(".")
    if module not in MODULES or not driver:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"entry point must look like <module>.<driver>, got {entry!r}")
    if interactive and ask is None:
        import click

        def ask(q: str) -> bool:
            return click.confirm(q, default=True)

    ctx = DriverContext(module, driver, dict(settings or {}), interactive=interactive, ask=ask)
    simulate = simulate or sim is not None
    own_wd: Path | None = None  # a folder made here is removed here
    if simulate:
        wd = workdir or (own_wd := Path(tempfile.mkdtemp(prefix=f"gtsdk-certify-{module}-")))
        ctx.sim = sim(module, wd) if sim is not None else simulation.start(module, wd, driver)
        ctx.settings = {**ctx.sim.settings, **ctx.settings}
    from gtsdk import __version__

    report = Report(kind="driver", target=entry, tool=f"gtsdk {__version__}",
                    options={"simulate": simulate, "interactive": interactive, "settings_keys": sorted(ctx.settings),
                             "budget_s": budget})
    if ctx.sim is not None:
        report.environment["simulator"] = {"module": module, "speaks_to": ctx.sim.driver,
                                           "describe": ctx.sim.describe()}
    try:
        reset_clock()
        run(checks, ctx, report, [module], only=only, progress=progress, budget=budget)
    finally:
        if ctx.terminal is not None:
            ctx.terminal.stop()
        if ctx.sim is not None:
            ctx.sim.stop()
        if own_wd is not None:
            shutil.rmtree(own_wd, ignore_errors=True)
    return report
