"""In-process drivers used to test the runtime itself (not device protocols)."""

from __future__ import annotations

import threading
import time
from typing import Any

from gtsdk.driver import DriverSettings, Empty, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import idcard, lights
from gtsdk.runtime import registry


class LightSettings(DriverSettings):
    delay: float = 0.0
    channels: int = 4


class RecordingLights(lights.LightsDriver):
    """Keeps light states in memory and records the order of calls."""

    name = "recording"
    settings_model = LightSettings
    instances: list[RecordingLights] = []

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.calls: list[str] = []
        self.present = True
        self.hang = threading.Event()
        self.connects = 0
        self.states: dict[str, str] = {}
        RecordingLights.instances.append(self)

    def connect(self) -> None:
        if not self.present:
            raise GtsdkError(ErrorCode.NO_DEVICE, "board not answering")
        self.connects += 1

    def disconnect(self) -> None:
        pass

    def _set(self, light: str, value: str, ctx: OpContext) -> lights.Lights:
        self.calls.append(f"start {light}")
        if light == "hang":
            self.hang.wait(30)  # ignores ctx on purpose: a broken driver
        if light == "boom":
            raise RuntimeError("secret 110101199003071234 in a driver message")
        if not self.present:
            raise GtsdkError(ErrorCode.NO_DEVICE, "board vanished")
        ctx.sleep(self.settings.delay)  # type: ignore[attr-defined]
        self.states[light] = value
        self.calls.append(f"end {light}")
        return lights.Lights(states=dict(self.states))

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "on", ctx)

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "flash", ctx)

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "off", ctx)


class CardReader(idcard.IdCardDriver):
    """Emits card events from poll(); read waits for a card until the deadline."""

    name = "cards"
    poll_interval = 0.02

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.card_present = False
        self._seen = False

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def poll(self, ctx: OpContext) -> None:
        if self.card_present != self._seen:
            self._seen = self.card_present
            self.emit("cardInserted" if self.card_present else "cardRemoved", {})

    def read(self, request: idcard.ReadRequest, ctx: OpContext) -> idcard.IdCardData:
        while not self.card_present:
            ctx.sleep(0.01)
        raise GtsdkError(ErrorCode.INVALID_DATA, "test card has a bad check digit")


def register_all() -> None:
    registry.register("lights", "recording", RecordingLights)
    registry.register("idcard", "cards", CardReader)


def wait_for(cond: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


__all__ = ["CardReader", "Empty", "RecordingLights", "register_all", "wait_for"]
