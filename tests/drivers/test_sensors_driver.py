"""Sensor-board driver against a real pymodbus RTU server on a pty; alarms survive a restart (9.1.1.1 b)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _peripherals_fixtures import Recorder, terminal_for, wait_for

from gtsdk.driver import DeviceState
from gtsdk.errors import GtsdkError

pytest.importorskip("pymodbus")
from gtsdk.simulators import sensors as sensors_sim


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[sensors_sim.SensorsSimulation]:
    s = sensors_sim.start(tmp_path / "sensors", baudrate=115200)
    try:
        yield s
    finally:
        s.stop()


def test_read_values_units_and_timestamps(sim: sensors_sim.SensorsSimulation) -> None:
    with terminal_for("sensors", "modbus_rtu", sim.settings) as t:
        sim.control("set", {"values": {"temperature": -12.3, "humidity": 61.5, "presence": True}})
        out = t.sensors.read()
        by = {r.name: r for r in out.readings}
        assert by["temperature"].value == pytest.approx(-12.3) and by["temperature"].unit == "°C"
        assert by["humidity"].value == pytest.approx(61.5) and by["humidity"].unit == "%RH"
        assert by["presence"].value is True and by["mains"].value is True
        assert len({r.time for r in out.readings}) == 1 and by["door"].time.tzinfo is not None
        assert out.alarms == []


@pytest.mark.parametrize("backend", ["native", "pymodbus"])
def test_alarms_raise_and_clear_as_events(sim: sensors_sim.SensorsSimulation, backend: str) -> None:
    with terminal_for("sensors", "modbus_rtu", {**sim.settings, "backend": backend}) as t:
        rec = Recorder(t, "sensors")
        t.sensors.read()
        sim.control("open_door", {})
        sim.control("cut_power", {})
        sim.control("heat_up", {"to": 61})
        wait_for(lambda: {"tamperOpen", "powerLost", "overheated"} <= {e["alarm"] for e in rec.of("alarm")})
        assert set(t.sensors.read().alarms) == {"tamperOpen", "doorOpen", "powerLost", "overheated"}
        hot = next(e for e in rec.of("alarm") if e["alarm"] == "overheated")
        assert hot["value"] == pytest.approx(61.0) and hot["level"] == "critical" and hot["since"]
        sim.control("heat_up", {"to": 52})  # inside the hysteresis band: still overheated
        t.sensors.read()
        assert "overheated" in t.sensors.read().alarms
        sim.control("normal", {})
        wait_for(lambda: len(rec.of("alarmCleared")) >= 4)
        assert t.sensors.read().alarms == []
        assert {e["alarm"] for e in rec.of("alarmCleared")} == {"tamperOpen", "doorOpen", "powerLost", "overheated"}
        assert all("durationS" in e for e in rec.of("alarmCleared"))
        # each alarm announced exactly once per episode
        assert len([e for e in rec.of("alarm") if e["alarm"] == "tamperOpen"]) == 1


def test_active_alarm_survives_a_restart(sim: sensors_sim.SensorsSimulation) -> None:
    with terminal_for("sensors", "modbus_rtu", sim.settings) as t:
        rec = Recorder(t, "sensors")
        sim.control("open_door", {})
        wait_for(lambda: rec.of("alarm"))
    state = Path(sim.settings["state_dir"]) / "sensors-alarms-1.json"
    saved = json.loads(state.read_text())
    assert set(saved["active"]) == {"tamperOpen", "doorOpen"}
    # service restarts while the door is still open: the alarm is listed at once and re-announced once
    t2 = terminal_for("sensors", "modbus_rtu", sim.settings)
    rec2 = Recorder(t2, "sensors")
    with t2:
        assert set(t2.sensors.read().alarms) == {"tamperOpen", "doorOpen"}
        restored = [e for e in rec2.of("alarm") if e.get("restored")]
        assert {e["alarm"] for e in restored} == {"tamperOpen", "doorOpen"}
        assert restored[0]["since"] == saved["active"][restored[0]["alarm"]]["since"]
        sim.control("close_door", {})
        wait_for(lambda: len(rec2.of("alarmCleared")) == 2)
    assert json.loads(state.read_text())["active"] == {}


def test_board_stops_answering_then_recovers(sim: sensors_sim.SensorsSimulation) -> None:
    with terminal_for("sensors", "modbus_rtu", sim.settings) as t:
        t.sensors.read()
        sim.control("stop_answering", {})
        with pytest.raises(GtsdkError) as e:
            t.sensors.read()
        assert e.value.code == "communicationError"
        wait_for(lambda: t.sensors.status().state == DeviceState.OFFLINE)
        sim.control("answer", {})
        wait_for(lambda: t.sensors.status().state == DeviceState.ONLINE)
        assert t.sensors.read().readings


def test_garbled_answer_is_retried(sim: sensors_sim.SensorsSimulation) -> None:
    with terminal_for("sensors", "modbus_rtu", {**sim.settings, "poll_every": 60}) as t:
        t.sensors.read()
        sim.control("garble", {})
        assert t.sensors.read().readings


def test_scripted_history_and_bad_config(sim: sensors_sim.SensorsSimulation, tmp_path: Path) -> None:
    with terminal_for("sensors", "modbus_rtu", sim.settings) as t:
        rec = Recorder(t, "sensors")
        sim.control("script", {"name": "break_in", "interval": 0.05})
        wait_for(lambda: {"vibration", "tilted", "tamperOpen"} <= {e["alarm"] for e in rec.of("alarm")})
    with pytest.raises(GtsdkError):
        sim.control("script", {"name": "nope"})
    bad = terminal_for("sensors", "modbus_rtu", {**sim.settings, "alarms": {"x": {"sensor": "nope", "equals": True}}})
    with bad:
        assert bad.sensors.status().state == DeviceState.NO_DEVICE
        with pytest.raises(GtsdkError) as e:
            bad.sensors.read()
        assert e.value.code in ("noDevice", "configError")


def test_alarms_reach_the_audit_log(sim: sensors_sim.SensorsSimulation, tmp_path: Path) -> None:
    from gtsdk.audit import AuditLog
    from gtsdk.modules.sensors import audit_alarms

    home = tmp_path / "home"
    home.mkdir()
    log = AuditLog(home)
    try:
        t = terminal_for("sensors", "modbus_rtu", sim.settings)
        audit_alarms(t.events, log)
        with t:
            rec = Recorder(t, "sensors")
            sim.control("cut_power", {})
            wait_for(lambda: rec.of("alarm"))
            sim.control("restore_power", {})
            wait_for(lambda: rec.of("alarmCleared"))
        log.flush()
        rows = log.query(module="sensors")
        got = [(r["operation"], r["code"]) for r in rows]
        assert ("alarm", "powerLost") in got and ("alarmCleared", "powerLost") in got
        ids = {r["request_id"] for r in rows if r["code"] == "powerLost"}
        assert len(ids) == 1  # raise and clear of one episode share the id
        assert log.verify().ok
    finally:
        log.close(sign=False)


def test_unwritable_state_dir_still_raises_the_alarm(sim: sensors_sim.SensorsSimulation, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with terminal_for("sensors", "modbus_rtu", {**sim.settings, "state_dir": str(blocker / "state")}) as t:
        rec = Recorder(t, "sensors")
        sim.control("open_door", {})
        wait_for(lambda: rec.of("alarm"))
        assert "tamperOpen" in t.sensors.read().alarms
        assert "stateFileError" in t.sensors.status().detail
