"""A light board that answers at once: the device cost out of the service benchmarks (server, oppath)."""

from __future__ import annotations

from gtsdk.driver import OpContext
from gtsdk.modules import lights


class InstantLights(lights.LightsDriver):
    name = "bench"

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "on"})

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "flash"})

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "off"})
