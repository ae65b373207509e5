# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Staged rollouts on a simulated fleet (issue #17): a real Mosquitto, the platform with its ingest worker and
rollout thread on SQLite, its HTTPS API serving the bundles, and simulated terminals — each a real fleet agent with
its own certificate and an update root, installing pure-Python driver plugins into versioned site directories and
certifying them with ``certify-driver`` against gtsdk's simulator in a separate process.

Shown: a good driver update canary → 50 % → 100 %, with a terminal offline during the rollout updated when it
returns; a driver failing certification on the canary halts the rollout at the canary, nothing else touched;
a downgrade and a bundle altered on the platform's disk are refused by the terminals; an unsigned bundle is
refused at upload."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _updates_fixtures as fx
import pytest
from _fleet_fixtures import fleet, wait_for  # noqa: F401  (fixture)
from sqlalchemy import Engine

from gtsdk.fleet.api import build_app
from gtsdk.fleet.httpd import start_background
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.simulate import SimTerminal, SimulatedFleet, plan_fleet
from gtsdk.fleet.store import db
from gtsdk.fleet.users import add_user
from gtsdk.updates import errors as ue
from gtsdk.updates.installer import Policy, Updater
from gtsdk.updates.remote import InProcessControl, LocalSwitcher, SiteEnvironment, https_fetch, status, update_handler
from gtsdk.updates.trust import Identity, TrustStore

# each wait is bounded; together they allow for a loaded machine (every certification is a separate process)
pytestmark = [pytest.mark.daemons, pytest.mark.slow, pytest.mark.timeout(600)]
N = 6


class World:
    def __init__(self, fleet: LocalFleet, tmp: Path) -> None:
        self.tmp = tmp
        self.engine: Engine = db.open_engine(str(tmp / "fleet.sqlite"))
        db.create_schema(self.engine)
        b = fleet.brokers["province"]
        self.platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=b.url, workers=1,
                                                rollout_interval=0.3), engine=self.engine).start()
        (fleet.home.path / "release-keys").mkdir(exist_ok=True)
        (fleet.home.path / "release-keys" / "release.pem").write_bytes(fx.KEY.public_key().to_pem())
        cert, key = self.platform.home.https_files(["127.0.0.1"])
        self.api = start_background(build_app(self.platform), cert, key)
        self.platform.rollouts.base_url = self.api.url
        self.ctx = ssl.create_default_context(cafile=str(fleet.home.ca.cert_path))
        self.token = add_user(self.engine, "zj", "province", region="330000")
        self.plans = plan_fleet(N, seed=5)
        self.ids = [p.terminal_id for p in self.plans]
        configs = [(p, fleet.enrol_terminal(self.engine, p.terminal_id, p.region, tmp / p.terminal_id, "province",
                                            heartbeat_interval=1, model="GT-K200")) for p in self.plans]
        base = fx.make_bundle(tmp, "1.0", [fx.plugin(tmp, "1.0")])
        self.updaters: dict[str, Updater] = {}
        self.switchers: list[LocalSwitcher] = []
        for p in self.plans:
            root = tmp / p.terminal_id / "software"
            TrustStore(root / "trusted").add(fx.KEY.public_key())
            u = Updater(root, identity=Identity(p.terminal_id, model="GT-K200", region=p.region),
                        environment=SiteEnvironment(),
                        control=InProcessControl(health=lambda: {"lights": "online"}),
                        policy=Policy(simulate_devices=True, probation=1.0, health_grace=0.5))
            assert u.install_base(base) == "1.0"
            self.updaters[p.terminal_id] = u
        self.sim = SimulatedFleet(configs, speed=1.0, outage_rate=0.0, extension=self.extension)

    def extension(self, t: SimTerminal) -> tuple[dict[str, Any], Any]:
        u = self.updaters[t.plan.terminal_id]
        sw = LocalSwitcher(u, poll=0.2)
        self.switchers.append(sw)
        handler = update_handler(u, fetch=https_fetch(t.cfg.identity.ca), request_switch=sw.request)
        return {"update": handler}, lambda: {"updates": status(u)}

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.api.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def upload(self, bundle: Path) -> str:
        r = self.call("POST", "/api/v1/bundles", raw=bundle.read_bytes())
        assert r["code"] == "success", r
        return str(r["data"]["sm3"])

    def rollout(self, rid: str) -> dict[str, Any]:
        r = self.call("GET", f"/api/v1/rollouts/{rid}")
        assert r["code"] == "success", r
        return dict(r["data"])

    def states(self, rid: str) -> dict[str, str]:
        return {t["terminalId"]: t["state"] for t in self.rollout(rid)["terminals"]}

    def stop(self) -> None:
        for sw in self.switchers:
            sw.stop()
        self.sim.stop()
        self.api.stop()
        self.platform.stop()


@pytest.fixture
def world(fleet: LocalFleet, tmp_path: Path) -> Iterator[World]:
    w = World(fleet, tmp_path)
    try:
        yield w
    finally:
        w.stop()


def test_rollouts_on_a_simulated_fleet(world: World) -> None:
    w = world
    late = w.ids[-1]
    w.sim.start(offline={late})
    wait_for(lambda: len(w.call("GET", "/api/v1/terminals")["data"]) >= N - 1, 30, "terminals registered")

    # 1. a good driver update: canary, then 50 %, then 100 %; the offline terminal is updated when it returns
    good = w.upload(fx.make_bundle(w.tmp, "1.1", [fx.plugin(w.tmp, "1.1")], drivers=["lights.acme"],
                                   requiredTier="bronze"))
    r = w.call("POST", "/api/v1/rollouts", {"bundle": good, "canary": [w.ids[0]], "percents": [50, 100],
                                            "failureThreshold": 0.2})
    assert r["code"] == "success", r
    rid = r["data"]["id"]
    assert [s["name"] for s in r["data"]["stages"]] == ["canary", "50%", "100%"]
    canary_done = wait_for(lambda: w.states(rid)[w.ids[0]] == "updated" and w.rollout(rid), 120, "canary updated")
    assert canary_done["stages"][0]["counts"]["updated"] == 1
    online = [t for t in w.ids if t != late]
    wait_for(lambda: all(w.states(rid)[t] == "updated" for t in online), 180, "online terminals updated")
    doc = w.rollout(rid)
    assert w.states(rid)[late] == "pending" and doc["state"] == "running"  # waits for the late one
    for t in online:
        assert w.updaters[t].current == "1.1"
        assert (w.updaters[t].layout.version_dir("1.1") / "certification/lights.acme/report.json").is_file()
    late_t = next(t for t in w.sim.terminals if t.plan.terminal_id == late)
    w.sim.start_agent(late_t)
    wait_for(lambda: w.rollout(rid)["state"] == "done", 120, "the late terminal updated, rollout done")
    assert w.updaters[late].current == "1.1"

    # 2. a driver that fails its conformance check on the canary: halted there, nothing else touched
    bad = w.upload(fx.make_bundle(w.tmp, "1.2", [fx.plugin(w.tmp, "1.2", driver=fx.BROKEN)],
                                  drivers=["lights.acme"], requiredTier="bronze"))
    rid2 = w.call("POST", "/api/v1/rollouts", {"bundle": bad, "canary": [w.ids[1]], "percents": [100]})["data"]["id"]
    halted = wait_for(lambda: (d := w.rollout(rid2))["state"] == "halted" and d, 120, "halted at the canary")
    tmap = {t["terminalId"]: t for t in halted["terminals"]}
    assert tmap[w.ids[1]]["state"] == "failed" and tmap[w.ids[1]]["code"] == ue.CERTIFICATION_FAILED
    assert all(t["state"] == "pending" for tid, t in tmap.items() if tid != w.ids[1])
    assert "canary" in halted["reason"]
    assert all(u.current == "1.1" for u in w.updaters.values())  # the canary kept its version; nobody else moved

    # 3. a downgrade, and a bundle altered on the platform's disk after its upload: refused by the terminal
    down = w.upload(fx.make_bundle(w.tmp, "1.0.5", [fx.plugin(w.tmp, "1.0.5")]))
    rid3 = w.call("POST", "/api/v1/rollouts", {"bundle": down, "canary": [w.ids[2]], "percents": []})["data"]["id"]
    row = wait_for(lambda: (t := {x["terminalId"]: x for x in w.rollout(rid3)["terminals"]}[w.ids[2]])["state"]
                   == "failed" and t, 90, "downgrade refused")
    assert row["code"] == ue.DOWNGRADE
    tampered = w.upload(fx.make_bundle(w.tmp, "1.3", [fx.plugin(w.tmp, "1.3")]))
    stored = w.platform.rollouts.bundle_path(tampered)
    assert stored is not None
    raw = bytearray(stored.read_bytes())
    raw[-2000] ^= 0xFF  # in the last member's bytes or the tar's padding
    stored.write_bytes(bytes(raw))
    rid4 = w.call("POST", "/api/v1/rollouts", {"bundle": tampered, "canary": [w.ids[3]], "percents": []})["data"]["id"]
    row = wait_for(lambda: (t := {x["terminalId"]: x for x in w.rollout(rid4)["terminals"]}[w.ids[3]])["state"]
                   == "failed" and t, 90, "tampered bundle refused")
    assert row["code"] == ue.TAMPERED
    assert w.updaters[w.ids[2]].current == "1.1" and w.updaters[w.ids[3]].current == "1.1"


def test_unsigned_and_untrusted_bundles_are_refused_at_upload(world: World) -> None:
    from gtsdk.crypto import SM2PrivateKey
    from gtsdk.updates import bundle
    from gtsdk.updates.manifest import Manifest

    w = world
    wheel = fx.plugin(w.tmp, "2.0")
    for key, code in ((None, ue.UNSIGNED), (SM2PrivateKey.generate(), ue.UNTRUSTED_KEY)):
        out = w.tmp / f"b-{code}.tar"
        bundle.build(out, Manifest(name="x", version="2.0"), wheels=[wheel], key=key)
        r = w.call("POST", "/api/v1/bundles", raw=out.read_bytes())
        assert r["code"] == code, r
    assert w.call("GET", "/api/v1/bundles")["data"] == []
    r = w.call("POST", "/api/v1/rollouts", {"bundle": "0" * 64})
    assert r["code"] == "notFound"
