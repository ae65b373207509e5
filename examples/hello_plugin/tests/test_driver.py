"""Runs the driver through the gtsdk runtime: contract shape, lifecycle, error codes."""

from __future__ import annotations

import pytest
from hello_lights.driver import HelloLightsDriver

from gtsdk.conformance.samples import sample
from gtsdk.errors import GtsdkError, info
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal, parse_config, registry


def test_entry_point_is_registered() -> None:
    assert registry.load("lights", "hello") is HelloLightsDriver


@pytest.mark.parametrize("op", ['on', 'flash', 'off'])
def test_operation_returns_result_or_catalogue_error(op: str) -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "hello"}}})
    with Terminal(cfg, strict=True) as t:
        spec = MODULES["lights"].operations[op]
        caps = t.lights.capabilities()
        assert op in {o.name for o in caps.operations}
        request = spec.request.model_validate(sample("lights", op))  # a minimal valid request
        try:
            result = t.call("lights", op, request, timeout=5)
        except GtsdkError as e:
            assert info(e.code).code == e.code  # a catalogue code, never a raw exception
        else:
            assert isinstance(result, spec.result)


def test_lights_follow_commands_and_unknown_light_is_invalid_data() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "hello", "names": ["idcard", "qr"]}}})
    with Terminal(cfg, strict=True) as t:
        assert t.lights.on(light="idcard").states == {"idcard": "on", "qr": "off"}
        assert t.lights.flash(light="qr", period=0.4).states["qr"] == "flash"
        assert t.lights.off(light="idcard").states["idcard"] == "off"
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="printer")
        assert e.value.code == "invalidData" and e.value.field == "light"
