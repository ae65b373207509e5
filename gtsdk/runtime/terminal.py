"""The terminal: every configured module as a :class:`Device`, one event bus.

```python
with Terminal.from_config("terminal.toml") as t:
    card = t.idcard.read(timeout=20)           # seconds; an IdCardData
    print(card.name, t.idcard.status().state)
```
or ``async with`` and ``await t.aio.idcard.read()`` (also ``t.idcard.aio.read()``).
Each ``t.<module>`` is a typed facade (:mod:`gtsdk.facade`); ``t.module(id)`` is the
generic handle and ``t.call(module, op, request)`` the untyped call underneath.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from gtsdk.driver import Capabilities, HealthLevel, HealthResult, Model, Statistics, Status
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.facade import AsyncModule, AsyncTerminalModules, Level, Module, RequestLike, TerminalModules
from gtsdk.modules import MODULES
from gtsdk.runtime import registry
from gtsdk.runtime.config import ModuleConfig, TerminalConfig, event_history, load_config
from gtsdk.runtime.device import Device, Job, OperationRecord
from gtsdk.runtime.events import EventBus
from gtsdk.runtime.scheduler import Scheduler

log = logging.getLogger("gtsdk.runtime")


class Terminal(TerminalModules):
    """Every configured module of one terminal, in process.  Time is in seconds throughout."""

    def __init__(self, config: TerminalConfig | None = None, *, strict: bool = False) -> None:
        """Build devices for *config*.  With *strict*, a module whose driver is
        missing or broken raises ConfigError; otherwise it is disabled with the reason."""
        #: the asynchronous view: ``await t.aio.idcard.read()``
        self.aio = AsyncTerminal(self)
        self._init_modules(self, self.aio)
        self.config = config or TerminalConfig()
        self.events = EventBus(event_history(self.config))
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
    def from_config(cls, path: str | Path, *, strict: bool = False) -> Self:
        return cls(load_config(path), strict=strict)

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> Self:
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
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

    def submit(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
               request_id: str | None = None, caller: str | None = None) -> Job:
        """Queue one operation; *timeout* in seconds (else the request's wire ``timeout`` in ms, else the
        module's configured timeout, else the operation's default)."""
        return self.device(module).submit(op, request, timeout=timeout, request_id=request_id, caller=caller)

    def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
             request_id: str | None = None, caller: str | None = None) -> Model:
        """Run one operation and wait for its result (or its catalogue error); *timeout* in seconds."""
        job = self.submit(module, op, request, timeout=timeout, request_id=request_id, caller=caller)
        return job.future.result()

    async def acall(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
                    request_id: str | None = None, caller: str | None = None) -> Model:
        """:meth:`call`, awaited."""
        job = self.submit(module, op, request, timeout=timeout, request_id=request_id, caller=caller)
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:  # the awaiting task went away: stop its device work too
            if not job.finished:
                self.cancel(module, job.request_id)
            raise

    def cancel(self, module: str, request_id: str) -> bool:
        return self.device(module).cancel(request_id)

    def status(self, module: str) -> Status:
        return self.device(module).status()

    def capabilities(self, module: str) -> Capabilities:
        return self.device(module).capabilities()

    def statistics(self, module: str) -> Statistics:
        return self.device(module).statistics()

    def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
               ) -> HealthResult:
        return _health(self.call(module, "health", {"level": level}, timeout=timeout))

    def module(self, module: str) -> Module:
        """The generic handle on *module* (for code that picks the module at run time)."""
        self.device(module)
        return Module(self, module)


def _health(out: Model) -> HealthResult:
    if not isinstance(out, HealthResult):
        raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"health returned {type(out).__name__}")
    return out


class AsyncTerminal(AsyncTerminalModules):
    """The asynchronous view of a :class:`Terminal` (``terminal.aio``): the same modules, awaited."""

    def __init__(self, terminal: Terminal) -> None:
        self._t = terminal
        self._init_modules(self)

    async def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
                   request_id: str | None = None, caller: str | None = None) -> Model:
        return await self._t.acall(module, op, request, timeout=timeout, request_id=request_id, caller=caller)

    async def cancel(self, module: str, request_id: str) -> bool:
        return self._t.cancel(module, request_id)

    async def status(self, module: str) -> Status:
        return self._t.status(module)

    async def capabilities(self, module: str) -> Capabilities:
        return self._t.capabilities(module)

    async def statistics(self, module: str) -> Statistics:
        return self._t.statistics(module)

    async def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
                     ) -> HealthResult:
        return _health(await self.call(module, "health", {"level": level}, timeout=timeout))

    def module(self, module: str) -> AsyncModule:
        """The generic asynchronous handle on *module*."""
        self._t.device(module)
        return AsyncModule(self, module)
