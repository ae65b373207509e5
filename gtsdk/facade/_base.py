"""What every typed module facade shares: the caller protocols, the common queries, the
generic handle for modules unknown at type-check time, and the few helpers the generated
methods call (building the request, checking the result).

A facade does no reflection per call: each generated method builds its request model from
its keyword arguments and hands it to the caller (the in-process :class:`~gtsdk.Terminal`
or the HTTPS :class:`~gtsdk.client.Client`), then checks the result's type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar, overload

from pydantic import ValidationError

from gtsdk.driver import MAX_TIMEOUT, Model, OperationSpec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import Capabilities, HealthLevel, HealthResult, Statistics, Status
from gtsdk.wire import SealedData

R = TypeVar("R", bound=Model)
Q = TypeVar("Q", bound=Model)

#: a health level by enum member or by its wire value
Level = HealthLevel | Literal["internal", "external", "interactive"]
#: a request given to a generic call: its model, or its fields by wire or Python name
RequestLike = Model | Mapping[str, Any] | None


class Caller(Protocol):
    """What a synchronous facade calls: :class:`gtsdk.Terminal` and :class:`gtsdk.client.Client`.

    Every *timeout* is in seconds.
    """

    def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
             request_id: str | None = None) -> Model: ...

    def status(self, module: str) -> Status: ...

    def capabilities(self, module: str) -> Capabilities: ...

    def statistics(self, module: str) -> Statistics: ...

    def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
               ) -> HealthResult: ...

    def cancel(self, module: str, request_id: str) -> bool: ...


class AsyncCaller(Protocol):
    """What an asynchronous facade awaits: ``Terminal.aio`` and :class:`gtsdk.client.AsyncClient`."""

    async def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
                   request_id: str | None = None) -> Model: ...

    async def status(self, module: str) -> Status: ...

    async def capabilities(self, module: str) -> Capabilities: ...

    async def statistics(self, module: str) -> Statistics: ...

    async def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
                     ) -> HealthResult: ...

    async def cancel(self, module: str, request_id: str) -> bool: ...


# ---- helpers of the generated methods --------------------------------------------------------------------
def ms(seconds: float) -> int:
    """Seconds (the Python API) to the milliseconds a contract field carries on the wire."""
    return round(seconds * 1000)


def check_timeout(timeout: float | None) -> None:
    """A call's timeout: seconds, above 0 and at most :data:`~gtsdk.driver.MAX_TIMEOUT`."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT):
        raise GtsdkError(ErrorCode.INVALID_DATA, f"timeout is in seconds, above 0 and at most {MAX_TIMEOUT:g}",
                         field="timeout")


def build(model: type[Q], fields: dict[str, Any], renamed: Mapping[str, str] | None = None) -> Q:
    """The request model from a facade's keyword arguments; a bad value is ``invalidData`` naming the
    argument as the caller wrote it (*renamed*: model field → argument, for the seconds arguments)."""
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        if loc and renamed and loc[0] in renamed:
            loc[0] = renamed[loc[0]]
        raise GtsdkError(ErrorCode.INVALID_DATA, str(err.get("msg", "invalid")), field=".".join(loc) or None) from None


def expect(out: Model, result: type[R], module: str, op: str) -> R:
    """The result of ``module.op`` as its contract type; a sealed result is ``sealingMismatch``."""
    if isinstance(out, result):
        return out
    if isinstance(out, SealedData):
        raise GtsdkError(ErrorCode.SEALING_MISMATCH,
                         f"{module}.{op}: the service sealed this result for the app's recipient key; "
                         f"call {op}_sealed()")
    raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"{module}.{op} returned {type(out).__name__}, not {result.__name__}")


def expect_sealed(out: Model, module: str, op: str) -> SealedData:
    """The sealed result of ``module.op``; a clear result is ``sealingMismatch`` (nothing is sealed for
    an app without a recipient key)."""
    if isinstance(out, SealedData):
        return out
    raise GtsdkError(ErrorCode.SEALING_MISMATCH,
                     f"{module}.{op}: the service returned this result unsealed (no recipient key is configured "
                     f"for this app); call {op}()")


# ---- the facade bases ------------------------------------------------------------------------------------
class ModuleFacade:
    """Queries every module answers, on a synchronous caller."""

    __slots__ = ("_caller", "module")

    def __init__(self, caller: Caller, module: str) -> None:
        self._caller = caller
        #: the module id (clause 8.4)
        self.module = module

    def status(self) -> Status:
        """XFS4IoT device state, answered from cache without queuing."""
        return self._caller.status(self.module)

    def capabilities(self) -> Capabilities:
        """Each operation with its version, and the device information."""
        return self._caller.capabilities(self.module)

    def statistics(self) -> Statistics:
        """UnifiedPOS-style counters since start (or the last reset)."""
        return self._caller.statistics(self.module)

    def health(self, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None) -> HealthResult:
        """UnifiedPOS checkHealth at *level*; *timeout* in seconds."""
        return self._caller.health(self.module, level, timeout=timeout)

    def cancel(self, request_id: str) -> bool:
        """Cancel the queued or running operation with *request_id*; False when there is none."""
        return self._caller.cancel(self.module, request_id)


class AsyncModuleFacade:
    """Queries every module answers, on an asynchronous caller."""

    __slots__ = ("_caller", "module")

    def __init__(self, caller: AsyncCaller, module: str) -> None:
        self._caller = caller
        self.module = module

    async def status(self) -> Status:
        return await self._caller.status(self.module)

    async def capabilities(self) -> Capabilities:
        return await self._caller.capabilities(self.module)

    async def statistics(self) -> Statistics:
        return await self._caller.statistics(self.module)

    async def health(self, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None) -> HealthResult:
        return await self._caller.health(self.module, level, timeout=timeout)

    async def cancel(self, request_id: str) -> bool:
        return await self._caller.cancel(self.module, request_id)


class Module(ModuleFacade):
    """A generic handle on any module, for modules unknown at type-check time (``t.module("x")``).

    ``call`` is typed by the operation's spec when given one (``handle.call(SPEC.operations["read"], req)``
    returns that operation's result type); by name it returns the base :class:`~gtsdk.driver.Model`
    (over HTTPS possibly a :class:`~gtsdk.wire.SealedData`).
    """

    __slots__ = ()

    @overload
    def call(self, op: OperationSpec[Q, R], request: Q | Mapping[str, Any] | None = None, *,
             timeout: float | None = None, request_id: str | None = None) -> R: ...

    @overload
    def call(self, op: str, request: RequestLike = None, *, timeout: float | None = None,
             request_id: str | None = None) -> Model: ...

    def call(self, op: OperationSpec[Any, Any] | str, request: RequestLike = None, *, timeout: float | None = None,
             request_id: str | None = None) -> Model:
        if isinstance(op, str):
            return self._caller.call(self.module, op, request, timeout=timeout, request_id=request_id)
        out = self._caller.call(self.module, op.name, request, timeout=timeout, request_id=request_id)
        result: type[Model] = op.result
        return expect(out, result, self.module, op.name)


class AsyncModule(AsyncModuleFacade):
    """The asynchronous generic handle (``t.aio.module("x")``, ``AsyncClient.module("x")``)."""

    __slots__ = ()

    @overload
    async def call(self, op: OperationSpec[Q, R], request: Q | Mapping[str, Any] | None = None, *,
                   timeout: float | None = None, request_id: str | None = None) -> R: ...

    @overload
    async def call(self, op: str, request: RequestLike = None, *, timeout: float | None = None,
                   request_id: str | None = None) -> Model: ...

    async def call(self, op: OperationSpec[Any, Any] | str, request: RequestLike = None, *,
                   timeout: float | None = None, request_id: str | None = None) -> Model:
        if isinstance(op, str):
            return await self._caller.call(self.module, op, request, timeout=timeout, request_id=request_id)
        out = await self._caller.call(self.module, op.name, request, timeout=timeout, request_id=request_id)
        result: type[Model] = op.result
        return expect(out, result, self.module, op.name)
