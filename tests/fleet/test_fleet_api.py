# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""The platform's HTTPS API on SQLite and PostgreSQL: roles and scopes (a city user cannot see another city's
terminals), rankings with share, 0–24 h, usage, availability and satisfaction against target, low use,
consumables forecast, the fault board with dispatch and SLA, costs, the offline monitor, the export to the
一体化平台 (JSON and CSV agree with the records sent), OpenAPI."""

from __future__ import annotations

import csv
import io
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import (  # noqa: F401
    Terminal,
    db_url,
    engine,
    fault,
    fleet,
    postgres,
    rating,
    transaction,
    wait_for,
)
from sqlalchemy import Engine, update

from gtsdk.fleet import httpd
from gtsdk.fleet.api import build_app
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.db import writer
from gtsdk.fleet.users import add_user
from gtsdk.records.schema import RecordEnvelope, RecordKind

pytestmark = pytest.mark.daemons


@dataclass
class Api:
    url: str
    ca: Path
    tokens: dict[str, str]
    platform: Platform
    terminals: dict[str, Terminal]

    def call(self, method: str, path: str, who: str = "province", body: Any = None, raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                payload = r.read()
                return (r.status, payload) if raw else json.loads(payload)
        except urllib.error.HTTPError as e:
            payload = e.read()
            return (e.code, payload) if raw else json.loads(payload)

    def data(self, path: str, who: str = "province") -> Any:
        r = self.call("GET", path, who)
        assert r["code"] == "success", r
        return r["data"]


@pytest.fixture
def api(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> Iterator[Api]:
    b = fleet.brokers["province"]
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=b.url, workers=1, offline_after=60),
                        engine=engine).start()
    tokens = {"province": add_user(engine, "zj", "province", region="330000"),
              "hangzhou": add_user(engine, "hz", "city", region="330100"),
              "ningbo": add_user(engine, "nb", "city", region="330200"),
              "maint": add_user(engine, "acme-ops", "maintainer", maintainer="acme")}
    now = datetime.now(UTC)
    terms: dict[str, Terminal] = {}
    plan = [("HZ-1", "330102", "acme", 30.27, 120.16, 12), ("HZ-2", "330106", None, 30.26, 120.12, 5),
            ("NB-1", "330203", None, 29.87, 121.55, 1)]
    for tid, region, maint, lat, lon, n in plan:
        t = Terminal(fleet.enrol_terminal(engine, tid, region, tmp_path / tid, "province", maintainer=maint,
                                          name=f"{tid} 号机", latitude=lat, longitude=lon))
        t.write(RecordEnvelope(id=f"catalogue-{tid}", kind=RecordKind.CATALOGUE, terminal_id=tid, time=now,
                               body={"version": "v1", "entries": [
                                   {"code": "S000", "nameZh": "社保证明", "department": "人社"},
                                   {"code": "S001", "nameZh": "公积金证明", "department": "公积金"}]}))
        t.transactions(n, start=now - timedelta(hours=5), services=2)
        t.write(rating(tid, now - timedelta(hours=1), "S000", 5))
        t.write(rating(tid, now - timedelta(hours=1), "S001", 2))
        t.write(RecordEnvelope(id=f"availability-{tid}", kind=RecordKind.AVAILABILITY, terminal_id=tid, time=now,
                               body={"day": (now - timedelta(days=1)).date().isoformat(), "up": 86000.0,
                                     "down": 1000.0 if tid != "NB-1" else 0.0}))
        for i, level in enumerate((0.9, 0.7, 0.5)):
            t.write(RecordEnvelope(id=f"paper-{tid}-{i}", kind=RecordKind.CONSUMABLE, terminal_id=tid,
                                   time=now - timedelta(days=2 - i),
                                   body={"module": "receipt_printer", "name": "paper", "state": "ok", "level": level}))
        t.start()
        terms[tid] = t
    terms["HZ-1"].write(fault("HZ-1", now - timedelta(minutes=30), level=1, rid="f-hz1-level1",
                              module="idcard"))
    for t in terms.values():
        wait_for(lambda t=t: t.outbox_size() == 0, what=f"{t.id} delivered")
    cert, key = platform.home.https_files(["127.0.0.1"])
    running = httpd.start_background(build_app(platform), cert, key)
    try:
        yield Api(running.url, platform.home.ca.cert_path, tokens, platform, terms)
    finally:
        running.stop()
        for t in terms.values():
            t.stop()
        platform.stop()


def test_roles_and_scopes(api: Api) -> None:
    assert {t["id"] for t in api.data("/api/v1/terminals")} == {"HZ-1", "HZ-2", "NB-1"}
    assert {t["id"] for t in api.data("/api/v1/terminals", "hangzhou")} == {"HZ-1", "HZ-2"}
    assert {t["id"] for t in api.data("/api/v1/terminals", "ningbo")} == {"NB-1"}
    assert {t["id"] for t in api.data("/api/v1/terminals", "maint")} == {"HZ-1"}
    # another city's terminal does not exist for a city user, nor can it be commanded or revoked
    assert api.call("GET", "/api/v1/terminals/NB-1", "hangzhou")["code"] == "notFound"
    assert api.call("POST", "/api/v1/terminals/NB-1/commands", "hangzhou", {"op": "status"})["code"] == "notFound"
    assert api.call("POST", "/api/v1/terminals/NB-1/revoke", "hangzhou")["code"] == "notFound"
    assert api.data("/api/v1/overview", "hangzhou")["terminals"] == 2
    assert [r["terminalId"] for r in api.data("/api/v1/stats/terminals", "ningbo")] == ["NB-1"]
    # a maintainer may not manage, export or read the audit trail; nobody without a token
    assert api.call("POST", "/api/v1/enrolment-codes", "maint", {"terminalId": "X-1", "region": "330102"}
                    )["code"] == "forbidden"
    assert api.call("GET", "/api/v1/export/national", "maint")["code"] == "forbidden"
    assert api.call("GET", "/api/v1/audit", "hangzhou")["code"] == "forbidden"
    assert api.call("POST", "/api/v1/enrolment-codes", "hangzhou", {"terminalId": "X-2", "region": "330203"}
                    )["code"] == "forbidden"  # outside the city
    api.tokens["nobody"] = "gtf_" + "x" * 43
    status, _ = api.call("GET", "/api/v1/overview", "nobody", raw=True)
    assert status == 401
    # bad input gets a clear code and field
    r = api.call("GET", "/api/v1/stats/services?days=0")
    assert r["code"] == "invalidData" and r["field"] == "days"
    r = api.call("POST", "/api/v1/faults/f-hz1-level1/transition", body={"to": "teleported"})
    assert r["code"] == "invalidData"


def test_statistics(api: Api) -> None:
    svc = api.data("/api/v1/stats/services?days=7")
    assert sum(x["count"] for x in svc) == 18 and abs(sum(x["share"] for x in svc) - 1) < 1e-9
    assert svc[0]["name"] in ("社保证明", "公积金证明") and svc[0]["rank"] == 1
    trm = api.data("/api/v1/stats/terminals?days=7")
    assert [(x["terminalId"], x["count"]) for x in trm] == [("HZ-1", 12), ("HZ-2", 5), ("NB-1", 1)]
    assert sum(api.data("/api/v1/stats/hourly?days=2")) == 18
    days = api.data("/api/v1/stats/usage?days=7&period=day")
    assert sum(d["count"] for d in days) == 18
    assert api.data("/api/v1/stats/usage?days=400&period=year")[-1]["count"] == 18
    av = {x["key"]: x for x in api.data("/api/v1/stats/availability?days=7&by=terminal")}
    assert av["NB-1"]["meetsTarget"] and not av["HZ-1"]["meetsTarget"]  # 86000 / 87000 < 99.5 %
    sat = api.data("/api/v1/stats/satisfaction?days=7&by=service")
    assert {x["key"]: x["satisfaction"] for x in sat} == {"S000": 1.0, "S001": 0.0}
    low = {x["terminalId"] for x in api.data("/api/v1/lowuse?days=7")}
    assert "NB-1" in low and "HZ-1" not in low
    cons = api.data("/api/v1/consumables")
    hz = next(c for c in cons if c["terminalId"] == "HZ-1")
    assert hz["level"] == 0.5 and hz["daysLeft"] == pytest.approx(2.5, rel=0.01)  # -0.2/day from 0.5


def test_fault_board_dispatch_and_costs(api: Api) -> None:
    board = api.data("/api/v1/faults?state=active")
    f = next(x for x in board if x["id"] == "f-hz1-level1")
    assert f["level"] == 1 and f["target"] == "onSite" and 0 < f["remaining"] <= 2 * 3600 - 1700
    assert api.call("POST", "/api/v1/faults/f-hz1-level1/transition", "maint", {"to": "acknowledged"}
                    )["code"] == "success"
    assert api.call("POST", "/api/v1/faults/f-hz1-level1/transition", "maint", {"to": "acknowledged"}
                    )["code"] == "invalidState"
    api.call("POST", "/api/v1/faults/f-hz1-level1/transition", "maint", {"to": "onSite", "assignee": "王工"})
    api.call("POST", "/api/v1/faults/f-hz1-level1/transition", "maint", {"to": "resolved", "note": "换读卡器"})
    done = next(x for x in api.data("/api/v1/faults?terminal=HZ-1") if x["id"] == "f-hz1-level1")
    assert done["state"] == "resolved" and done["slaMet"] is True and done["assignee"] == "王工"
    assert api.data("/api/v1/overview")["faultKpis"]["1"]["metShare"] == 1.0
    assert api.call("POST", "/api/v1/costs", "maint", {"terminalId": "HZ-1", "kind": "repair", "amount": 350.0,
                                                       "hours": 2.5, "faultId": "f-hz1-level1"})["code"] == "success"
    api.call("POST", "/api/v1/costs", "maint", {"terminalId": "HZ-1", "kind": "consumable", "amount": 42.0})
    cost = next(c for c in api.data("/api/v1/costs?days=30") if c["terminalId"] == "HZ-1")
    assert (cost["repair"], cost["consumable"], cost["hours"], cost["total"], cost["visits"]) == (350, 42, 2.5, 392, 1)
    assert api.call("POST", "/api/v1/costs", "maint", {"terminalId": "NB-1", "kind": "repair", "amount": 1}
                    )["code"] == "notFound"


def test_offline_monitor_opens_and_resolves_a_level_1_fault(api: Api) -> None:
    t = api.terminals["HZ-2"]
    t.stop()  # graceful: the retained state says offline
    wait_for(lambda: not next(x for x in api.data("/api/v1/terminals") if x["id"] == "HZ-2")["online"],
             what="offline state")
    long_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    with writer(api.platform.engine).begin() as c:
        c.execute(update(s.terminals).where(s.terminals.c.id == "HZ-2").values(state_changed=long_ago))
    assert api.platform.check_offline() == (1, 0)
    assert api.platform.check_offline() == (0, 0)  # once
    f = next(x for x in api.data("/api/v1/faults?state=active") if x["kind"] == "offline")
    assert f["terminalId"] == "HZ-2" and f["level"] == 1 and f["source"] == "platform"
    t.start()
    wait_for(lambda: next(x for x in api.data("/api/v1/terminals") if x["id"] == "HZ-2")["online"], what="online")
    wait_for(lambda: api.platform.check_offline()[1] == 1 or not [
        x for x in api.data("/api/v1/faults?state=active") if x["kind"] == "offline"], what="resolved")
    assert not [x for x in api.data("/api/v1/faults?state=active") if x["kind"] == "offline"]


def test_export_matches_the_records(api: Api) -> None:
    today = date.today()
    q = f"from={today - timedelta(days=3)}&to={today + timedelta(days=1)}"
    data = api.data(f"/api/v1/export/national?{q}")
    assert data["terminals"]["total"] == 3
    assert {s_["code"]: s_["terminals"] for s_ in data["services"]} == {"S000": 3, "S001": 3}
    assert sum(v["count"] for v in data["volume"]) == 18
    assert sum(r["count"] for r in data["ratings"]) == 6
    status, body = api.call("GET", f"/api/v1/export/national?{q}&format=csv&part=volume", raw=True)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sum(int(r["count"]) for r in rows) == 18
    assert {r["region"] for r in rows} == {"330102", "330106", "330203"}
    city = api.data(f"/api/v1/export/national?{q}", "hangzhou")
    assert city["terminals"]["total"] == 2 and city["scope"] == "3301"


def test_openapi_lists_every_route(api: Api) -> None:
    doc = api.data("/api/v1/me")
    assert doc["role"] == "province"
    status, body = api.call("GET", "/api/v1/openapi.json", raw=True)
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.1")
    for path in ("/api/v1/terminals/{id}/commands", "/api/v1/stats/services", "/api/v1/export/national",
                 "/api/v1/faults/{id}/transition", "/api/v1/enrol"):
        assert path in spec["paths"], path
    assert "CommandRequest" in spec["components"]["schemas"]
    assert "security" not in spec["paths"]["/api/v1/enrol"]["post"]
