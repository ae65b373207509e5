"""8.4 k) 传感器 — sensors: read (获取传感器状态数据); alarms as events (9.1.1.1 b)."""

from __future__ import annotations

import abc
from datetime import datetime

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, operations


class Reading(Model):
    name: str
    value: float | bool
    unit: str = ""
    time: datetime


class SensorValues(Model):
    readings: list[Reading]
    alarms: list[str] = Field(default_factory=list, description="active alarms, e.g. tamperOpen, powerLost")


class SensorsDriver(Driver, abc.ABC):
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
