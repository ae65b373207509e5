"""Light-board driver against a real pymodbus RTU server on a pty (the simulator), both back ends."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from _peripherals_fixtures import terminal_for, wait_for

from gtsdk.driver import DeviceState
from gtsdk.errors import GtsdkError

pytest.importorskip("pymodbus")

from gtsdk.simulators import lights as lights_sim


@pytest.fixture(params=["native", "pymodbus"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[object, lights_sim.LightsSimulation]]:
    sim = lights_sim.start(tmp_path / "lights", baudrate=115200)
    t = terminal_for("lights", "modbus_rtu", {**sim.settings, "backend": request.param}).start()
    try:
        yield t, sim
    finally:
        t.stop()
        sim.stop()


def test_steady_on_off_reaches_the_board(rig) -> None:  # type: ignore[no-untyped-def]
    t, sim = rig
    out = t.lights.on(light="idcard")
    assert out.states["idcard"] == "on"
    assert sim.state()["coils"][0] is True
    t.lights.on(light="signature")
    t.lights.off(light="idcard")
    coils = sim.state()["coils"]
    assert coils[0] is False and coils[6] is True
    assert t.lights.status().detail["states"]["signature"] == "on"


def test_driver_flashes_a_relay_board(rig) -> None:  # type: ignore[no-untyped-def]
    t, sim = rig
    t.lights.flash(light="qr", period=0.2, duty=0.5)
    wait_for(lambda: len(sim.toggles(3)) >= 6)
    levels = [v for _, v in sim.toggles(3)]
    assert all(a != b for a, b in itertools.pairwise(levels))  # on, off, on, off ...
    t.lights.off(light="qr")
    n = len(sim.toggles(3))
    wait_for(lambda: t.lights.status().detail["flashWrites"] >= 0)
    assert sim.state()["coils"][3] is False
    # no more toggles once off: the next write the board sees for channel 3 is none
    t.lights.on(light="a4")
    assert len(sim.toggles(3)) == n


def test_bad_input_codes(rig) -> None:  # type: ignore[no-untyped-def]
    t, _sim = rig
    for call, kw, field in ((t.lights.on, {"light": "toaster"}, "light"),
                            (t.lights.flash, {"light": "qr", "period": -0.5}, "period"),
                            (t.lights.flash, {"light": "qr", "duty": 1.5}, "duty"),
                            (t.lights.off, {"light": "Bad Name!"}, "light")):
        with pytest.raises(GtsdkError) as e:
            call(**kw)
        assert e.value.code == "invalidData"
        assert field.lower() in (e.value.field or "").lower().replace("_", "")


def test_board_stops_answering_then_recovers(rig) -> None:  # type: ignore[no-untyped-def]
    t, sim = rig
    t.lights.on(light="receipt")
    sim.control("stop_answering", {})
    with pytest.raises(GtsdkError) as e:
        t.lights.on(light="camera")
    assert e.value.code == "communicationError"
    assert t.lights.status().state in (DeviceState.OFFLINE, DeviceState.NO_DEVICE)
    sim.control("power_cycle", {})  # the board also lost its relays meanwhile
    sim.control("answer", {})
    wait_for(lambda: t.lights.status().state == DeviceState.ONLINE)
    wait_for(lambda: sim.state()["coils"][1] is True)  # reconnect re-applied what was asked for
    t.lights.on(light="camera")
    assert sim.state()["coils"][5] is True


def test_poll_repairs_a_board_that_restarted(rig) -> None:  # type: ignore[no-untyped-def]
    t, sim = rig
    t.lights.on(light="fingerprint")
    sim.control("power_cycle", {})
    assert sim.state()["coils"][4] is False
    wait_for(lambda: sim.state()["coils"][4] is True)


def test_crc_error_is_retried(rig) -> None:  # type: ignore[no-untyped-def]
    t, sim = rig
    sim.control("garble", {})
    t.lights.on(light="a4")  # first answer has a bad CRC, the retry succeeds
    assert sim.state()["coils"][2] is True


def test_board_with_flash_registers(tmp_path: Path) -> None:
    sim = lights_sim.start(tmp_path / "lights", baudrate=115200, board_flash=True)
    t = terminal_for("lights", "modbus_rtu", sim.settings).start()
    try:
        t.lights.flash(light="qr", period=0.8, duty=0.25)
        st = sim.state()
        assert (st["modes"][3], st["periods"][3], st["duties"][3]) == (2, 800, 25)
        assert st["toggles"] == 0  # the board flashes by itself: the driver writes no coils
        t.lights.on(light="idcard")
        assert sim.state()["modes"][0] == 1
        assert t.lights.capabilities().features["flash"] == "board"
    finally:
        t.stop()
        sim.stop()


def test_unplugged_adapter_is_no_device_then_back(tmp_path: Path) -> None:
    sim = lights_sim.start(tmp_path / "lights", baudrate=115200)
    t = terminal_for("lights", "modbus_rtu", sim.settings).start()
    try:
        t.lights.on(light="idcard")
        sim.control("unplug", {})
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="a4")
        assert e.value.code in ("noDevice", "communicationError")
        sim.control("replug", {})
        wait_for(lambda: t.lights.status().state == DeviceState.ONLINE)
        t.lights.on(light="a4")
        assert sim.state()["coils"][2] is True
    finally:
        t.stop()
        sim.stop()


def test_off_always_wins_over_the_flasher(rig) -> None:  # type: ignore[no-untyped-def]
    import time

    t, sim = rig
    for _ in range(5):
        t.lights.flash(light="camera", period=0.1, duty=0.5)
        wait_for(lambda: len(sim.toggles(5)) >= 1)
        t.lights.off(light="camera")
        time.sleep(0.25)  # two more flash periods: a stale flasher write would show up here
        assert sim.state()["coils"][5] is False
        assert t.lights.status().detail["states"]["camera"] == "off"


def test_operation_deadline_caps_the_answer_wait(tmp_path: Path) -> None:
    sim = lights_sim.start(tmp_path / "lights", baudrate=115200)
    t = terminal_for("lights", "modbus_rtu", {**sim.settings, "answer_timeout": 5.0, "retries": 3}).start()
    try:
        wait_for(lambda: t.lights.status().state == DeviceState.ONLINE)
        sim.control("stop_answering", {})
        job = t.submit("lights", "on", {"light": "a4", "timeout": 200})
        with pytest.raises(GtsdkError) as e:
            job.future.result(timeout=10)  # 4 attempts × 5 s would be 20 s without the deadline cap
        assert e.value.code in ("timeOut", "communicationError")
        states: list[str] = []
        t.events.subscribe(lambda ev: states.append(ev.data.get("reason", "")), ["lights"])
        sim.control("answer", {})
        t.lights.on(light="idcard", timeout=4)  # the worker is free again long before 4 × 5 s
        assert sim.state()["coils"][0] is True
        assert not any("did not return" in r for r in states)  # never abandoned as hung
    finally:
        t.stop()
        sim.stop()
