"""Sensor-board register map and alarm rules (pure, no I/O).

A point names one sensor and where it lives on the board (Modbus table, address,
scale, signedness, unit).  :func:`plan_reads` merges the points into as few Modbus
reads as possible, :func:`decode` turns the raw words/bits into values, and
:func:`evaluate` applies the alarm rules (threshold with hysteresis, or a boolean edge)
for clause 9.1.1.1 b) (tamper switch, abnormal power loss → automatic alarm).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.transport import modbus_frames as rtu

Table = Literal["input", "holding", "discrete", "coil"]
FUNCTION: dict[str, int] = {"input": rtu.READ_INPUT_REGISTERS, "holding": rtu.READ_HOLDING_REGISTERS,
                            "discrete": rtu.READ_DISCRETE_INPUTS, "coil": rtu.READ_COILS}


class Point(Model):
    table: Table = "input"
    address: int = Field(ge=0, le=0xFFFF)
    kind: Literal["number", "bool"] = "number"
    scale: float = 1.0
    signed: bool = False
    unit: str = ""
    #: for bool points: the raw 0/1 means the opposite (e.g. a normally-closed door switch)
    invert: bool = False


class AlarmRule(Model):
    sensor: str
    above: float | None = None
    below: float | None = None
    equals: bool | None = None
    #: a threshold alarm clears only this far back inside the limit (no flapping)
    hysteresis: float = Field(0.0, ge=0)
    level: Literal["warning", "critical"] = "critical"


DEFAULT_POINTS: dict[str, Point] = {
    "temperature": Point(address=0, signed=True, scale=0.1, unit="°C"),
    "humidity": Point(address=1, scale=0.1, unit="%RH"),
    "door": Point(address=2, kind="bool"),
    "tamper": Point(address=3, kind="bool"),
    "tilt": Point(address=4, kind="bool"),
    "vibration": Point(address=5, kind="bool"),
    "presence": Point(address=6, kind="bool"),
    "mains": Point(address=7, kind="bool"),
    "ups_battery": Point(address=8, unit="%"),
    "on_battery": Point(address=9, kind="bool"),
}

DEFAULT_ALARMS: dict[str, AlarmRule] = {
    "tamperOpen": AlarmRule(sensor="tamper", equals=True),
    "doorOpen": AlarmRule(sensor="door", equals=True, level="warning"),
    "powerLost": AlarmRule(sensor="mains", equals=False),
    "overheated": AlarmRule(sensor="temperature", above=55.0, hysteresis=5.0),
    "tilted": AlarmRule(sensor="tilt", equals=True),
    "vibration": AlarmRule(sensor="vibration", equals=True, level="warning"),
    "upsLow": AlarmRule(sensor="ups_battery", below=20.0, hysteresis=5.0, level="warning"),
}


def check_rules(points: dict[str, Point], rules: dict[str, AlarmRule]) -> None:
    for name, r in rules.items():
        key = f"alarms.{name}"
        if r.sensor not in points:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{key}: unknown sensor {r.sensor!r}", field=key)
        given = [x for x in (r.above, r.below, r.equals) if x is not None]
        if len(given) != 1:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{key}: give exactly one of above, below, equals", field=key)
        if (r.equals is not None) != (points[r.sensor].kind == "bool"):
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{key}: equals is for bool sensors, above/below for numbers",
                             field=key)


def plan_reads(points: dict[str, Point], max_gap: int = 8) -> list[tuple[str, int, int]]:
    """(table, start, count) reads covering every point; neighbours closer than *max_gap* share a read."""
    out: list[tuple[str, int, int]] = []
    for table in FUNCTION:
        limit = 2000 if table in ("discrete", "coil") else 125
        addrs = sorted({p.address for p in points.values() if p.table == table})
        start = prev = -1
        for a in addrs:
            if start < 0:
                start = prev = a
            elif a - prev <= max_gap and a - start + 1 <= limit:
                prev = a
            else:
                out.append((table, start, prev - start + 1))
                start = prev = a
        if start >= 0:
            out.append((table, start, prev - start + 1))
    return out


def decode(points: dict[str, Point], blocks: dict[tuple[str, int], list[int] | list[bool]]) -> dict[str, float | bool]:
    """Values of every point from the raw *blocks* returned by the reads of :func:`plan_reads`."""
    out: dict[str, float | bool] = {}
    for name, p in points.items():
        raw: int | bool | None = None
        for (table, start), values in blocks.items():
            if table == p.table and start <= p.address < start + len(values):
                raw = values[p.address - start]
                break
        if raw is None:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"sensor {name} missing from the board's answer")
        if p.kind == "bool":
            out[name] = bool(raw) != p.invert
        else:
            v = rtu.to_signed(int(raw)) if p.signed else int(raw)
            out[name] = round(v * p.scale, 6)
    return out


def triggered(rule: AlarmRule, value: float | bool, active: bool) -> bool:
    """Whether *rule* is (still) in alarm for *value*, given whether it was *active* before."""
    if rule.equals is not None:
        return bool(value) == rule.equals
    v = float(value)
    if math.isnan(v):
        return active
    if rule.above is not None:
        return v > rule.above - (rule.hysteresis if active else 0.0)
    assert rule.below is not None
    return v < rule.below + (rule.hysteresis if active else 0.0)


def evaluate(rules: dict[str, AlarmRule], values: dict[str, float | bool],
             active: set[str]) -> tuple[list[str], list[str]]:
    """(raised, cleared) alarm names for new *values*, given the currently *active* ones."""
    raised: list[str] = []
    cleared: list[str] = []
    for name, rule in rules.items():
        if rule.sensor not in values:
            continue
        now = triggered(rule, values[rule.sensor], name in active)
        if now and name not in active:
            raised.append(name)
        elif not now and name in active:
            cleared.append(name)
    return raised, cleared
