"""`--simulate`: the maintenance route POST /v1/sim/<module> changes the simulated world; the real driver
then reads through its wire protocol (idcard: SAM over a pty)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from _server_fixtures import start_service

from gtsdk import sim
from gtsdk.runtime import parse_config
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

SECRET = "110101199003071234"


@pytest.mark.skipif(not sim.available("idcard"), reason="idcard simulator not installed")
def test_sim_route_drives_the_simulated_reader(tmp_path: Path) -> None:
    t = simulated_terminal(tmp_path / "sim", modules=["idcard"])
    s = start_service(tmp_path / "home", terminal=t)
    try:
        with s.maint() as m, s.app() as c:
            info = m.get("/v1/sim/idcard").json()["data"]
            assert "insert" in info["actions"] and info["module"] == "idcard"
            assert m.get("/v1/sim").json()["data"] == {"modules": ["idcard"]}
            bad = m.post("/v1/sim/idcard", json={"action": "explode"})
            assert bad.status_code == 400 and bad.json()["data"]["field"] == "action"
            assert m.post("/v1/sim/lights", json={"action": "x"}).status_code == 404  # not simulated here
            assert c.post("/v1/sim/idcard", json={"action": "insert"}).status_code == 403  # app scope cannot
            deadline = time.monotonic() + 20
            while c.get("/v1/idcard/status").json()["data"]["state"] != "online":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert c.post("/v1/idcard/open").status_code == 200
            assert m.post("/v1/sim/idcard", json={"action": "insert", "params": {}}).status_code == 200
            r = c.post("/v1/idcard/read", json={"timeout": 10000})
            assert r.status_code == 200, r.text
            card = r.json()["data"]
            assert len(card["idNumber"]) == 18 and card["cardType"]
            m.post("/v1/sim/idcard", json={"action": "remove"})
            r2 = c.post("/v1/idcard/read", json={"timeout": 600})
            assert r2.status_code in (409, 504) and r2.json()["code"] in ("noMedia", "timeOut")
    finally:
        s.running.stop()
        s.terminal.stop()


class Exploding:
    """A simulator whose control fails in its own code."""

    module = "lights"
    driver = "fake"
    settings: dict[str, Any] = {}

    def describe(self) -> str:
        return "nowhere"

    def actions(self) -> dict[str, str]:
        return {"explode": "raise from the simulator's own code"}

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"simulated daemon died holding {SECRET}")

    def stop(self) -> None:
        pass


def test_a_simulator_that_raises_is_internal_error_logged_by_type_and_place(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config({"terminal": {"id": "T-TEST"}, "modules": {"lights": {"driver": "fake"}}})
    t = SimulatedTerminal(cfg, simulations={"lights": Exploding()})
    caplog.set_level(logging.WARNING, logger="gtsdk.server")
    s = start_service(tmp_path / "home", terminal=t)
    try:
        with s.maint() as m:
            r = m.post("/v1/sim/lights", json={"action": "explode"})
            assert r.status_code == 500 and r.json()["code"] == "internalError" and SECRET not in r.text
            assert "RuntimeError" in r.text
            assert m.get("/v1/sim/lights").json()["data"]["description"] == "nowhere"  # still serving
    finally:
        s.running.stop()
        s.terminal.stop()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("sim: lights explode raised"))
    assert "RuntimeError at " in line and "test_server_sim.py:" in line and SECRET not in caplog.text
