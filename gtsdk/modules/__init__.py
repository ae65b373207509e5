"""The 14 module contracts of clause 8.4, by id, and the shapes every module shares (status,
capabilities, health, statistics).  Each contract's models live in ``gtsdk.modules.<id>``;
drivers import the framework side from :mod:`gtsdk.driver`."""

from __future__ import annotations

from gtsdk.modules import (
    a4_printer,
    camera,
    fingerprint,
    idcard,
    imaging,
    keyboard,
    lights,
    microphone,
    qr_scanner,
    receipt_printer,
    sensors,
    signature_pad,
    travel_doc,
    voice,
)
from gtsdk.modules._base import (
    Capabilities,
    DeviceInfo,
    DeviceState,
    Empty,
    HealthLevel,
    HealthRequest,
    HealthResult,
    Model,
    ModuleSpec,
    OperationInfo,
    OperationSpec,
    Request,
    Statistics,
    Status,
)

#: module id → contract, in the order of clause 8.4 a)–n)
MODULES: dict[str, ModuleSpec] = {
    m.SPEC.id: m.SPEC
    for m in (
        idcard,
        travel_doc,
        signature_pad,
        fingerprint,
        camera,
        a4_printer,
        receipt_printer,
        qr_scanner,
        microphone,
        lights,
        sensors,
        imaging,
        voice,
        keyboard,
    )
}

__all__ = [
    "MODULES",
    "Capabilities",
    "DeviceInfo",
    "DeviceState",
    "Empty",
    "HealthLevel",
    "HealthRequest",
    "HealthResult",
    "Model",
    "ModuleSpec",
    "OperationInfo",
    "OperationSpec",
    "Request",
    "Statistics",
    "Status",
]
