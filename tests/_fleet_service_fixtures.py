"""Terminals as ``gtsdk serve`` runs them, for the fleet tests: the runtime with in-memory test drivers, the service
(records, audit, tokens), and the fleet agent started by :func:`gtsdk.fleet.service.start_agent` — optionally
served over HTTPS, for the commands that talk to the service itself (``conformance``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _records_fixtures import CATALOGUE, FakeCards
from _runtime_fixtures import RecordingLights, wait_for
from sqlalchemy import Engine

from gtsdk.fleet.agent import Agent
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.service import start_agent
from gtsdk.runtime import Terminal, registry
from gtsdk.runtime.config import parse_config
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, build, close_app, start_background
from gtsdk.server.tokens import TokenStore


@dataclass
class ServiceTerminal:
    id: str
    home: Path
    app: ServiceApp
    terminal: Terminal
    agent: Agent
    running: Running | None
    token: str

    def get(self, path: str) -> Any:
        """GET *path* of the service (in process, over ASGI) with an app token; the envelope's data."""
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                         base_url="https://127.0.0.1") as c:
                return await c.get(path, headers={"Authorization": f"Bearer {self.token}"})
        env = asyncio.run(go()).json()
        assert env["code"] == "success", env
        return env["data"]

    def stop(self) -> None:
        self.agent.stop()
        if self.running is not None:
            self.running.stop()  # closes the records and the audit log too
        else:
            close_app(self.app)
        self.terminal.stop()


def service_terminal(fleet: LocalFleet, engine: Engine, tid: str, region: str, home: Path, *,
                     serve: bool = False, catalogue: str = CATALOGUE, broker: str = "province",
                     **fleet_settings: Any) -> ServiceTerminal:
    registry.register("lights", "recording", RecordingLights)
    registry.register("idcard", "fakecards", FakeCards)
    FakeCards.present, FakeCards.fail_next = True, None
    acfg = fleet.enrol_terminal(engine, tid, region, home, broker)
    (home / "catalogue.toml").write_text(catalogue, encoding="utf-8")
    cfg = parse_config({"terminal": {"id": tid, "region": region, "name": f"{tid} 号机"},
                        "modules": {"lights": {"driver": "recording", "reconnect_interval": 0.05},
                                    "idcard": {"driver": "fakecards", "reconnect_interval": 0.05}},
                        "records": {"heartbeat": 0.5, "inspections": []},
                        "fleet": {"broker": acfg.broker, "probe_after": 1.0, **fleet_settings}})
    t = Terminal(cfg).start()
    assert wait_for(lambda: all(d.state.value == "online" for d in t.devices.values()), 5)
    app = build(t, parse_service({}), home)
    running = start_background(app) if serve else None
    agent = start_agent(cfg, t, home, audit=app.audit, app=app, service_url=running.url if running else None)
    assert agent is not None
    token = TokenStore(home).create(["app"], app="kiosk")
    return ServiceTerminal(tid, home, app, t, agent, running, token)
