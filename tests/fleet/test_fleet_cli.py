# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""``gtsdk fleet`` commands: a code from the API, ``gtsdk fleet enrol`` over HTTPS as its own process, the enrolled
terminal's agent on the broker; ``broker-config`` and ``user add`` from the command line."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from _fleet_fixtures import Terminal, db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from click.testing import CliRunner
from sqlalchemy import Engine, select

from gtsdk.cli import main
from gtsdk.fleet import httpd
from gtsdk.fleet.agent import AgentConfig
from gtsdk.fleet.api import build_app
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import add_user

pytestmark = pytest.mark.daemons
GTSDK = [sys.executable, "-c", "import sys; from gtsdk.cli import main; sys.exit(main())"]


def test_enrol_over_https(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    b = fleet.brokers["province"]
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=b.url, workers=0), engine=engine).start()
    token = add_user(engine, "hz", "city", region="330100")
    cert, key = platform.home.https_files(["127.0.0.1"])
    running = httpd.start_background(build_app(platform), cert, key)
    worker = start_worker(fleet, engine)
    try:
        req = urllib.request.Request(running.url + "/api/v1/enrolment-codes", method="POST",
                                     data=json.dumps({"terminalId": "HZ-NEW-1", "region": "330108"}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=str(platform.home.ca.cert_path))
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            code = json.loads(r.read())["data"]["code"]
        home = tmp_path / "terminal"
        args = [*GTSDK, "fleet", "enrol", "--platform", running.url, "--code", code, "--ca",
                str(platform.home.ca.cert_path), "--home", str(home)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert 'region = "330108"' in out.stdout and (home / "fleet" / "key.pem").stat().st_mode & 0o077 == 0
        again = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert again.returncode != 0 and "fleet.enrolmentRefused" in again.stderr
        cfg = AgentConfig.from_table({"broker": b.url, "region": "330108"}, terminal={"id": "HZ-NEW-1"}, home=home)
        t = Terminal(cfg)
        t.transactions(3)
        t.start()
        wait_for(lambda: t.outbox_size() == 0, what="the enrolled terminal's records")
        t.stop()
        with engine.connect() as c:
            assert c.execute(select(s.terminals.c.region).where(s.terminals.c.id == "HZ-NEW-1")).scalar() == "330108"
    finally:
        worker.stop()
        running.stop()
        platform.stop()


def test_broker_config_and_user_add(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["fleet", "broker-config", "--home", str(tmp_path / "p"), "--out",
                                  str(tmp_path / "b"), "--port", "18883", "--city", "330100", "--upstream",
                                  "province.example:8883"])
    assert r.exit_code == 0, r.output
    conf = (tmp_path / "b" / "mosquitto.conf").read_text()
    assert "address province.example:8883" in conf and "listener 18883 127.0.0.1" in conf
    r = CliRunner().invoke(main, ["fleet", "user", "add", "zj", "--role", "province", "--region", "330000",
                                  "--home", str(tmp_path / "p")])
    assert r.exit_code == 0 and r.output.startswith("gtf_")
    r = CliRunner().invoke(main, ["fleet", "user", "add", "x", "--role", "city", "--region", "330000",
                                  "--home", str(tmp_path / "p")])
    assert r.exit_code != 0 and "invalidData" in r.output
