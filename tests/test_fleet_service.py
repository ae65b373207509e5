# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""The agent inside the terminal service: a ``[fleet]`` table in the terminal configuration starts it beside the
runtime; remote commands are answered from the runtime and written to the service's SM3-chained audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from sqlalchemy import Engine, select

from gtsdk.audit import AuditLog
from gtsdk.errors import ConfigError
from gtsdk.fleet.agent import AgentConfig
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.service import start_agent
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import User
from gtsdk.runtime import Terminal
from gtsdk.runtime.config import parse_config


def test_fleet_table_is_validated(tmp_path: Path) -> None:
    cfg = parse_config({"terminal": {"id": "T-1"}, "fleet": {"broker": "mqtts://127.0.0.1:8883", "region": "330102"}})
    a = AgentConfig.from_table(cfg.fleet, terminal=cfg.terminal, home=tmp_path)
    assert a.terminal_id == "T-1" and a.identity.cert == tmp_path / "fleet" / "cert.pem"
    for table, key in (({"broker": "mqtt://x:1883", "region": "330102"}, "fleet.broker"),
                       ({"broker": "mqtts://x", "region": "33"}, "fleet.region"),
                       ({"broker": "mqtts://x", "region": "330102", "regoin": 1}, "fleet.regoin"),
                       ({"broker": "mqtts://x", "region": "330102", "latitude": 91}, "fleet.latitude")):
        with pytest.raises(ConfigError) as e:
            AgentConfig.from_table(table, terminal={"id": "T-1"}, home=tmp_path)
        assert e.value.key == key


@pytest.mark.daemons
def test_agent_in_the_service_answers_from_the_runtime(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    home = tmp_path / "terminal-home"
    acfg = fleet.enrol_terminal(engine, "T-SVC", "330102", home, "province")
    cfg = parse_config({"terminal": {"id": "T-SVC"},
                        "fleet": {"broker": acfg.broker, "region": "330102", "name": "服务内代理"}})
    terminal = Terminal(cfg).start()
    audit = AuditLog(home)
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=acfg.broker, workers=0),
                        engine=engine).start()
    worker = start_worker(fleet, engine)
    agent = start_agent(cfg, terminal, home, audit=audit)
    assert agent is not None
    try:
        assert agent.wait_connected(15)
        user = User("prov", "province", "330000", None)

        def result(cid: str) -> Any:
            with engine.connect() as c:
                r = c.execute(select(s.commands.c.state, s.commands.c.result).where(s.commands.c.id == cid)).first()
            return r if r is not None and r.state != "sent" else None
        for op in ("status", "diagnostics", "inspect"):
            sent = platform.send_command(user, "T-SVC", op)
            r = wait_for(lambda sent=sent: result(sent["id"]), what=op)
            assert r.state == "success", (op, r)
        with engine.connect() as c:
            assert c.execute(select(s.inspections.c.trigger)).scalar() == "remote"  # the inspection record arrived
            assert c.execute(select(s.terminals.c.name)).scalar() == "服务内代理"
        audit.flush()
        rows = audit.query(module="fleet")
        assert {r["operation"] for r in rows} >= {"command.status", "command.diagnostics", "command.inspect"}
    finally:
        agent.stop()
        worker.stop()
        platform.stop()
        terminal.stop()
        audit.close()
