"""The public API for driver authors: what a vendor plugin imports (see docs/writing-a-driver.md).

A driver subclasses its module's abstract driver class (e.g. :class:`gtsdk.modules.lights.LightsDriver`),
declares a :class:`DriverSettings` model for its configuration keys and implements the device-specific
operations; the runtime owns state checks, the command queue, timeouts, cancel, events and statistics.
Everything a driver needs from the framework is importable from here.
"""

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules._base import (
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
    StateSink,
    Statistics,
    Status,
    operations,
)

__all__ = [
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
    "StateSink",
    "Statistics",
    "Status",
    "operations",
]
