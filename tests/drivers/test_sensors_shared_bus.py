"""A light board (id 1) and a sensor board (id 2) on ONE RS-485 line, as in docs/test-peers.md §4:
both modules open the same port; their transactions never interleave on the wire."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from _peripherals_fixtures import Recorder, wait_for

from gtsdk.errors import GtsdkError
from gtsdk.runtime import Terminal
from gtsdk.runtime.config import ModuleConfig, TerminalConfig

pytest.importorskip("pymodbus")

from gtsdk.simulators._modbus import ModbusPtyServer
from gtsdk.simulators.lights import LightBoard
from gtsdk.simulators.sensors import SensorBoard


@pytest.mark.parametrize("backend", ["native", "pymodbus"])
def test_lights_and_sensors_share_one_line(tmp_path: Path, backend: str) -> None:
    lights, sensors = LightBoard(), SensorBoard()
    bus = ModbusPtyServer([lights.sim_device(1), sensors.sim_device(2)], baudrate=115200,
                          link=tmp_path / "rs485").start()
    common = {"port": bus.path, "baudrate": 115200, "answer_timeout": 0.3, "backend": backend}
    cfg = TerminalConfig()
    cfg.modules["lights"] = ModuleConfig(module="lights", driver="modbus_rtu", settings={**common, "device": 1})
    cfg.modules["sensors"] = ModuleConfig(module="sensors", driver="modbus_rtu",
                                          settings={**common, "device": 2, "poll_every": 0.05,
                                                    "state_dir": str(tmp_path / "state")})
    try:
        with Terminal(cfg) as t:
            rec = Recorder(t, "sensors")
            t.lights.flash(light="qr", period=0.1, duty=0.5)  # the flasher thread writes too
            errors: list[BaseException] = []

            def hammer() -> None:
                try:
                    for i in range(30):
                        (t.lights.on if i % 2 else t.lights.off)(light="idcard")
                except BaseException as e:  # noqa: BLE001 - reported below  # pragma: no cover
                    errors.append(e)

            th = threading.Thread(target=hammer)
            th.start()
            for _ in range(30):
                assert t.sensors.read().readings
            th.join()
            assert errors == []
            with sensors.lock:
                sensors.world["tamper"] = True
            wait_for(lambda: rec.of("alarm"))
            assert t.lights.status().detail["flashErrors"] == 0
            wait_for(lambda: lights.toggles and any(ch == 3 for _, ch, _ in lights.toggles))
    finally:
        bus.stop()


def test_shared_port_needs_matching_settings(tmp_path: Path) -> None:
    from gtsdk.transport.modbus import ModbusLine, ModbusSettings

    bus = ModbusPtyServer([LightBoard().sim_device(1)], baudrate=9600, link=tmp_path / "rs485").start()
    try:
        a = ModbusLine(ModbusSettings(port=bus.path, baudrate=9600))
        a.open()
        b = ModbusLine(ModbusSettings(port=bus.path, baudrate=19200))
        with pytest.raises(GtsdkError) as e:
            b.open()
        assert e.value.code == "configError" and e.value.field == "port"
        a.close()
        b.open()  # the line is free again: new settings are fine
        b.close()
    finally:
        bus.stop()
