"""8.4 j) 灯控板 — light board: on (常亮), flash (闪烁), off (关闭)."""

from __future__ import annotations

import abc

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, SettingsT, operations

LightName = Field(max_length=32, pattern=r"^[a-z][a-z0-9_]*$", description="logical light, e.g. idcard, receipt")


class LightRequest(Request):
    light: str = LightName


class FlashRequest(Request):
    light: str = LightName
    period_ms: int = Field(default=500, ge=100, le=10_000)
    duty: float = Field(default=0.5, gt=0, lt=1)


class Lights(Model):
    states: dict[str, str] = Field(description="light → on | flash | off")


class LightsDriver(Driver[SettingsT], abc.ABC):
    module = "lights"

    @abc.abstractmethod
    def on(self, request: LightRequest, ctx: OpContext) -> Lights: ...

    @abc.abstractmethod
    def flash(self, request: FlashRequest, ctx: OpContext) -> Lights: ...

    @abc.abstractmethod
    def off(self, request: LightRequest, ctx: OpContext) -> Lights: ...


SPEC = ModuleSpec(
    id="lights",
    clause="8.4 j)",
    title_zh="灯控板",
    title_en="Light board",
    driver_class=LightsDriver,
    operations=operations(
        OperationSpec("on", LightRequest, Lights, summary="常亮", needs_open=False),
        OperationSpec("flash", FlashRequest, Lights, summary="闪烁", needs_open=False),
        OperationSpec("off", LightRequest, Lights, summary="关闭", needs_open=False),
    ),
)
