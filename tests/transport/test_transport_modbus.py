"""gtsdk.transport.modbus against pymodbus' own RTU server on a pty (simulators/_modbus.py), both back
ends: the shared port closes with its last user, a vanished adapter is noDevice and the line
reopens when it is back, a late answer of a timed-out request is never taken for the next one,
exception responses are catalogue codes, and the deadline cuts the answer wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymodbus")

from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators._modbus import ModbusPtyServer
from gtsdk.simulators.lights import LightBoard
from gtsdk.transport import modbus_frames as rtu
from gtsdk.transport.modbus import _PORTS, ModbusLine, ModbusSettings

BACKENDS = ["native", "pymodbus"]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[ModbusPtyServer]:
    server = ModbusPtyServer([LightBoard().sim_device(1)], baudrate=115200, link=tmp_path / "rs485").start()
    yield server
    server.stop()


def line(bus: ModbusPtyServer, backend: str, **kw: object) -> ModbusLine:
    settings = ModbusSettings.model_validate({"port": bus.path, "baudrate": 115200, "answer_timeout": 0.3,
                                              "backend": backend, "retries": 0, **kw})
    return ModbusLine(settings)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_port_closes_with_its_last_user(bus: ModbusPtyServer, backend: str) -> None:
    a, b = line(bus, backend), line(bus, backend)
    a.open()
    b.open()
    # one shared port for this adapter (other tests' lines, e.g. the session's simulated terminal, may hold theirs)
    assert a.port is b.port and [p for p in _PORTS.values() if p is a.port] == [a.port]
    port = a.port
    a.write_coil(2, True)
    a.close()
    assert b.is_open and b.read_bits(rtu.READ_COILS, 0, 4) == [False, False, True, False]
    b.close()
    assert not b.is_open and all(p is not port for p in _PORTS.values())
    with pytest.raises(GtsdkError) as e:
        b.read_bits(rtu.READ_COILS, 0, 1)
    assert e.value.code == ErrorCode.NO_DEVICE


@pytest.mark.parametrize("backend", BACKENDS)
def test_unplugged_adapter_is_no_device_and_the_line_reopens(bus: ModbusPtyServer, backend: str) -> None:
    ln = line(bus, backend)
    ln.open()
    try:
        ln.write_register(3, 1234)
        bus.fault("unplug")
        with pytest.raises(GtsdkError) as e:
            ln.read_registers(rtu.READ_HOLDING_REGISTERS, 3, 1)
        assert e.value.code in (ErrorCode.NO_DEVICE, ErrorCode.COMMUNICATION_ERROR)
        bus.fault("replug")
        deadline = time.monotonic() + 5
        while True:  # the first call after the replug may still see the old port go
            try:
                assert ln.read_registers(rtu.READ_HOLDING_REGISTERS, 3, 1) == [1234]
                break
            except GtsdkError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        ln.close()


def test_a_late_answer_is_not_taken_for_the_next_one(bus: ModbusPtyServer) -> None:
    ln = line(bus, "native")
    ln.open()
    try:
        ln.write_register(0, 11)
        ln.write_register(1, 22)
        bus.relay.delay = 0.6  # the board answers after the driver gave up
        with pytest.raises(GtsdkError) as e:
            ln.read_registers(rtu.READ_HOLDING_REGISTERS, 0, 1)
        assert e.value.code == ErrorCode.COMMUNICATION_ERROR and e.value.data == {"device": 1}
        bus.relay.delay = 0.0
        time.sleep(0.8)  # the stale answer ([11]) is in the driver's input buffer by now
        assert ln.read_registers(rtu.READ_HOLDING_REGISTERS, 1, 1) == [22]
    finally:
        ln.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_response_is_a_catalogue_code(bus: ModbusPtyServer, backend: str) -> None:
    ln = line(bus, backend)
    ln.open()
    try:
        with pytest.raises(GtsdkError) as e:  # the board has 48 holding registers
            ln.read_registers(rtu.READ_HOLDING_REGISTERS, 40, 20)
        assert e.value.code == ErrorCode.CONFIG_ERROR and e.value.data == {"modbusException": 2}
    finally:
        ln.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_deadline_cuts_the_answer_wait(bus: ModbusPtyServer, backend: str) -> None:
    ln = line(bus, backend, answer_timeout=20.0)
    ln.open()
    try:
        bus.fault("stop_answering")
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as e:
            ln.read_bits(rtu.READ_COILS, 0, 1, OpContext("m1", 0.3))
        assert e.value.code in (ErrorCode.TIME_OUT, ErrorCode.COMMUNICATION_ERROR)
        assert time.monotonic() - t0 < 10  # the operation's 0.3 s, not the 20 s answer timeout
    finally:
        bus.fault("answer")
        ln.close()
