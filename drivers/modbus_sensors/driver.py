"""Sensor-board driver (8.4 k): values with units and timestamps; alarms (9.1.1.1 b).

Every :meth:`read` and every idle :meth:`poll` samples the board and applies the alarm
rules.  A rule that trips emits ``alarm``; one that returns to normal emits
``alarmCleared``.  Active alarms are kept in ``<state_dir>/sensors-alarms.json``
(written atomically, no personal data), so an alarm raised before a restart — a door
forced while the service was down is still open, power is still lost — is still listed
after it, and is announced once more with ``restored: true`` on the first sample.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from gtsdk.driver import DeviceInfo, EventSink, HealthLevel, HealthResult, OpContext, Request, StateSink
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.sensors import Reading, SensorsDriver, SensorValues
from gtsdk.transport.modbus import ModbusLine, ModbusSettings

from . import codec

log = logging.getLogger("gtsdk.drivers.modbus_sensors")


class SensorsSettings(ModbusSettings):
    sensors: dict[str, codec.Point] = Field(default_factory=lambda: dict(codec.DEFAULT_POINTS))
    alarms: dict[str, codec.AlarmRule] = Field(default_factory=lambda: dict(codec.DEFAULT_ALARMS))
    #: where the active alarms are kept across restarts (default: $GTSDK_HOME/state)
    state_dir: str | None = None
    #: seconds between idle samples (alarm detection latency)
    poll_every: float = Field(1.0, ge=0.05, le=3600)

    @model_validator(mode="after")
    def _rules_match_sensors(self) -> SensorsSettings:
        try:
            codec.check_rules(self.sensors, self.alarms)
        except GtsdkError as e:
            raise ValueError(e.detail) from None
        return self


def default_state_dir() -> Path:
    if os.environ.get("GTSDK_HOME"):
        return Path(os.environ["GTSDK_HOME"]) / "state"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gtsdk" / "state"


class AlarmStore:
    """Active alarms on disk: ``{"version": 1, "active": {name: {"since", "sensor", "value", "level"}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.active: dict[str, dict[str, Any]] = {}
        self.restored: set[str] = set()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            active = data.get("active", {}) if isinstance(data, dict) else {}
            self.active = {str(k): dict(v) for k, v in active.items() if isinstance(v, dict)}
        except FileNotFoundError:
            self.active = {}
        except (OSError, ValueError, AttributeError):
            log.warning("alarm state file unreadable; starting with no active alarms")
            self.active = {}
        self.restored = set(self.active)

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sensors-alarms.")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": 1, "active": self.active}, f, ensure_ascii=False, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"cannot write alarm state file: {e.strerror}",
                             field="state_dir") from None


class ModbusSensorsDriver(SensorsDriver[SensorsSettings]):
    name = "modbus_rtu"
    version = "0.1"
    poll_interval = 1.0

    def __init__(self, settings: SensorsSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.poll_interval = self.s.poll_every  # type: ignore[misc]
        self.line = ModbusLine(self.s)
        self.reads = codec.plan_reads(self.s.sensors)
        sdir = Path(self.s.state_dir) if self.s.state_dir else default_state_dir()
        self.store = AlarmStore(sdir / f"sensors-alarms-{self.s.device}.json")
        self.store.load()
        self.last: dict[str, float | bool] = {}
        self.last_time: datetime | None = None
        self.persist_error: str | None = None

    # ---- lifecycle ----------------------------------------------------------------
    def connect(self) -> None:
        self.line.open()
        self._sample(OpContext("sensors-connect", max(2.0, 4 * self.s.answer_timeout)))

    def disconnect(self) -> None:
        self.line.close()

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="generic", model="Modbus RTU sensor board", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"sensors": {n: {"unit": p.unit, "kind": p.kind} for n, p in self.s.sensors.items()},
                "alarms": {n: r.model_dump(exclude_none=True) for n, r in self.s.alarms.items()},
                "pollEvery": self.s.poll_every}

    def status_detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alarms": sorted(self.store.active), "values": dict(self.last),
                               "time": self.last_time.isoformat() if self.last_time else None}
        if self.persist_error:
            out["stateFileError"] = self.persist_error
        return out

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        self._sample(ctx)
        return HealthResult(level=level, ok=not self.store.active,
                            text="alarms active" if self.store.active else "no alarm",
                            checks={"modbus": True, **{f"alarm:{a}": False for a in self.store.active}})

    def poll(self, ctx: OpContext) -> None:
        self._sample(ctx)

    # ---- operation ------------------------------------------------------------------
    def read(self, request: Request, ctx: OpContext) -> SensorValues:
        values, when = self._sample(ctx)
        readings = [Reading(name=n, value=v, unit=self.s.sensors[n].unit, time=when) for n, v in values.items()]
        return SensorValues(readings=readings, alarms=sorted(self.store.active))

    # ---- internals --------------------------------------------------------------------
    def _sample(self, ctx: OpContext) -> tuple[dict[str, float | bool], datetime]:
        blocks: dict[tuple[str, int], list[int] | list[bool]] = {}
        for table, start, count in self.reads:
            fn = codec.FUNCTION[table]
            if table in ("discrete", "coil"):
                blocks[(table, start)] = self.line.read_bits(fn, start, count, ctx)
            else:
                blocks[(table, start)] = self.line.read_registers(fn, start, count, ctx)
        when = datetime.now(UTC)
        values = codec.decode(self.s.sensors, blocks)
        self.last, self.last_time = values, when
        self._alarms(values, when)
        return values, when

    def _alarms(self, values: dict[str, float | bool], when: datetime) -> None:
        active = self.store.active
        raised, cleared = codec.evaluate(self.s.alarms, values, set(active))
        restored = sorted(self.store.restored - set(cleared))
        self.store.restored = set()
        if not (raised or cleared):
            for name in restored:  # still active after a restart: say so once
                self.emit("alarm", {**active[name], "alarm": name, "restored": True})
            return
        for name in raised:
            rule = self.s.alarms[name]
            active[name] = {"since": when.isoformat(), "sensor": rule.sensor, "value": values[rule.sensor],
                            "level": rule.level}
        gone = {name: active.pop(name) for name in cleared}
        try:
            self.store.save()  # persist before announcing: an event never precedes its record
            self.persist_error = None
        except GtsdkError as e:  # an unwritable state dir must not silence the alarm itself
            self.persist_error = e.detail
            log.error("sensors: %s", e.detail)
        for name in restored:
            self.emit("alarm", {**active[name], "alarm": name, "restored": True})
        for name in raised:
            self.emit("alarm", {**active[name], "alarm": name})
        for name, rec in gone.items():
            rule = self.s.alarms[name]
            with contextlib.suppress(ValueError):
                since = datetime.fromisoformat(str(rec.get("since")))
                rec = {**rec, "durationS": round((when - since).total_seconds(), 3)}
            self.emit("alarmCleared", {**rec, "alarm": name, "value": values[rule.sensor], "cleared": when.isoformat()})
