"""http_bridge onto gtsdk's own simulated light board behind a gtsdk service (HTTPS, its CA, a bearer
token): the bridged terminal switches the simulated board's lights, and the board's state says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from _bridge_fixtures import EXAMPLES, bridged

from gtsdk.server.config import parse_service
from gtsdk.server.run import build, start_background
from gtsdk.server.tokens import TokenStore
from gtsdk.simulated import simulated_terminal

pytestmark = pytest.mark.timeout(120)


def test_lights_through_another_gtsdk_service(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inner = simulated_terminal(tmp_path / "sim", modules=["lights"]).start()
    app = build(inner, parse_service({}, base_dir=home), home, audit=False)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    try:
        token = TokenStore(home).create(["app"], app="kiosk")
        settings = {"mapping": str(EXAMPLES / "gtsdk_lights.yaml"),
                    "params": {"url": running.url, "token": token, "ca": str(home / "ca.pem")}}
        with bridged("http_bridge", settings, module_id="lights") as t:
            on = t.call("lights", "on", {"light": "idcard"})
            assert on.states["idcard"] == "on"  # type: ignore[attr-defined]
            flash = t.call("lights", "flash", {"light": "idcard", "periodMs": 400})
            assert flash.states["idcard"] == "flash"  # type: ignore[attr-defined]
            assert inner.call("lights", "on", {"light": "qr"}).states["idcard"] == "flash"  # type: ignore[attr-defined]
            off = t.call("lights", "off", {"light": "idcard"})
            assert off.states["idcard"] == "off"  # type: ignore[attr-defined]
            assert t.device("lights").capabilities().device.vendor == "gtsdk"
    finally:
        running.stop()
        inner.stop()
