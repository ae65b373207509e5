"""The public API for driver authors: everything a vendor plugin imports from the framework.

A driver implements one module contract of clause 8.4.  It subclasses that module's abstract
driver class (``gtsdk.modules.<id>.<Module>Driver``), parameterised by its own settings model,
and implements only the device-specific operations; the runtime owns state checks, the command
queue, timeouts, cancel, events and statistics (docs/writing-a-driver.md)::

    from pydantic import Field

    from gtsdk.driver import DriverSettings, OpContext
    from gtsdk.modules.lights import LightRequest, Lights, LightsDriver

    class AcmeSettings(DriverSettings):
        port: str = Field(description="serial port of the light board")

    class AcmeLights(LightsDriver[AcmeSettings]):
        name = "acme"

        def connect(self) -> None:
            self.link = open_board(self.settings.port)    # self.settings is an AcmeSettings

        def on(self, request: LightRequest, ctx: OpContext) -> Lights: ...

What is here:

- :class:`Driver` (generic over its :class:`DriverSettings`), :class:`OpContext` (deadline,
  cancel, events of one running operation), :class:`HealthLevel`, :class:`DeviceState`,
  :class:`DeviceInfo`, :class:`HealthResult` — the driver side of the contract;
- :class:`Model` and :class:`Request`/:class:`Empty` — bases of request and result models;
- :class:`ModuleSpec`/:class:`OperationSpec` — contracts, for tools that walk them;
- :class:`GtsdkError`/:class:`ErrorCode` and :func:`register_vendor_code` — every failure a
  driver reports is a catalogue code (docs/errors.md);
- :func:`swallowed`/:func:`carrying_on` — log an exception the driver carries on after (a release
  call on a vanished device), by type and place, never by its text.

Time is in seconds (float) everywhere in Python: :meth:`OpContext.remaining`,
:meth:`OpContext.sleep`, :attr:`Driver.poll_interval`.
"""

from gtsdk.errors import ErrorCode, GtsdkError, register_vendor_code
from gtsdk.failures import carrying_on, swallowed
from gtsdk.modules._base import (
    MAX_TIMEOUT,
    Capabilities,
    DeviceInfo,
    DeviceState,
    Driver,
    DriverSettings,
    Empty,
    EventSink,
    HealthLevel,
    HealthRequest,
    HealthResult,
    Model,
    ModuleSpec,
    OpContext,
    OperationInfo,
    OperationSpec,
    Request,
    RequestT,
    ResultT,
    SettingsT,
    StateSink,
    Statistics,
    Status,
    operations,
)

__all__ = [
    "MAX_TIMEOUT",
    "Capabilities",
    "DeviceInfo",
    "DeviceState",
    "Driver",
    "DriverSettings",
    "Empty",
    "ErrorCode",
    "EventSink",
    "GtsdkError",
    "HealthLevel",
    "HealthRequest",
    "HealthResult",
    "Model",
    "ModuleSpec",
    "OpContext",
    "OperationInfo",
    "OperationSpec",
    "Request",
    "RequestT",
    "ResultT",
    "SettingsT",
    "StateSink",
    "Statistics",
    "Status",
    "carrying_on",
    "operations",
    "register_vendor_code",
    "swallowed",
]
