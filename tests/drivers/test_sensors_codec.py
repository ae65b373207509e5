"""Sensor register map and alarm rules (pure), clause 9.1.1.1 b."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.modbus_sensors import codec as sc
from gtsdk.errors import GtsdkError
from gtsdk.transport import modbus_frames as rtu


def test_default_map_is_one_read() -> None:
    assert sc.plan_reads(sc.DEFAULT_POINTS) == [("input", 0, 10)]
    # the frame for it is a plain FC04 read
    assert rtu.read_request(1, 4, 0, 10) == bytes.fromhex("01 04 00 00 00 0A 70 0D")


def test_plan_reads_splits_far_points_and_tables() -> None:
    pts = {"a": sc.Point(address=0), "b": sc.Point(address=5), "c": sc.Point(address=100),
           "d": sc.Point(table="discrete", address=3, kind="bool"), "e": sc.Point(table="holding", address=7)}
    assert sc.plan_reads(pts) == [("input", 0, 6), ("input", 100, 1), ("holding", 7, 1), ("discrete", 3, 1)]


def test_decode_scaling_sign_and_invert() -> None:
    pts = {"t": sc.Point(address=0, signed=True, scale=0.1), "door": sc.Point(address=1, kind="bool", invert=True)}
    vals = sc.decode(pts, {("input", 0): [0xFF9C, 0]})  # -100 → -10.0 °C; NC switch reading 0 = open
    assert vals == {"t": -10.0, "door": True}
    with pytest.raises(GtsdkError) as e:
        sc.decode(pts, {("input", 0): [1]})
    assert e.value.code == "communicationError"


def test_threshold_hysteresis_and_edges() -> None:
    rules = {"overheated": sc.AlarmRule(sensor="t", above=55, hysteresis=5),
             "powerLost": sc.AlarmRule(sensor="mains", equals=False)}
    assert sc.evaluate(rules, {"t": 56.0, "mains": True}, set()) == (["overheated"], [])
    assert sc.evaluate(rules, {"t": 52.0, "mains": True}, {"overheated"}) == ([], [])  # inside hysteresis
    assert sc.evaluate(rules, {"t": 49.9, "mains": False}, {"overheated"}) == (["powerLost"], ["overheated"])
    assert sc.evaluate(rules, {"t": float("nan"), "mains": False}, {"overheated", "powerLost"}) == ([], [])


@pytest.mark.parametrize("rule", [sc.AlarmRule(sensor="nope", equals=True), sc.AlarmRule(sensor="t"),
                                  sc.AlarmRule(sensor="t", above=1, below=0), sc.AlarmRule(sensor="t", equals=True),
                                  sc.AlarmRule(sensor="door", above=1)])
def test_bad_rules_are_config_errors(rule: sc.AlarmRule) -> None:
    pts = {"t": sc.Point(address=0), "door": sc.Point(address=1, kind="bool")}
    with pytest.raises(GtsdkError) as e:
        sc.check_rules(pts, {"x": rule})
    assert e.value.code == "configError"


@given(limit=st.floats(-50, 100), hyst=st.floats(0, 20),
       series=st.lists(st.floats(-100, 200, allow_nan=False), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_alarm_state_machine_never_flaps_inside_the_band(limit: float, hyst: float, series: list[float]) -> None:
    rules = {"hot": sc.AlarmRule(sensor="t", above=limit, hysteresis=hyst)}
    active: set[str] = set()
    for v in series:
        raised, cleared = sc.evaluate(rules, {"t": v}, active)
        assert not (raised and cleared)
        if raised:
            assert v > limit
            active.add("hot")
        if cleared:
            assert v <= limit - hyst
            active.discard("hot")
        assert ("hot" in active) == (v > limit or ("hot" in active and v > limit - hyst))


@given(regs=st.lists(st.integers(0, 0xFFFF), min_size=10, max_size=10))
@settings(max_examples=200, deadline=None)
def test_any_register_values_decode(regs: list[int]) -> None:
    vals = sc.decode(sc.DEFAULT_POINTS, {("input", 0): regs})
    assert set(vals) == set(sc.DEFAULT_POINTS)
    assert -3276.8 <= float(vals["temperature"]) <= 3276.7
    raised, cleared = sc.evaluate(sc.DEFAULT_ALARMS, vals, set())
    assert not cleared and set(raised) <= set(sc.DEFAULT_ALARMS)
