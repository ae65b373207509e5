"""The three serial peripherals through the local HTTPS service in simulate mode (``gtsdk serve --simulate``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("pymodbus")
pytest.importorskip("httpx")

from _peripherals_fixtures import wait_for
from _server_fixtures import ORIGIN, Svc

from gtsdk.server.config import parse_service
from gtsdk.server.run import build, start_background
from gtsdk.server.tokens import TokenStore
from gtsdk.simulated import simulated_terminal


def test_http_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    t = simulated_terminal(tmp_path / "sim", modules=["qr_scanner", "lights", "sensors"]).start()
    app = build(t, parse_service({"origins": [ORIGIN]}, base_dir=home), home, simulate=True)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    store = TokenStore(home)
    svc = Svc(running, home, t, store.create(["app"], app="kiosk"), store.create(["maintenance"]), store)
    try:
        with svc.app() as c, svc.maint() as m:
            wait_for(lambda: c.get("/v1/sensors/status").json()["data"]["state"] == "online")
            r = c.post("/v1/lights/flash", json={"light": "qr", "periodMs": 300})
            assert r.status_code == 200 and r.json()["data"]["states"]["qr"] == "flash"
            r = c.post("/v1/lights/on", json={"light": "toaster"})
            assert r.status_code == 400 and r.json()["code"] == "invalidData"
            r = c.post("/v1/lights/flash", json={"light": "qr", "periodMs": -1})
            assert r.status_code == 400 and r.json()["code"] == "invalidData"
            c.post("/v1/qr_scanner/open", json={})
            timer = threading.Timer(0.3, lambda: m.post("/v1/sim/qr_scanner",
                                                        json={"action": "present", "params": {"text": "GT-2026"}}))
            timer.start()
            r = c.post("/v1/qr_scanner/read", json={"timeout": 5000})
            timer.join()
            assert r.status_code == 200 and r.json()["data"]["text"] == "GT-2026"
            assert m.post("/v1/sim/sensors", json={"action": "cut_power"}).status_code == 200
            wait_for(lambda: "powerLost" in c.post("/v1/sensors/read", json={}).json()["data"]["alarms"])
            m.post("/v1/sim/lights", json={"action": "stop_answering"})
            r = c.post("/v1/lights/on", json={"light": "idcard"})
            assert r.json()["code"] == "communicationError"
            assert c.post("/v1/sensors/read", json={}).status_code == 200  # the rest keeps serving
    finally:
        running.stop()
        t.stop()


def test_service_audits_sensor_alarms(tmp_path: Path) -> None:
    """9.1.1.1 b: a tamper alarm raised by the sensor board lands in the service's audit log."""
    t = simulated_terminal(tmp_path / "sim", modules=["sensors"]).start()
    app = build(t, parse_service({}, base_dir=tmp_path / "home"), tmp_path / "home", simulate=True)
    try:
        assert app.audit is not None
        audit = app.audit
        t.simulations["sensors"].control("open_door", {})  # the board reports the door switch open

        def alarm_rows() -> list[dict[str, object]]:
            return [r for r in audit.query(module="sensors") if r["operation"] == "alarm"]

        assert wait_for(lambda: bool(alarm_rows()), limit=15)
        assert {r["code"] for r in alarm_rows()} & {"doorOpen", "tamperOpen"}
    finally:
        if app.audit is not None:
            app.audit.close()
        t.stop()
