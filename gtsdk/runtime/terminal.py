"""The terminal: every configured module as a :class:`Device`, one event bus.

```python
with Terminal.from_config("terminal.toml") as t:
    card = t.idcard.read(timeout=20_000)
```
or ``async with`` and ``await t.idcard.aio.read()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from gtsdk.driver import Capabilities, HealthLevel, HealthResult, Model, Statistics, Status
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.runtime import registry
from gtsdk.runtime.config import ModuleConfig, TerminalConfig, load_config
from gtsdk.runtime.device import Device, Job, OperationRecord
from gtsdk.runtime.events import EventBus
from gtsdk.runtime.scheduler import Scheduler

log = logging.getLogger("gtsdk.runtime")


class Terminal:
    def __init__(self, config: TerminalConfig | None = None, *, strict: bool = False) -> None:
        """Build devices for *config*.  With *strict*, a module whose driver is
        missing or broken raises ConfigError; otherwise it is disabled with the reason."""
        self.config = config or TerminalConfig()
        self.events = EventBus()
        self._scheduler = Scheduler()
        self._listeners: list[Callable[[OperationRecord], None]] = []
        self.devices: dict[str, Device] = {}
        self._started = False
        for mod_id, mc in self.config.modules.items():
            self.devices[mod_id] = self._make_device(mod_id, mc, strict)

    def _make_device(self, mod_id: str, mc: ModuleConfig, strict: bool) -> Device:
        spec = MODULES[mod_id]
        if not mc.enabled:
            return self._disabled(mod_id, "disabled in configuration")
        try:
            cls = registry.load(mod_id, mc.driver)
            return Device(spec, mc, cls, self.events, self._scheduler, self._completed)
        except ConfigError as e:
            if strict:
                raise
            log.error("module %s disabled: %s", mod_id, e.detail)
            return self._disabled(mod_id, e.detail)

    def _disabled(self, mod_id: str, reason: str) -> Device:
        return Device(MODULES[mod_id], None, None, self.events, self._scheduler, disabled_reason=reason)

    def disable(self, module: str, reason: str) -> None:
        """Take *module* out of service before :meth:`start`: its operations answer ``noDevice`` with *reason*."""
        if self._started:
            raise GtsdkError(ErrorCode.INVALID_STATE, "disable modules before the terminal starts")
        self.devices[module] = self._disabled(module, reason)

    # ---- construction helpers ------------------------------------------------
    @classmethod
    def from_config(cls, path: str | Path, *, strict: bool = False) -> Terminal:
        return cls(load_config(path), strict=strict)

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> Terminal:
        if not self._started:
            self._started = True
            for d in self.devices.values():
                d.start()
        return self

    def stop(self) -> None:
        for d in self.devices.values():
            d.stop()
        self._scheduler.stop()
        self._started = False

    def __enter__(self) -> Terminal:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Terminal:
        return self.start()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # ---- listeners (audit, metrics) ---------------------------------------------
    def on_complete(self, fn: Callable[[OperationRecord], None]) -> None:
        self._listeners.append(fn)

    def _completed(self, rec: OperationRecord) -> None:
        for fn in list(self._listeners):
            fn(rec)

    # ---- access -----------------------------------------------------------------
    def device(self, module: str) -> Device:
        if module not in MODULES:
            raise GtsdkError(ErrorCode.INVALID_COMMAND, f"unknown module {module!r}")
        dev = self.devices.get(module)
        if dev is None:
            dev = self.devices[module] = self._disabled(module, "not configured")
        return dev

    def submit(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
               request_id: str | None = None, caller: str | None = None) -> Job:
        return self.device(module).submit(op, request, timeout=timeout, request_id=request_id, caller=caller)

    def call(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
             request_id: str | None = None, caller: str | None = None) -> Model:
        """Run one operation and wait for its result (or its catalogue error)."""
        job = self.submit(module, op, request, timeout=timeout, request_id=request_id, caller=caller)
        return job.future.result()

    async def acall(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
                    request_id: str | None = None, caller: str | None = None) -> Model:
        job = self.submit(module, op, request, timeout=timeout, request_id=request_id, caller=caller)
        return await asyncio.wrap_future(job.future)

    def cancel(self, module: str, request_id: str) -> bool:
        return self.device(module).cancel(request_id)

    def module(self, module: str) -> ModuleHandle:
        self.device(module)
        return ModuleHandle(self, module)

    def __getattr__(self, name: str) -> ModuleHandle:
        if name in MODULES:
            return ModuleHandle(self, name)
        raise AttributeError(name)


class ModuleHandle:
    """``terminal.<module>.<operation>(**fields)``; ``.aio.<operation>`` is the async form."""

    def __init__(self, terminal: Terminal, module: str, asynchronous: bool = False) -> None:
        self._t = terminal
        self._module = module
        self._async = asynchronous

    @property
    def aio(self) -> ModuleHandle:
        return ModuleHandle(self._t, self._module, True)

    def status(self) -> Status:
        return self._t.device(self._module).status()

    def capabilities(self) -> Capabilities:
        return self._t.device(self._module).capabilities()

    def statistics(self) -> Statistics:
        return self._t.device(self._module).statistics()

    def health(self, level: HealthLevel = HealthLevel.INTERNAL, timeout: float | None = None) -> HealthResult:
        out = self._t.call(self._module, "health", {"level": level}, timeout=timeout)
        assert isinstance(out, HealthResult)
        return out

    def __getattr__(self, op: str) -> Callable[..., Any]:
        spec = MODULES[self._module]
        if op not in spec.operations:
            raise AttributeError(f"{self._module} has no operation {op!r}")

        def invoke(request: Any = None, *, timeout: float | None = None, request_id: str | None = None,
                   **fields: Any) -> Any:
            req = request if request is not None else fields
            if self._async:
                return self._t.acall(self._module, op, req, timeout=timeout, request_id=request_id)
            return self._t.call(self._module, op, req, timeout=timeout, request_id=request_id)

        invoke.__name__ = op
        invoke.__doc__ = spec.operations[op].summary
        return invoke
