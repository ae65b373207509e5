"""Driver tier: a driver plugin, in process, against its module contract (7.4.4).

Runs the driver inside the gtsdk runtime — against our simulator of the device
(``simulate=True``) or the vendor's real device (settings given) — and checks
lifecycle, state machine, error mapping, timeout and cancel, recovery after
the device vanishes, thread safety and statistics.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError, info
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal, parse_config, registry

from . import samples
from .framework import Fail, NotRun, Registry, require
from .model import Report, Tier

checks = Registry()
check = checks.check


@dataclass
class DriverContext:
    module: str
    driver: str
    settings: dict[str, Any]
    sim: simulation.Simulation | None = None
    terminal: Terminal | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def make_terminal(self, **extra: Any) -> Terminal:
        mod = {"driver": self.driver, "reconnect_interval": 0.2, **self.settings, **extra}
        return Terminal(parse_config({"modules": {self.module: mod}}), strict=True)

    @property
    def t(self) -> Terminal:
        if self.terminal is None:
            self.terminal = self.make_terminal().start()
        return self.terminal

    def wait_online(self, timeout: float = 15.0) -> str:
        end = time.monotonic() + timeout
        st = self.t.device(self.module).status()
        while time.monotonic() < end and st.state != "online":
            time.sleep(0.05)
            st = self.t.device(self.module).status()
        return st.state.value

    def call(self, op: str, body: dict[str, Any] | None = None, timeout: float = 15.0) -> tuple[str, Any]:
        """(code, result or error) — never raises for catalogue errors."""
        try:
            req = body if body is not None else samples.sample(self.module, op)
            return "success", self.t.call(self.module, op, req, timeout=timeout)
        except GtsdkError as e:
            return e.code, e


def _catalogued(code: str) -> bool:
    return info(code).code == code


@check("driver.load", "Driver loads through the gtsdk.drivers entry point and implements the contract", "7.4.4",
       Tier.BRONZE)
def load(ctx: DriverContext) -> dict[str, Any]:
    cls = registry.load(ctx.module, ctx.driver)
    base = MODULES[ctx.module].driver_class
    require(issubclass(cls, base), f"{cls.__name__} is not a {base.__name__}")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    require(not missing, f"abstract methods not implemented: {missing}")
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "version": cls.version}


@check("driver.settings", "Unknown settings are rejected naming the key", "9.2.2 b", Tier.BRONZE)
def settings(ctx: DriverContext) -> dict[str, Any]:
    from gtsdk.errors import ConfigError

    try:
        ctx.make_terminal(no_such_setting_xyz=1).stop()
    except ConfigError as e:
        require("no_such_setting_xyz" in e.key, f"error does not name the key: {e.detail}")
        return {"error": e.detail}
    raise Fail("a misspelt setting was accepted silently")


@check("driver.lifecycle", "Device comes online; capabilities list every operation of 8.4 with versions", "8.4",
       Tier.BRONZE)
def lifecycle(ctx: DriverContext) -> dict[str, Any]:
    state = ctx.wait_online()
    st = ctx.t.device(ctx.module).status()
    require(state == "online", f"device did not come online: {state} ({st.reason})")
    caps = ctx.t.device(ctx.module).capabilities()
    listed = {o.name: o.version for o in caps.operations}
    missing = [op for op in MODULES[ctx.module].operations if op not in listed]
    require(not missing, f"capabilities miss operations {missing}")
    return {"status": st.wire(), "device": caps.device.wire()}


@check("driver.operations", "Every operation returns its result model or a catalogue error (never a crash)",
       "8.4 / 6.4.4 a", Tier.BRONZE)
def operations(ctx: DriverContext) -> dict[str, Any]:
    ctx.wait_online()
    spec = MODULES[ctx.module]
    results: dict[str, str] = {}
    waiting = samples.WAITING.get(ctx.module, ("", ()))[0]
    for op, ospec in spec.operations.items():
        if op == spec.close_op:
            continue
        code, out = ctx.call(op, timeout=1.0 if op == waiting else 20.0)
        results[op] = code
        if code == "success":
            require(isinstance(out, ospec.result), f"{op} returned {type(out).__name__}, not {ospec.result.__name__}")
        else:
            require(code != ErrorCode.INTERNAL_ERROR, f"{op}: the driver raised a non-catalogue exception",
                    detail=str(out))
            require(_catalogued(code), f"{op}: {code} is not a catalogue code")
    return {"codes": results}


@check("driver.invalid_request", "Illegal parameters and missing data give invalidData naming the field",
       "6.4.4 c / 9.2.2 b", Tier.BRONZE)
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


@check("driver.statistics", "Statistics count operations and errors", "10.2.2 i", Tier.BRONZE)
def statistics(ctx: DriverContext) -> dict[str, Any]:
    dev = ctx.t.device(ctx.module)
    end = time.monotonic() + 10
    while dev.status().busy and time.monotonic() < end:  # earlier checks' operations finish (and count) first
        time.sleep(0.05)
    time.sleep(0.2)
    dev.reset_statistics()
    op = next(iter(o for o in MODULES[ctx.module].operations if o != MODULES[ctx.module].close_op))
    ctx.call(op, {"noSuchField": 1})  # rejected before the queue: not a device operation
    ctx.call(op, timeout=2)
    s = dev.statistics()
    require(s.operations == 1, f"expected 1 counted operation, got {s.operations}")
    return {"statistics": s.wire()}


@check("driver.state_machine", "close → notOpen → open → usable (8.4 打开/关闭设备)", "8.4", Tier.SILVER)
def state_machine(ctx: DriverContext) -> dict[str, Any]:
    spec = MODULES[ctx.module]
    if spec.close_op is None or spec.open_op is None:
        raise NotRun(f"{ctx.module} has no open/close operations")
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


@check("driver.timeout", "An operation waiting for a person ends with timeOut at its deadline; device usable after",
       "6.4.4 c", Tier.SILVER)
def timeout(ctx: DriverContext) -> dict[str, Any]:
    entry = samples.WAITING.get(ctx.module)
    if entry is None:
        raise NotRun(f"{ctx.module} has no operation that waits for a person")
    ctx.wait_online()
    _take_medium_away(ctx)
    t0 = time.monotonic()
    code, _ = ctx.call(entry[0], timeout=0.3)
    took = time.monotonic() - t0
    require(code == ErrorCode.TIME_OUT, f"{entry[0]} with no medium gave {code}, not timeOut")
    require(took < 2.3, f"timeOut came {took:.2f} s after a 0.3 s deadline")
    require(ctx.wait_online(5) == "online", "device not online after the timeout")
    return {"elapsed_s": round(took, 3)}


@check("driver.cancel", "A waiting operation can be cancelled by request id", "6.4.4 c", Tier.SILVER)
def cancel(ctx: DriverContext) -> dict[str, Any]:
    entry = samples.WAITING.get(ctx.module)
    if entry is None:
        raise NotRun(f"{ctx.module} has no operation that waits for a person")
    ctx.wait_online()
    _take_medium_away(ctx)
    job = ctx.t.submit(ctx.module, entry[0], samples.sample(ctx.module, entry[0]), timeout=10, request_id="cx-1")
    time.sleep(0.2)
    t0 = time.monotonic()
    require(ctx.t.cancel(ctx.module, "cx-1"), "cancel found no such request")
    try:
        job.future.result(timeout=3)
        raise Fail("operation completed although cancelled")
    except GtsdkError as e:
        require(e.code == ErrorCode.CANCELED, f"cancelled operation ended with {e.code}")
    require(ctx.wait_online(5) == "online", "device not online after cancel")
    return {"cancel_latency_ms": round((time.monotonic() - t0) * 1000, 1)}


@check("driver.recovery", "Device vanishes → documented code, status changes; returns → recovers by itself",
       "6.4.4 c / 10.2.2", Tier.SILVER)
def recovery(ctx: DriverContext) -> dict[str, Any]:
    if ctx.sim is None:
        raise NotRun("needs a simulator (or --interactive with a real device)")
    unplug = samples.find_action(ctx.sim.actions(), samples.UNPLUG)
    replug = samples.find_action(ctx.sim.actions(), samples.REPLUG)
    if not unplug or not replug:
        raise NotRun(f"simulator has no unplug/replug actions ({sorted(ctx.sim.actions())})")
    ctx.wait_online()
    ctx.sim.control(unplug, {})
    spec = MODULES[ctx.module]
    op = next(o for o in spec.operations if o not in (spec.open_op, spec.close_op))
    code, _ = ctx.call(op, timeout=3)
    require(code not in ("success", ErrorCode.INTERNAL_ERROR), f"{op} on an unplugged device gave {code}")
    require(_catalogued(code), f"{code} is not a catalogue code")
    state = ctx.t.device(ctx.module).status().state.value
    ctx.sim.control(replug, {})
    back = ctx.wait_online(20)
    require(back == "online", f"device did not recover after replug (state {back})")
    return {"code_while_unplugged": code, "state_while_unplugged": state}


@check("driver.concurrency", "Concurrent callers: every call completes with a result or catalogue code; counted once",
       "6.4.4 h", Tier.GOLD)
def concurrency(ctx: DriverContext) -> dict[str, Any]:
    ctx.wait_online()
    spec = MODULES[ctx.module]
    waiting = samples.WAITING.get(ctx.module, ("", ()))[0]
    op = next((o for o in spec.operations if o not in (spec.open_op, spec.close_op, waiting)), None)
    if op is None:
        raise NotRun("no non-waiting operation to run concurrently")
    dev = ctx.t.device(ctx.module)
    dev.reset_statistics()
    codes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            code, _ = ctx.call(op, timeout=30)
            dev.status()
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    require(len(codes) == 20, f"only {len(codes)} of 20 calls completed")
    bad = [c for c in codes if c == ErrorCode.INTERNAL_ERROR or not _catalogued(c)]
    require(not bad, f"non-catalogue outcomes: {bad}")
    s = dev.statistics()
    require(s.operations == 20, f"statistics counted {s.operations} operations, expected 20")
    return {"operation": op, "codes": sorted(set(codes))}


@check("driver.latency", "status() answers from cached state while an operation runs (not queued behind it)",
       "10.2.2 i", Tier.GOLD)
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
                   only: list[str] | None = None, workdir: Path | None = None) -> Report:
    """Run the driver tier for ``<module>.<driver>`` and return the report."""
    module, _, driver = entry.partition(".")
    if module not in MODULES or not driver:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"entry point must look like <module>.<driver>, got {entry!r}")
    ctx = DriverContext(module, driver, dict(settings or {}))
    if simulate:
        wd = workdir or Path(tempfile.mkdtemp(prefix=f"gtsdk-certify-{module}-"))
        ctx.sim = simulation.start(module, wd)
        ctx.settings = {**ctx.sim.settings, **ctx.settings}
    from gtsdk import __version__

    report = Report(kind="driver", target=entry, tool=f"gtsdk {__version__}",
                    options={"simulate": simulate, "settings_keys": sorted(ctx.settings)})
    from .framework import run

    try:
        run(checks, ctx, report, [module], only=only)
    finally:
        if ctx.terminal is not None:
            ctx.terminal.stop()
        if ctx.sim is not None:
            ctx.sim.stop()
    return report


