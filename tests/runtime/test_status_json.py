"""``Device.status_json``: the bytes of ``status()`` on the wire, reused only while nothing in them changed.

``GET /v1/<module>/status`` (clause 8.4) answers from these bytes; they must be exactly what the model would
serialise, whatever the driver's detail does between two queries.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.driver import DeviceState, OpContext
from gtsdk.modules import lights
from gtsdk.runtime import Terminal, parse_config, registry
from gtsdk.runtime.device import Device


class Detailed(lights.LightsDriver):
    """A light board whose status detail the test sets, and whose ``on`` can be held running."""

    name = "detailed"
    detail: dict[str, Any] = {}
    hold = threading.Event()

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def status_detail(self) -> dict[str, Any]:
        return Detailed.detail  # the driver's own dict, handed out as is

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        Detailed.hold.wait(5)
        return lights.Lights(states={request.light: "on"})

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        raise NotImplementedError

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return lights.Lights(states={request.light: "off"})


registry.register("lights", "detailed", Detailed)


def _model_bytes(dev: Device) -> bytes:
    return dev.status().model_dump_json(by_alias=True, exclude_none=True).encode()


def _terminal() -> Terminal:
    return Terminal(parse_config({"modules": {"lights": {"driver": "detailed"}}}))


def _online(t: Terminal) -> Device:
    dev = t.device("lights")
    end = time.monotonic() + 5
    while dev.status().state.value != "online" and time.monotonic() < end:
        time.sleep(0.01)
    return dev


def test_status_json_follows_every_change_of_the_status() -> None:
    Detailed.detail = {}
    Detailed.hold.set()
    with _terminal() as t:
        dev = _online(t)
        first = dev.status_json()
        assert first == _model_bytes(dev) and dev.status_json() is first  # reused while nothing changed
        details: list[dict[str, Any]] = [{"paper": 1}, {"paper": True}, {"paper": 1.0}, {"door": "open", "paper": 1.0},
                                         {"paper": 1.0, "door": "open"}, {"nested": {"a": [1, 2]}}]
        for detail in details:
            Detailed.detail = detail
            assert dev.status_json() == _model_bytes(dev), detail
        Detailed.detail["nested"]["a"].append(3)  # changed in place by the driver
        assert b"[1,2,3]" in dev.status_json() and dev.status_json() == _model_bytes(dev)
        Detailed.hold.clear()
        job = threading.Thread(target=lambda: t.lights.on(light="hall"))
        job.start()
        try:
            end = time.monotonic() + 5
            while b'"busy":true' not in dev.status_json() and time.monotonic() < end:
                time.sleep(0.01)
            assert dev.status_json() == _model_bytes(dev) and b'"busy":true' in dev.status_json()
        finally:
            Detailed.hold.set()
            job.join(5)
        assert b'"busy":false' in dev.status_json() and dev.status_json() == _model_bytes(dev)
        assert dev.driver is not None
        dev.driver.set_state(DeviceState.HARDWARE_ERROR, "cover open")  # the driver reports a fault
        assert b'"state":"hardwareError"' in dev.status_json() and b"cover open" in dev.status_json()
        assert dev.status_json() == _model_bytes(dev)


_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=3)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                                           inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=4), _json, max_size=4), min_size=1, max_size=4))
def test_status_json_equals_the_model_for_any_detail_sequence(details: list[dict[str, Any]]) -> None:
    Detailed.hold.set()
    dev = _STARTED.device("lights")
    for detail in details:
        Detailed.detail = detail
        assert dev.status_json() == _model_bytes(dev)


_STARTED = _terminal()


class _Uncopyable(str):
    """Serialised as a string, but refuses to be copied."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        raise TypeError("not copyable")


def test_a_detail_that_cannot_be_copied_is_answered_not_kept() -> None:
    dev = _STARTED.device("lights")
    Detailed.detail = {"paper": 1}
    kept = dev.status_json()
    Detailed.detail = {"paper": 1, "odd": [_Uncopyable("x")]}
    assert dev.status_json() == _model_bytes(dev) and b'"odd":["x"]' in dev.status_json()
    Detailed.detail = {"paper": 1}
    assert dev.status_json() == kept == _model_bytes(dev)
