"""native_bridge: a vendor's native library, called in a worker process, mapped onto a contract.

Every vendor call has a deadline (the step's ``timeout``, else the mapping's
``worker.call_timeout``, never past the operation's own deadline).  A call that
does not return by then, or a worker that dies (SIGSEGV in the vendor's code),
ends the operation with ``hardwareError``; the worker is killed by its PID and
restarted with the ``connect`` steps replayed, so the next operation finds the
device working again.
"""

from __future__ import annotations

import json
import logging
import os
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
from .mapping import FileSpec, NativeMapping, NativeOperation, NativeStep, load
from .plan import CallPlan, Group, compile_step, groups
from .process import WorkerDied, WorkerProcess, WorkerTimeout, wire_bytes

log = logging.getLogger("gtsdk.bridge.native")
#: seconds a cancelled operation lets a vendor call finish before the worker is killed
CANCEL_GRACE = 0.5


class NativeBridgeSettings(BridgeSettings):
    workdir: str | None = Field(None, description="private folder for the library's output files "
                                "(default: /dev/shm/gtsdk-bridge-<uid>/<module>-<hash>)")


class NativeEngine(EngineBase[NativeMapping, NativeStep]):
    kind = "native"
    #: what holds the library (benchmarks.bridges swaps in one without the process, to measure what it costs)
    worker_class: type[WorkerProcess] = WorkerProcess

    def __init__(self, module: str, settings: NativeBridgeSettings, emit: Any) -> None:
        super().__init__(module, settings, emit)
        self.workdir = workdir.prepare(module, self.mapping_path, settings.workdir)
        self.worker: WorkerProcess | None = None
        self._workdir_text = str(self.workdir)
        self.restarts = 0
        self.last_failure = ""
        #: requests of the mapping's step lists and single steps, by identity (they live as long as the mapping)
        self._compiled: dict[int, list[Group]] = {}
        self._single: dict[int, Group] = {}
        self._file_paths: dict[str, list[tuple[str, FileSpec, str]]] = {}

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
        w = self.worker_class(self.workdir, env)
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

    def _groups(self, steps: list[NativeStep]) -> list[Group]:
        """The requests of a step list: ``[start]`` is the one that starts at that step (cached by identity)."""
        key = id(steps)
        got = self._compiled.get(key)
        if got is None:
            got = self._compiled[key] = groups([compile_step(self.mapping, s, self._wire_arg) for s in steps])
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
        group = self._single.get(id(step))
        if group is None:
            group = self._single[id(step)] = Group.of([compile_step(self.mapping, step, self._wire_arg)])
        made = self._exchange(group, scope, ctx)
        try:
            return next(made)
        finally:
            made.close()

    def calls(self, steps: list[NativeStep], start: int, scope: dict[str, Any],
              ctx: OpContext) -> Generator[tuple[str, dict[str, Any]], None, None]:
        return self._exchange(self._groups(steps)[start], scope, ctx)

    def _exchange(self, group: Group, scope: dict[str, Any],
                  ctx: OpContext) -> Generator[tuple[str, dict[str, Any]], None, None]:
        """Make the calls of *group* in one ``run`` request; yields each call's code and outputs in order.

        The worker answers once, with every call it made; while it works the parent sleeps and times each call
        on its own from the worker's board (worker.py): a call still running at its limit (``timeout``, else
        ``worker.call_timeout``) or at the operation's deadline, whichever comes first, is handled as if it had
        been made alone.
        """
        ctx.check()
        plans = group.plans
        calls_json = group.calls_json
        if calls_json is None:  # arguments rendered now, from what the steps before saved
            scope.setdefault("workdir", self._workdir_text)
            if plans[0].clock:
                scope["remaining_ms"] = int(ctx.remaining() * 1000)
            calls_json = json.dumps([{"fn": p.step.call, "args": self._args(p, scope), "ok": p.ok} for p in plans],
                                    separators=(",", ":"))
        w = self._ensure(ctx)
        try:
            ans = self._run(w, group, calls_json, ctx)
            made = ans.get("calls") or []
            enc = self.mapping.library.encoding
            for call in made:
                ret = call.get("ret")
                code = ret.decode(enc, "replace") if isinstance(ret, bytes) else str(ret)
                yield code, {"return": ret, **call.get("outs", {})}
            if not ans.get("ok"):
                step = plans[min(len(made), len(plans) - 1)].step
                raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"{step.call}: {ans.get('error', 'failed')}")
        finally:
            if w.running and self.worker is w:  # pragma: no cover - every path above reads the answer or kills
                log.warning("%s: a vendor call sequence was left unfinished; restarting the worker", self.module)
                self._kill()

    def _run(self, w: WorkerProcess, group: Group, calls_json: str, ctx: OpContext) -> dict[str, Any]:
        """Send the run request and wait for its answer, each call timed on its own (see :meth:`_exchange`)."""
        plans = group.plans
        if min(plans[0].limit, ctx.remaining()) <= 0:
            ctx.check()
        rid = w.next_run()  # also clears a stop asked of an earlier run
        t0 = time.monotonic()
        try:
            w.send_run(rid, calls_json, ctx.remaining(), min(plans[0].limit, 1.0))
        except WorkerTimeout:  # pragma: no cover - a request of a few hundred bytes into an empty pipe
            self._failed(ctx, "the worker does not read its requests")
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, "the vendor worker does not read; it was restarted") from None
        except WorkerDied as e:
            self._died(w, plans, rid, e, ctx)
        cancelled = lambda: ctx.cancelled  # noqa: E731
        last = len(plans) - 1
        k, start = 0, t0  # the worker's board is read only when there is a reason to: a wait that ran out
        while True:
            now = time.monotonic()
            # wake when the call in progress could be over its limit, or the operation's deadline; and, while it
            # runs, soon enough for a later call with a shorter limit (which cannot start before now)
            wake = min(start + plans[k].limit, ctx.deadline, now + group.later[k])
            try:
                return w.receive(max(wake - now, 0.0), cancelled=cancelled)
            except WorkerDied as e:
                self._died(w, plans, rid, e, ctx)
            except WorkerTimeout:
                pass
            if ctx.cancelled:
                self._after_cancel(w, rid, ctx)
            moved = self._progress(w, rid, t0, last)
            now = time.monotonic()
            if moved != (k, start):
                k, start = moved
                continue  # the worker is in another call: time that one
            if now < min(start + plans[k].limit, ctx.deadline):
                continue  # woke for a later call's shorter limit: nothing is over yet
            step, limit, elapsed = plans[k].step, plans[k].limit, now - start
            if start + limit > ctx.deadline and self._finishes(w, min(CANCEL_GRACE, limit - elapsed)):
                # the operation's deadline, not the vendor call's limit: a quick call is let finish, no kill
                raise GtsdkError(ErrorCode.TIME_OUT, "operation deadline passed")
            self._failed(ctx, f"{step.call} did not return within {time.monotonic() - start:.3g} s")
            if ctx.remaining() <= 0:
                raise GtsdkError(ErrorCode.TIME_OUT, f"{step.call} was still running at the operation's "
                                 "deadline; its worker was killed and restarted")
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library did not return from {step.call} "
                             f"within {limit:g} s; its worker was killed and restarted")

    @staticmethod
    def _progress(w: WorkerProcess, rid: int, t0: float, last: int) -> tuple[int, float]:
        """(the call the worker is in, when it started on this clock); the first call from the send until the
        worker has begun.  The worker's times count from when the request arrived, a moment after t0: a call's
        limit is reached a moment early, never late."""
        got = w.board.progress(rid) if w.board is not None else None
        return (0, t0) if got is None else (min(got[0], last), t0 + got[1])

    def _died(self, w: WorkerProcess, plans: tuple[CallPlan, ...], rid: int, e: WorkerDied,
              ctx: OpContext) -> NoReturn:
        k, _ = self._progress(w, rid, 0.0, len(plans) - 1)
        step = plans[k].step
        self._failed(ctx, f"{step.call} crashed the worker ({e.how})")
        raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library crashed in {step.call} ({e.how}); "
                         "its worker was restarted") from None

    def _finishes(self, w: WorkerProcess, grace: float) -> bool:
        """The run's answer comes within *grace* seconds (the worker makes no call past the deadline)."""
        try:
            w.request_more(max(grace, 0.0))
            return True
        except (WorkerTimeout, WorkerDied):
            return False

    def _after_cancel(self, w: WorkerProcess, rid: int, ctx: OpContext) -> NoReturn:
        """Cancelled while a vendor call runs: no further call, let this one finish briefly, else kill."""
        if w.board is not None:
            w.board.ask_stop(rid)
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
                # the scope is what templates read: an operation whose calls have none (a plain read) needs none
                templated = any(g.calls_json is None for g in self._groups(o.steps))
                scope = self.request_scope(request, ctx) if templated else {}
                saved = self.run_steps(o.steps, scope, ctx)
                sources: dict[str, Any] = {f"saved.{k}": v for k, v in saved.items()}
                for key, f, path in self._files(op, o):
                    data = workdir.read_path(path, f.name, f.max_size)
                    if self.trace is not None:
                        self.trace(f"file {f.name} → {describe(data) if data is not None else 'absent'}")
                    if data is None:
                        if not f.optional:
                            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the vendor library wrote no {f.name}")
                        continue
                    sources[f"file.{key}"] = data
            finally:
                workdir.wipe(self._workdir_text)  # the library's files may hold personal data: never leave them
            return self.build_result(op, o.result, sources, self.mapping.library.encoding)

    def _files(self, op: str, o: NativeOperation) -> list[tuple[str, FileSpec, str]]:
        """(key, spec, path) of the files an operation reads, the paths joined once."""
        got = self._file_paths.get(op)
        if got is None:
            got = self._file_paths[op] = [(k, f, os.path.join(self._workdir_text, f.name)) for k, f in o.files.items()]
        return got

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
