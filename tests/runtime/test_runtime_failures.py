"""Every driver exception the runtime carries on after is logged — its type and place, never its text (which
may hold personal data) — and the module keeps serving."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from gtsdk.driver import DeviceInfo, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import lights
from gtsdk.runtime import Terminal, parse_config, registry

SECRET = "110101199003071234"


class Grumpy(lights.LightsDriver):
    """Works, but every optional hook raises with personal data in the message."""

    name = "grumpy"
    poll_interval = 0.01

    def _boom(self) -> Any:
        raise RuntimeError(f"holder {SECRET} upset the board")

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        self._boom()

    def device_info(self) -> DeviceInfo:
        return self._boom()  # type: ignore[no-any-return]

    def features(self) -> dict[str, Any]:
        return self._boom()  # type: ignore[no-any-return]

    def status_detail(self) -> dict[str, Any]:
        return self._boom()  # type: ignore[no-any-return]

    def poll(self, ctx: OpContext) -> None:
        self._boom()

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "on"})

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._boom()  # type: ignore[no-any-return]  # an operation that crashes

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "off"})


registry.register("lights", "grumpy", Grumpy)


def test_swallowed_driver_exceptions_are_logged_without_their_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gtsdk.runtime")
    t = Terminal(parse_config({"modules": {"lights": {"driver": "grumpy", "reconnect_interval": 0.05}}}))
    with t:
        t.events.subscribe(lambda ev: (_ for _ in ()).throw(ValueError(SECRET)))  # a listener that fails too
        end = time.monotonic() + 5
        while time.monotonic() < end and "poll raised" not in caplog.text:
            time.sleep(0.02)
        assert t.lights.status().detail == {} and t.lights.capabilities().features == {}
        assert t.lights.on(light="a").states == {"a": "on"}  # still serving
    for what in ("status_detail", "features", "device_info", "disconnect", "poll", "an event listener"):
        assert f"{what} raised" in caplog.text or f"{what} (" in caplog.text, what
    assert "RuntimeError at " in caplog.text and "test_runtime_failures.py" in caplog.text
    assert SECRET not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_an_operation_that_raises_is_internal_error_logged_by_type_and_place(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gtsdk.runtime")
    t = Terminal(parse_config({"modules": {"lights": {"driver": "grumpy", "reconnect_interval": 0.05}}}))
    with t:
        with pytest.raises(GtsdkError) as e:
            t.lights.flash(light="a", period=0.5)
        assert e.value.code == ErrorCode.INTERNAL_ERROR and SECRET not in str(e.value.to_dict())
        assert t.lights.on(light="a").states == {"a": "on"}  # still serving
    line = next(r.getMessage() for r in caplog.records if "flash raised" in r.getMessage())
    assert "RuntimeError at " in line and "test_runtime_failures.py" in line and SECRET not in caplog.text

