"""End to end: QR scanner, light board and sensors through simulated_terminal (real drivers ↔ simulators)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from _peripherals_fixtures import Recorder, wait_for

from gtsdk.driver import DeviceState
from gtsdk.errors import GtsdkError
from gtsdk.simulated import simulated_terminal

pytest.importorskip("pymodbus")
pytest.importorskip("cv2")


def test_three_modules_end_to_end(tmp_path: Path) -> None:
    with simulated_terminal(tmp_path, modules=["qr_scanner", "lights", "sensors"]) as t:
        rec = Recorder(t, "sensors")
        qr_events = Recorder(t, "qr_scanner")
        for m in ("qr_scanner", "lights", "sensors"):
            wait_for(lambda m=m: t.module(m).status().state == DeviceState.ONLINE)  # type: ignore[misc]
        sims = t.simulations
        # a guided step: light the QR reader, read a code, turn the light off
        assert t.lights.flash(light="qr", period=0.4, duty=0.5).states["qr"] == "flash"
        timer = threading.Timer(0.2, lambda: sims["qr_scanner"].control("present", {"text": "办件编号 2026-0001"}))
        timer.start()
        scan = t.qr_scanner.read(timeout=5)
        timer.join()
        assert scan.text == "办件编号 2026-0001"
        assert qr_events.of("codeScanned")[0]["text"] == scan.text
        t.lights.off(light="qr")
        assert sims["lights"].control("state", {})["coils"][3] is False
        # tamper and power alarms arrive as events while the other modules keep serving
        sims["sensors"].control("open_door", {})
        sims["sensors"].control("cut_power", {})
        wait_for(lambda: {"tamperOpen", "powerLost"} <= {e["alarm"] for e in rec.of("alarm")})
        assert {"tamperOpen", "powerLost"} <= set(t.sensors.read().alarms)
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="no_such_light")
        assert e.value.code == "invalidData" and e.value.field == "light"
        # the light board stops answering: documented code there, everything else unaffected
        sims["lights"].control("stop_answering", {})
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="idcard")
        assert e.value.code == "communicationError"
        assert t.sensors.read().readings
        sims["lights"].control("answer", {})
        wait_for(lambda: t.lights.status().state == DeviceState.ONLINE)
        t.lights.on(light="idcard")
        assert sims["lights"].control("state", {})["coils"][0] is True
        caps = t.qr_scanner.capabilities()
        assert caps.features["dialect"] == "honeywell"
