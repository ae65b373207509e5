"""8.4 k) 传感器 — sensors: read (获取传感器状态数据); alarms as events (9.1.1.1 b)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, SettingsT, operations


class Reading(Model):
    name: str
    value: float | bool
    unit: str = ""
    time: datetime


class SensorValues(Model):
    readings: list[Reading]
    alarms: list[str] = Field(default_factory=list, description="active alarms, e.g. tamperOpen, powerLost")


class SensorsDriver(Driver[SettingsT], abc.ABC):
    module = "sensors"

    @abc.abstractmethod
    def read(self, request: Request, ctx: OpContext) -> SensorValues: ...


SPEC = ModuleSpec(
    id="sensors",
    clause="8.4 k)",
    title_zh="传感器",
    title_en="Sensors",
    driver_class=SensorsDriver,
    operations=operations(
        OperationSpec("read", Request, SensorValues, summary="获取传感器状态数据", needs_open=False),
    ),
    events=("alarm", "alarmCleared"),
)


class _Recorder(Protocol):
    def record(self, **row: Any) -> None: ...


class _Events(Protocol):
    def subscribe(self, fn: Callable[[Any], None], modules: Any = None) -> Callable[[], None]: ...


def audit_alarms(events: _Events, audit: _Recorder) -> Callable[[], None]:
    """Write every sensor ``alarm`` / ``alarmCleared`` event to the audit log (9.1.1.1 b).

    ``audit_alarms(terminal.events, audit_log)`` — one row per event: operation ``alarm`` or
    ``alarmCleared``, code = the alarm name (``tamperOpen``, ``powerLost`` …), request id
    ``<alarm>@<since>`` so raise and clear of one episode share it.  Returns the unsubscribe function.
    """

    def on_event(ev: Any) -> None:
        if ev.type not in ("alarm", "alarmCleared"):
            return
        data = ev.data
        name = str(data.get("alarm", "?"))
        duration = data.get("durationS")
        audit.record(time=ev.time.isoformat(timespec="milliseconds"), module=ev.module, operation=ev.type,
                     request_id=f"{name}@{data.get('since', '')}", code=name,
                     duration_ms=float(duration) * 1000.0 if isinstance(duration, int | float) else 0.0,
                     caller="restored" if data.get("restored") else None)

    return events.subscribe(on_event, ["sensors"])
