"""Shared parts of the 14 module contracts (clause 8.4) — private: import them from
:mod:`gtsdk.driver` (drivers) or :mod:`gtsdk.modules` (apps).

A module contract is a :class:`ModuleSpec`: its id, its clause, its operations
(each with typed request and result models and a version) and the abstract
driver class a vendor implements.  The runtime owns everything else: state
checks, the per-device queue, timeouts, cancel, events and statistics (the
JavaPOS-SPF split: the vendor writes only the device-specific part).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from typing_extensions import TypeVar

from gtsdk.errors import ErrorCode, GtsdkError


class Model(BaseModel):
    """Base of every wire model: camelCase on the wire, snake_case in Python,
    unknown fields rejected (clause 9.2.2 b parameter filtering)."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )

    def wire(self) -> dict[str, Any]:
        """JSON-ready dict with wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Empty(Model):
    """Result with no fields."""


class DeviceState(StrEnum):
    """XFS4IoT Common.Status device states."""

    ONLINE = "online"
    OFFLINE = "offline"
    POWER_OFF = "powerOff"
    NO_DEVICE = "noDevice"
    HARDWARE_ERROR = "hardwareError"
    USER_ERROR = "userError"
    DEVICE_BUSY = "deviceBusy"
    FRAUD_ATTEMPT = "fraudAttempt"
    POTENTIAL_FRAUD = "potentialFraud"
    STARTING = "starting"


class HealthLevel(StrEnum):
    """UnifiedPOS checkHealth levels."""

    INTERNAL = "internal"
    EXTERNAL = "external"
    INTERACTIVE = "interactive"


class DeviceInfo(Model):
    vendor: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    driver: str = ""
    driver_version: str = ""


class OperationInfo(Model):
    name: str
    version: str
    queued: bool = True
    clause: str = ""


class Capabilities(Model):
    module: str
    clause: str
    operations: list[OperationInfo]
    device: DeviceInfo
    features: dict[str, Any] = Field(default_factory=dict, description="module-specific capabilities")


class Status(Model):
    module: str
    state: DeviceState
    opened: bool
    busy: bool = False
    reason: str = Field(default="", description="why the device is not online (no personal data)")
    detail: dict[str, Any] = Field(default_factory=dict, description="module-specific status (paper, door, ...)")
    last_error: str | None = None
    since: datetime | None = None


class HealthRequest(Model):
    level: HealthLevel = HealthLevel.INTERNAL


class HealthResult(Model):
    level: HealthLevel
    ok: bool
    text: str = ""
    checks: dict[str, bool] = Field(default_factory=dict)


class Statistics(Model):
    """UnifiedPOS-style counters."""

    module: str
    operations: int = 0
    failures: int = 0
    by_operation: dict[str, int] = Field(default_factory=dict)
    by_error: dict[str, int] = Field(default_factory=dict)
    total_ms: float = 0.0
    last_error: str | None = None
    since: datetime | None = None


#: the longest operation timeout anyone may ask for (seconds; 600 000 ms on the wire)
MAX_TIMEOUT = 600.0


class Request(Model):
    """Base of every operation request: the fields the runtime consumes itself.

    ``timeout`` is the wire field, in milliseconds like every time on the wire; Python callers
    give ``timeout=`` in seconds to the call instead (``t.idcard.read(timeout=20)``)."""

    timeout: int | None = Field(default=None, ge=1, le=int(MAX_TIMEOUT * 1000), description="operation timeout in ms")


RequestT = TypeVar("RequestT", bound=Model, default=Model)
ResultT = TypeVar("ResultT", bound=Model, default=Model)


@dataclass(frozen=True)
class OperationSpec(Generic[RequestT, ResultT]):
    """One operation of a contract: typed by its request and result models."""

    name: str
    request: type[RequestT]
    result: type[ResultT]
    version: str = "1.0"
    summary: str = ""
    #: needs the device to have been opened (modules with open/close operations)
    needs_open: bool = True
    #: seconds
    default_timeout: float = 30.0
    #: the result carries personal data (clause 9.3.2): sealed for the app's recipient key when one is set
    personal_data: bool = False


@dataclass(frozen=True)
class ModuleSpec:
    id: str
    clause: str
    title_zh: str
    title_en: str
    driver_class: type  # the abstract driver class (mypy rejects abstract classes as type[Driver])
    operations: Mapping[str, OperationSpec]
    events: tuple[str, ...] = ()
    #: operations that open/close the device session (None when the module has none)
    open_op: str | None = None
    close_op: str | None = None

    def operation(self, name: str) -> OperationSpec:
        try:
            return self.operations[name]
        except KeyError:
            raise GtsdkError(ErrorCode.INVALID_COMMAND, f"{self.id} has no operation {name!r}") from None


#: guards the making of an OpContext's wake-up event against a cancel (held for an instant)
_WAKE_LOCK = threading.Lock()


class OpContext:
    """What a driver sees of one running operation: its deadline and its cancel flag.

    Drivers doing blocking I/O use :meth:`remaining` as their I/O timeout and call
    :meth:`check` (or :meth:`sleep`) between steps so cancel and timeout take effect.
    """

    def __init__(self, request_id: str, timeout: float, emit: Callable[[str, dict[str, Any]], None] | None = None):
        self.request_id = request_id
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self._cancelled = False
        # made when a driver first sleeps: most operations never do, and an Event costs a Condition and two locks
        self._wake: threading.Event | None = None
        self._reason = ErrorCode.CANCELED
        self._emit = emit

    def cancel(self, reason: ErrorCode = ErrorCode.CANCELED) -> None:
        self._reason = reason
        with _WAKE_LOCK:
            self._cancelled = True
            wake = self._wake
        if wake is not None:
            wake.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise ``canceled``/``timeOut`` if the operation should stop now."""
        if self._cancelled:
            raise GtsdkError(self._reason, "operation stopped")
        if time.monotonic() >= self.deadline:
            raise GtsdkError(ErrorCode.TIME_OUT, "operation deadline passed")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early (and raising) on cancel or deadline."""
        end = min(time.monotonic() + seconds, self.deadline)
        with _WAKE_LOCK:
            wake = self._wake
            if wake is None:
                wake = self._wake = threading.Event()
                if self._cancelled:
                    wake.set()
        wake.wait(max(0.0, end - time.monotonic()))
        self.check()

    def emit(self, event: str, data: dict[str, Any] | None = None) -> None:
        if self._emit is not None:
            self._emit(event, data or {})


class DriverSettings(Model):
    """Base of every driver's settings model (the keys under ``[modules.<id>]``)."""


SettingsT = TypeVar("SettingsT", bound=DriverSettings, default=DriverSettings)


EventSink = Callable[[str, dict[str, Any]], None]
StateSink = Callable[[DeviceState, str], None]


def _noop_event(event: str, data: dict[str, Any]) -> None:
    pass


def _noop_state(state: DeviceState, reason: str) -> None:
    pass


class Driver(abc.ABC, Generic[SettingsT]):
    """Base of every driver.  Subclass the module's driver class, not this one, with your
    settings model as its type argument::

        class AcmeLights(LightsDriver[AcmeSettings]):   # self.settings is an AcmeSettings
            name = "acme"

    The type argument also sets :attr:`settings_model` (what the runtime validates the
    module's configuration table with), so the settings type is written once.

    Lifecycle (UnifiedPOS open → claim → enable, simplified): the runtime calls
    :meth:`connect` at start and on ``open``, :meth:`disconnect` on ``close`` and
    at shutdown, and :meth:`connect` again to recover after a failure.  All
    calls except :meth:`status_detail` come from one worker thread at a time.
    """

    module: ClassVar[str] = ""
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    settings_model: ClassVar[type[DriverSettings]] = DriverSettings
    #: seconds between :meth:`poll` calls while idle (None: never)
    poll_interval: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _settings_argument(cls)
        if declared is None:
            return
        if "settings_model" not in cls.__dict__:
            cls.settings_model = declared
        elif not issubclass(cls.settings_model, declared):
            raise TypeError(f"{cls.__qualname__}.settings_model {cls.settings_model.__name__} is not the type argument "
                            f"{declared.__name__}")

    def __init__(self, settings: SettingsT, emit: EventSink | None = None, set_state: StateSink | None = None):
        self.settings: SettingsT = settings
        self.emit: EventSink = emit or _noop_event
        self.set_state: StateSink = set_state or _noop_state

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the transport and make sure the device answers; raise ``noDevice`` if not."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Release the transport; must not raise."""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(driver=self.name, driver_version=self.version)

    def features(self) -> dict[str, Any]:
        """Module-specific capabilities."""
        return {}

    def status_detail(self) -> dict[str, Any]:
        """Cached module-specific status; called from any thread, must not do I/O."""
        return {}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        return HealthResult(level=level, ok=True, text="device answers")

    def poll(self, ctx: OpContext) -> None:
        """Periodic work while idle (card presence, sensor thresholds)."""

    def sim_settings_note(self) -> str:
        return ""


def _settings_argument(cls: type) -> type[DriverSettings] | None:
    """The settings model given as type argument in ``class X(SomeDriver[Settings])``, if any."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Driver):
            for arg in get_args(base):
                if isinstance(arg, type) and issubclass(arg, DriverSettings):
                    return arg
    return None


def operations(*specs: OperationSpec) -> dict[str, OperationSpec]:
    return {s.name: s for s in specs}

