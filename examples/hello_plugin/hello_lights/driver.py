"""Light board driver "hello" for gtsdk (8.4 j) 灯控板): a virtual board kept in memory.

The smallest complete plugin: it shows the entry point, a settings model, the
contract's three operations and a catalogue error for an unknown light.
"""

from __future__ import annotations

from pydantic import Field

from gtsdk.driver import DriverSettings, ErrorCode, GtsdkError, OpContext
from gtsdk.modules import lights


class Settings(DriverSettings):
    """The keys under [modules.lights] in the terminal config (besides driver/timeout)."""

    names: list[str] = Field(default_factory=lambda: ["idcard", "receipt", "qr"], description="the board's lights")


class HelloLightsDriver(lights.LightsDriver[Settings]):  # the type argument is the settings model
    name = "hello"
    version = "0.1.0"

    def connect(self) -> None:
        self.states = dict.fromkeys(self.settings.names, "off")

    def disconnect(self) -> None:
        pass

    def _set(self, light: str, value: str) -> lights.Lights:
        if light not in self.states:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown light {light!r}", field="light")
        self.states[light] = value
        return lights.Lights(states=dict(self.states))

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "on")

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "flash")

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "off")
