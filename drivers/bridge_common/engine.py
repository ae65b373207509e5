"""What both bridges do the same way: parameters, the step loop (ok / wait / error
codes), and mapping vendor output onto the contract's result model."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Mapping
from pathlib import Path as FsPath
from typing import Any, Generic, TypeVar

from pydantic import Field

from gtsdk.driver import DeviceInfo, DriverSettings, Model, OpContext
from gtsdk.errors import ConfigError, GtsdkError
from gtsdk.modules import MODULES

from . import values
from .fields import ResultBuilder
from .mapping import BaseMapping, FieldSpec, StepBase

log = logging.getLogger("gtsdk.bridge")
ParamValue = str | int | float | bool

M = TypeVar("M", bound=BaseMapping)
S = TypeVar("S", bound=StepBase)


class BridgeSettings(DriverSettings):
    """``[modules.<id>]`` keys of a bridge driver."""

    mapping: str = Field(description="the mapping file (YAML; a relative path is taken from the working directory)")
    params: dict[str, ParamValue] = Field(default_factory=dict, description="values for the mapping's params")


def printable_code(code: str) -> str:
    """A vendor status code as it may appear in an error detail (bounded, printable)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in code)
    return text if len(text) <= 32 else text[:32] + "…"


class EngineBase(Generic[M, S]):
    """Loads the mapping, checks the terminal's params against it, and runs steps.

    Subclasses implement :meth:`invoke` (one vendor call → status code and outputs)
    and the lifecycle.  Every public method is called from the device's worker
    thread (the runtime serialises them); the lock only guards against a thread
    the runtime abandoned after a hang.
    """

    kind = ""

    def __init__(self, module: str, settings: BridgeSettings, emit: Callable[[str, dict[str, Any]], None]) -> None:
        self.module = module
        self.emit = emit
        self.mapping_path = FsPath(settings.mapping)
        self.mapping: M = self.load(self.mapping_path)
        if self.mapping.module != module:
            raise ConfigError(f"modules.{module}.mapping", f"{self.mapping_path} maps module "
                              f"{self.mapping.module!r}, not {module!r}")
        self.params: dict[str, Any] = {}
        for name, value in settings.params.items():
            if name not in self.mapping.params:
                raise ConfigError(f"modules.{module}.params.{name}", f"{self.mapping_path} declares no parameter "
                                  f"{name!r}; declared: {', '.join(self.mapping.params) or 'none'}")
            self.params[name] = value
        for name, p in self.mapping.params.items():
            if name not in self.params:
                if p.default is None:
                    raise ConfigError(f"modules.{module}.params.{name}", f"required by {self.mapping_path.name}"
                                      + (f" ({p.description})" if p.description else ""))
                self.params[name] = p.default
        self.lock = threading.RLock()
        self.present: bool | None = None
        self.saved_connect: dict[str, Any] = {}
        #: ``gtsdk bridge test`` prints each step here (what came back is described, never shown)
        self.trace: Callable[[str], None] | None = None
        #: result fields prepared once per operation (fields.py)
        self._builders: dict[tuple[str, int, str], ResultBuilder] = {}

    # ---- subclass hooks ----------------------------------------------------------------------------------------
    def load(self, path: FsPath) -> M:
        raise NotImplementedError

    def invoke(self, step: S, scope: dict[str, Any], ctx: OpContext) -> tuple[str, dict[str, Any]]:
        """Make one vendor call; return its status code (as text) and its named outputs."""
        raise NotImplementedError

    def step_name(self, step: S) -> str:
        raise NotImplementedError

    # ---- shared ------------------------------------------------------------------------------------------------
    @property
    def poll_interval(self) -> float | None:
        return None

    def base_scope(self, ctx: OpContext | None = None) -> dict[str, Any]:
        scope: dict[str, Any] = {f"param.{k}": v for k, v in self.params.items()}
        scope.update({f"saved.{k}": v for k, v in self.saved_connect.items()})
        if ctx is not None:
            scope["remaining_ms"] = int(ctx.remaining() * 1000)
        return scope

    def request_scope(self, request: Model, ctx: OpContext) -> dict[str, Any]:
        scope = self.base_scope(ctx)
        for k in type(request).model_fields:
            scope[f"request.{k}"] = getattr(request, k)
        return scope

    def calls(self, steps: list[S], start: int, scope: dict[str, Any],
              ctx: OpContext) -> Generator[tuple[str, dict[str, Any]], None, None]:
        """Status code and outputs of ``steps[start]``, then of the steps after it, as they are made.

        The caller stops reading at the first step whose code is not ok, and saves the outputs of each ok step
        into *scope* before it reads the next.  A subclass may make several calls in one exchange (the native
        bridge does); it may also end early (its own reading of the deadline), and the caller then asks again
        from the next step.
        """
        for step in steps[start:]:
            ctx.check()
            yield self.invoke(step, scope, ctx)

    def run_steps(self, steps: list[S], scope: dict[str, Any], ctx: OpContext) -> dict[str, Any]:
        """Run *steps* in order; returns what they saved.  Waiting steps repeat until ok or the deadline."""
        saved: dict[str, Any] = {}
        i = repeats = 0
        while i < len(steps):
            made = self.calls(steps, i, scope, ctx)
            try:
                for code, outputs in made:
                    step = steps[i]
                    if self.trace is not None:
                        verdict = "ok" if step.is_ok(code) else ("wait" if step.waits_on(code) else "error")
                        if verdict != "wait" or repeats == 0:
                            self.trace(f"{self.step_name(step)} → {printable_code(code)} ({verdict})"
                                       + "".join(f"\n      {k}: {describe(v)}" for k, v in outputs.items()
                                                 if k not in ("return", "response")))
                        repeats += 1
                    if step.is_ok(code):
                        for name, src in self.save_map(step).items():
                            if src in outputs:
                                saved[name] = outputs[src]
                                scope[f"saved.{name}"] = outputs[src]
                        i += 1
                        repeats = 0
                        continue
                    if step.waits_on(code):
                        ctx.sleep(step.every)  # raises timeOut at the deadline, canceled on cancel
                        scope["remaining_ms"] = int(ctx.remaining() * 1000)
                        break  # the same step again
                    act = self.mapping.error_for(step, code)
                    note = f" ({act.detail})" if act.detail else ""
                    raise GtsdkError(act.code, f"{self.step_name(step)} returned {printable_code(code)}{note}")
            finally:
                made.close()
        return saved

    def save_map(self, step: S) -> dict[str, str]:
        out: dict[str, str] = getattr(step, "save", {})
        return out

    def build_result(self, op: str, result: Mapping[str, FieldSpec], sources: Mapping[str, Any],
                     encoding: str) -> Model:
        key = (op, id(result), encoding)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = ResultBuilder(MODULES[self.module].operations[op].result, result,
                                                          encoding)
        return builder.build(sources)

    def device_info(self, driver: str, version: str) -> DeviceInfo:
        d = self.mapping.device
        serial = d.serial
        if serial:
            try:
                v = values.render(serial, self.base_scope())
                serial = _printable(v)
            except values.Missing:
                serial = ""
        return DeviceInfo(vendor=d.vendor, model=d.model, firmware=d.firmware, serial=serial, driver=driver,
                          driver_version=version)

    def emit_presence(self, present: bool, on_present: str, on_absent: str | None) -> None:
        if present == self.present:
            return
        first = self.present is None
        self.present = present
        if present:
            self.emit(on_present, {})
        elif on_absent is not None and not first:
            self.emit(on_absent, {})


def describe(v: Any) -> str:
    """What a vendor output is, without its content (which may be personal data)."""
    if isinstance(v, bytes):
        kind = "BMP" if v[:2] == b"BM" else ("PNG" if v[:4] == b"\x89PNG" else ("JPEG" if v[:2] == b"\xff\xd8" else
                                                                                  "bytes"))
        return f"<{len(v)} bytes, {kind}>"
    if isinstance(v, str):
        return f"<text, {len(v)} characters>"
    if isinstance(v, dict):
        return f"<object: {', '.join(list(map(str, v))[:12])}{', …' if len(v) > 12 else ''}>"
    if isinstance(v, list):
        return f"<list of {len(v)}>"
    return repr(v) if isinstance(v, int | float | bool) or v is None else f"<{type(v).__name__}>"


def _printable(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.split(b"\x00", 1)[0].decode("latin-1")
    return "".join(ch for ch in str(v) if ch.isprintable())[:64]
