"""native_bridge: a vendor's native library, called in a worker process, mapped onto a contract.

Every vendor call has a deadline (the step's ``timeout``, else the mapping's
``worker.call_timeout``, never past the operation's own deadline).  A call that
does not return by then, or a worker that dies (SIGSEGV in the vendor's code),
ends the operation with ``hardwareError``; the worker is killed by its PID and
restarted with the ``connect`` steps replayed, so the next operation finds the
device working again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, NoReturn

from pydantic import Field

from gtsdk.driver import Model, OpContext
from gtsdk.errors import ErrorCode, GtsdkError

from ..bridge_common import values, workdir
from ..bridge_common.engine import BridgeSettings, EngineBase, describe
from . import cdecl
from .mapping import NativeMapping, NativeStep, load
from .plan import CallPlan, compile_step, group_ends
from .process import WorkerDied, WorkerProcess, WorkerTimeout, wire_bytes

log = logging.getLogger("gtsdk.bridge.native")
#: seconds a cancelled operation lets a vendor call finish before the worker is killed
CANCEL_GRACE = 0.5


class NativeBridgeSettings(BridgeSettings):
    workdir: str | None = Field(None, description="private folder for the library's output files "
                                "(default: /dev/shm/gtsdk-bridge-<uid>/<module>-<hash>)")


class NativeEngine(EngineBase[NativeMapping, NativeStep]):
    kind = "native"

    def __init__(self, module: str, settings: NativeBridgeSettings, emit: Any) -> None:
        super().__init__(module, settings, emit)
        self.workdir = workdir.prepare(module, self.mapping_path, settings.workdir)
        self.worker: WorkerProcess | None = None
        self._workdir_text = str(self.workdir)
        self.restarts = 0
        self.last_failure = ""
        #: call plans of the mapping's step lists and single steps, by identity (they live as long as the mapping)
        self._compiled: dict[int, tuple[list[CallPlan], list[int]]] = {}
        self._single: dict[int, CallPlan] = {}

    def load(self, path: Path) -> NativeMapping:
        return load(path)

    def step_name(self, step: NativeStep) -> str:
        return step.call

    @property
    def poll_interval(self) -> float | None:
        return self.mapping.events.every if self.mapping.events is not None else None

    # ---- the worker ----------------------------------------------------------------------------------------------
    def _start_worker(self, timeout: float) -> WorkerProcess:
        m = self.mapping
        workdir.wipe(self.workdir)
        scope = {**self.base_scope(), "workdir": str(self.workdir)}
        try:
            env = {k: str(values.render(v, scope)) for k, v in m.library.env.items()}
            path = str(values.render(m.library_path(), scope))
        except values.Missing as e:  # pragma: no cover - references are checked when the mapping loads
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"unknown reference {e}") from None
        w = WorkerProcess(self.workdir, env)
        w.start()
        sigs = {name: p.wire(m.library.convention) for name, p in m.prototypes.items()}
        try:
            ans = w.request({"op": "load", "path": path, "convention": m.library.convention,
                             "encoding": m.library.encoding, "functions": sigs}, timeout)
        except (WorkerDied, WorkerTimeout) as e:
            w.kill()
            how = e.how if isinstance(e, WorkerDied) else f"no answer within {timeout:g} s"
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library did not load ({how})") from None
        if not ans.get("ok"):
            w.kill()
            raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot load the vendor library: {ans.get('error', '?')}")
        self.worker = w
        return w

    def _kill(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None
        workdir.wipe(self.workdir)

    def _ensure(self, ctx: OpContext) -> WorkerProcess:
        """A running worker with the library loaded and the connect steps done."""
        if self.worker is not None and self.worker.alive():
            return self.worker
        self._kill()
        w = self._start_worker(min(self.mapping.worker.start_timeout, max(ctx.remaining(), 0.5)))
        self.restarts += 1
        self.saved_connect = {}
        self.saved_connect = self.run_steps(self.mapping.connect, {**self.base_scope(ctx),
                                                                   "workdir": str(self.workdir)}, ctx)
        return w

    def _restart_quietly(self, ctx: OpContext) -> None:
        """After a crash or hang: a fresh worker now, so the next operation finds the device ready."""
        if ctx.remaining() < 1.0:
            return  # no time left in this operation: the next one restarts the worker
        try:
            self._ensure(ctx)
        except GtsdkError as e:
            log.warning("%s: restarting the vendor worker failed: %s", self.module, e.code)
            self._kill()

    # ---- lifecycle ----------------------------------------------------------------------------------------------
    def connect(self) -> None:
        m = self.mapping
        budget = m.worker.start_timeout + m.worker.call_timeout * max(1, len(m.connect))
        ctx = OpContext("bridge-connect", budget)
        with self.lock:
            self._kill()
            self._ensure(ctx)

    def disconnect(self) -> None:
        with self.lock:
            w = self.worker
            if w is not None and w.alive() and self.mapping.disconnect:
                ctx = OpContext("bridge-disconnect", min(5.0, self.mapping.worker.call_timeout * 2))
                try:
                    self.run_steps(self.mapping.disconnect, self.base_scope(ctx), ctx)
                except GtsdkError as e:
                    log.info("%s: disconnect steps: %s", self.module, e.code)
            if self.worker is not None:
                self.worker.stop()
                self.worker = None
            workdir.wipe(self.workdir)
            self.present = None

    def close(self) -> None:
        """The driver is going away for good: no worker, no folder."""
        self.disconnect()
        workdir.remove(self.workdir)

    def alive(self) -> bool:
        return self.worker is not None and self.worker.alive()

    # ---- calls ---------------------------------------------------------------------------------------------------
    def _arg(self, p: cdecl.Param, value: Any, fn: str) -> Any:
        enc = self.mapping.library.encoding
        try:
            if p.kind == "text":
                return value if isinstance(value, bytes) else str(value).encode(enc)
            if p.kind == "wtext":
                return value if isinstance(value, bytes) else str(value).encode("utf-16-le")
            if p.kind == "bytes" or p.array is not None:
                if isinstance(value, bytes):
                    return value
                return str(value).encode(enc)
            if p.kind in ("float", "double"):
                return float(value)
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return value
            return int(str(value), 0)
        except (ValueError, UnicodeEncodeError):
            raise GtsdkError(ErrorCode.INVALID_DATA, f"argument {p.name} of {fn} cannot be passed as {p.kind}",
                             field=p.name) from None

    def _plans(self, steps: list[NativeStep]) -> tuple[list[CallPlan], list[int]]:
        key = id(steps)
        got = self._compiled.get(key)
        if got is None:
            plans = [compile_step(self.mapping, s, self._wire_arg) for s in steps]
            got = self._compiled[key] = (plans, group_ends(plans))
        return got

    def _wire_arg(self, p: cdecl.Param, value: Any, fn: str) -> Any:
        v = self._arg(p, value, fn)
        return wire_bytes(v) if isinstance(v, bytes) else v

    def _args(self, plan: CallPlan, scope: dict[str, Any]) -> dict[str, Any]:
        if not plan.templated:
            return plan.fixed
        args = dict(plan.fixed)
        for name, p, v in plan.templated:
            try:
                args[name] = self._wire_arg(p, values.render(v, scope), plan.step.call)
            except values.Missing as e:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"{plan.step.call}: no value for {e}") from None
        return args

    def invoke(self, step: NativeStep, scope: dict[str, Any], ctx: OpContext) -> tuple[str, dict[str, Any]]:
        """One call on its own (the event probe)."""
        plan = self._single.get(id(step))
        if plan is None:
            plan = self._single[id(step)] = compile_step(self.mapping, step, self._wire_arg)
        made = self._exchange([plan], scope, ctx)
        try:
            return next(made)
        finally:
            made.close()

    def calls(self, steps: list[NativeStep], start: int, scope: dict[str, Any],
              ctx: OpContext) -> Generator[tuple[str, dict[str, Any]], None, None]:
        plans, ends = self._plans(steps)
        return self._exchange(plans[start:ends[start]], scope, ctx)

    def _exchange(self, plans: list[CallPlan], scope: dict[str, Any],
                  ctx: OpContext) -> Generator[tuple[str, dict[str, Any]], None, None]:
        """Make the calls of *plans* in one ``run`` request; yields each call's code and outputs as it returns.

        Every call keeps its own deadline: the parent waits for each answer frame with the call's limit
        (``timeout``, else ``worker.call_timeout``) or what is left of the operation, whichever is shorter.
        """
        ctx.check()
        scope.setdefault("workdir", self._workdir_text)
        if plans[0].clock:
            scope["remaining_ms"] = int(ctx.remaining() * 1000)
        calls = [{"fn": p.step.call, "args": self._args(p, scope), "ok": p.ok} for p in plans]
        w = self._ensure(ctx)
        try:
            for i, plan in enumerate(plans):
                step = plan.step
                limit = step.timeout or self.mapping.worker.call_timeout
                timeout = min(limit, ctx.remaining())
                if i == 0:
                    if timeout <= 0:
                        ctx.check()
                    t0 = time.monotonic()
                    ans = self._answer(w, step, limit, timeout, t0, ctx,
                                       send={"op": "run", "calls": calls, "within": ctx.remaining()})
                else:
                    t0 = time.monotonic()
                    ans = self._answer(w, step, limit, timeout, t0, ctx)
                if not ans.get("ok"):
                    raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"{step.call}: {ans.get('error', 'failed')}")
                ret = ans.get("ret")
                outs: dict[str, Any] = {"return": ret, **ans.get("outs", {})}
                code = ret.decode(self.mapping.library.encoding, "replace") if isinstance(ret, bytes) else str(ret)
                yield code, outs
                if not w.running:
                    return
        finally:
            if w.running and self.worker is w:
                # the caller stopped reading while the worker may still be calling: never leave it out of step
                log.warning("%s: a vendor call sequence was left unfinished; restarting the worker", self.module)
                self._kill()

    def _answer(self, w: WorkerProcess, step: NativeStep, limit: float, timeout: float, t0: float,
                ctx: OpContext, send: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer frame of one call (sending the request first when *send* is given), or the error."""
        try:
            if send is not None:
                return w.request(send, timeout, cancelled=lambda: ctx.cancelled)
            return w.receive(timeout, cancelled=lambda: ctx.cancelled)
        except WorkerTimeout:
            if ctx.cancelled:
                self._after_cancel(w, ctx)
            elif timeout < limit and self._finishes(w, min(CANCEL_GRACE, limit - (time.monotonic() - t0))):
                # the operation's deadline, not the vendor call's limit: a quick call is let finish, no kill
                raise GtsdkError(ErrorCode.TIME_OUT, "operation deadline passed") from None
            self._failed(ctx, f"{step.call} did not return within {time.monotonic() - t0:.3g} s")
            if ctx.remaining() <= 0:
                raise GtsdkError(ErrorCode.TIME_OUT, f"{step.call} was still running at the operation's "
                                 "deadline; its worker was killed and restarted") from None
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library did not return from {step.call} "
                             f"within {limit:g} s; its worker was killed and restarted") from None
        except WorkerDied as e:
            self._failed(ctx, f"{step.call} crashed the worker ({e.how})")
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library crashed in {step.call} ({e.how}); "
                             "its worker was restarted") from None

    def _finishes(self, w: WorkerProcess, grace: float) -> bool:
        """The running call (and its request, which stops at the deadline) ends within *grace* seconds."""
        end = time.monotonic() + max(grace, 0.0)
        try:
            w.request_more(max(end - time.monotonic(), 0.0))
            while w.running:
                w.request_more(max(end - time.monotonic(), 0.0))
            return True
        except (WorkerTimeout, WorkerDied):
            return False

    def _after_cancel(self, w: WorkerProcess, ctx: OpContext) -> NoReturn:
        """Cancelled while a vendor call runs: no further call, let this one finish briefly, else kill."""
        try:
            w.send({"op": "abort"}, CANCEL_GRACE)
        except (WorkerTimeout, WorkerDied):
            pass
        if not self._finishes(w, CANCEL_GRACE):
            self._kill()
        ctx.check()
        raise GtsdkError(ErrorCode.CANCELED, "operation stopped")  # pragma: no cover - check() raised

    def _failed(self, ctx: OpContext, why: str) -> None:
        self.last_failure = why
        log.warning("%s: %s; killing the worker", self.module, why)
        self._kill()
        self._restart_quietly(ctx)

    # ---- operations ---------------------------------------------------------------------------------------------
    def run(self, op: str, request: Model, ctx: OpContext) -> Model:
        o = self.mapping.operations.get(op)
        spec = self.mapping.spec.operations[op]
        if o is None:  # open/close without steps
            return spec.result()
        if o.unsupported:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, f"{self.mapping_path.name} marks {op} unsupported")
        with self.lock:
            try:
                scope = self.request_scope(request, ctx)
                saved = self.run_steps(o.steps, scope, ctx)
                sources: dict[str, Any] = {f"saved.{k}": v for k, v in saved.items()}
                for key, f in o.files.items():
                    data = workdir.read(self._workdir_text, f.name, f.max_size)
                    if self.trace is not None:
                        self.trace(f"file {f.name} → {describe(data) if data is not None else 'absent'}")
                    if data is None:
                        if not f.optional:
                            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library wrote no {f.name}")
                        continue
                    sources[f"file.{key}"] = data
            finally:
                workdir.wipe(self.workdir)  # the library's files may hold personal data: never leave them
            return self.build_result(op, o.result, sources, self.mapping.library.encoding)

    def poll(self, ctx: OpContext) -> None:
        ev = self.mapping.events
        if ev is None:
            return
        with self.lock:
            try:
                code, _ = self.invoke(ev.probe, self.base_scope(ctx), ctx)
            finally:
                workdir.wipe(self.workdir)
        if code in {str(c) for c in ev.present}:
            self.emit_presence(True, ev.on_present, ev.on_absent)
        elif code in {str(c) for c in ev.absent}:
            self.emit_presence(False, ev.on_present, ev.on_absent)
        else:
            act = self.mapping.error_for(ev.probe, code)
            raise GtsdkError(act.code, f"{ev.probe.call} returned {code}")

    def ping(self, timeout: float = 2.0) -> bool:
        with self.lock:
            w = self.worker
            if w is None or not w.alive():
                return False
            try:
                return bool(w.request({"op": "ping"}, timeout).get("ok"))
            except (WorkerDied, WorkerTimeout):
                return False
