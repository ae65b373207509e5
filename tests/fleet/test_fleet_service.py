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


@pytest.mark.daemons
def test_agent_drains_the_record_store(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    """With the service's record store (gtsdk.records), the agent drains its outbox, leaves the profile to it and
    runs the store's own inspection for a remote command."""
    from types import SimpleNamespace

    from gtsdk.records.recorder import Recorder
    home = tmp_path / "terminal-home"
    acfg = fleet.enrol_terminal(engine, "T-REC", "330106", home, "province")
    cfg = parse_config({"terminal": {"id": "T-REC", "region": "330106", "name": "记录库终端", "latitude": 30.25,
                                     "longitude": 120.1},
                        "fleet": {"broker": acfg.broker}})
    terminal = Terminal(cfg).start()
    recorder = Recorder(terminal, home, background=False)
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=acfg.broker, workers=0),
                        engine=engine).start()
    worker = start_worker(fleet, engine)
    agent = start_agent(cfg, terminal, home, app=SimpleNamespace(records=recorder, audit=None))
    assert agent is not None and agent.cfg.outbox == recorder.store.path and not agent.cfg.write_profile
    try:
        wait_for(lambda: agent.outbox_size() == 0, what="the record store's outbox drained")
        with engine.connect() as c:
            row = c.execute(select(s.terminals.c.name, s.terminals.c.latitude, s.terminals.c.profile_version)
                            .where(s.terminals.c.id == "T-REC")).one()
        assert row.name == "记录库终端" and row.latitude == 30.25 and row.profile_version == 1
        sent = platform.send_command(User("prov", "province", "330000", None), "T-REC", "inspect")

        def done() -> Any:
            with engine.connect() as c:
                r = c.execute(select(s.commands.c.state, s.commands.c.result)
                              .where(s.commands.c.id == sent["id"])).first()
            return r if r is not None and r.state != "sent" else None
        r = wait_for(done, what="inspection result")
        assert r.state == "success" and r.result["trigger"] == "remote"
        wait_for(lambda: agent.outbox_size() == 0, what="the inspection record delivered")
        with engine.connect() as c:
            assert c.execute(select(s.inspections.c.trigger).where(s.inspections.c.terminal_id == "T-REC")).scalar()
    finally:
        agent.stop()
        worker.stop()
        platform.stop()
        recorder.close()
        terminal.stop()


def test_fleet_and_terminal_tables_agree(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        AgentConfig.from_table({"broker": "mqtts://x", "terminal_id": "T-2"},
                               terminal={"id": "T-1", "region": "330102"}, home=tmp_path)
    assert e.value.key == "fleet.terminal_id"
    with pytest.raises(ConfigError) as e:
        AgentConfig.from_table({"broker": "mqtts://x", "region": "330106"}, terminal={"id": "T-1", "region": "330102"},
                               home=tmp_path)
    assert e.value.key == "fleet.region"
    a = AgentConfig.from_table({"broker": "mqtts://x"}, terminal={"id": "T-1", "region": "330102", "name": "n"},
                               home=tmp_path)
    assert (a.region, a.name) == ("330102", "n")
