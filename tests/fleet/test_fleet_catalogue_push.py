# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures / _records_fixtures are parameters here)
"""Pushing a 事项 catalogue (pushCatalogue; 6.3, 7.1.3 a): the command's parameters, the file written atomically, the
running service swapping it in, and — over the broker, on SQLite and PostgreSQL — a push to a region with its
result per terminal, a bad catalogue refused by the platform and by the terminal, the old one kept."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import tomllib
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from _fleet_service_fixtures import ServiceTerminal, service_terminal
from _records_fixtures import CATALOGUE, Records, records  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from gtsdk.errors import ConfigError, GtsdkError
from gtsdk.fleet import catalogue_push, httpd
from gtsdk.fleet.api import build_app
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.pushes import Pushes
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import User, add_user
from gtsdk.modules import MODULES
from gtsdk.records import catalogue
from gtsdk.records.schema import Catalogue, CatalogueEntry, RecordEnvelope, RecordKind

NEW = """
version = "test-2"

[[entries]]
code = "permit"
name_zh = "证明开具"
name_en = "Certificate"
modules = ["idcard", "lights"]

[[entries]]
code = "renew"
name_zh = "证件续期"
department = "公安"
modules = ["idcard"]
typical_duration = 120
"""


def cat(version: str, *codes: str, modules: list[str] | None = None) -> dict[str, Any]:
    return {"version": version, "entries": [{"code": c, "nameZh": f"服务 {c}", "modules": modules or ["idcard"]}
                                            for c in codes]}


# ---- the command's parameters ---------------------------------------------------------------------------------
entries = st.lists(st.builds(
    CatalogueEntry.model_validate,
    st.fixed_dictionaries({
        "code": st.from_regex(r"[0-9A-Za-z._-]{1,20}", fullmatch=True),
        "nameZh": st.text(min_size=1, max_size=30),
        "nameEn": st.text(max_size=30),
        "modules": st.lists(st.sampled_from(list(MODULES)), max_size=4, unique=True),
        "onTerminal": st.booleans(),
        "typicalDuration": st.one_of(st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False)),
    }),
), min_size=1, max_size=300, unique_by=lambda e: e.code)


@settings(max_examples=60, deadline=None)
@given(version=st.text(alphabet="0123456789.-abc", min_size=1, max_size=20), items=entries)
def test_params_round_trip(version: str, items: list[CatalogueEntry]) -> None:
    c = Catalogue(version=version, entries=items)
    params = catalogue_push.encode(c)
    plain = len(json.dumps(c.model_dump(by_alias=True, mode="json", exclude_none=True), ensure_ascii=False,
                           separators=(",", ":")).encode())
    assert ("catalogue" in params) == (plain <= catalogue_push.PLAIN_MAX)
    assert catalogue_push.decode(json.loads(json.dumps(params))) == c


def test_bad_params_are_refused_with_what_is_wrong() -> None:
    bomb = base64.b64encode(zlib.compress(b" " * (catalogue.MAX_FILE_BYTES + 10))).decode()
    for params, code, field in (
        ({}, "invalidData", "catalogue"),
        ({"catalogue": cat("v", "a"), "extra": 1}, "invalidData", "extra"),
        ({"catalogueZlib": "***"}, "invalidData", "catalogueZlib"),
        ({"catalogueZlib": base64.b64encode(b"not zlib").decode()}, "invalidData", "catalogueZlib"),
        ({"catalogueZlib": base64.b64encode(zlib.compress(b"[1]")[:-3]).decode()}, "invalidData", "catalogueZlib"),
        ({"catalogueZlib": bomb}, "payloadTooLarge", "catalogueZlib"),
        ({"catalogue": [1]}, "invalidData", "catalogue"),
    ):
        with pytest.raises(GtsdkError) as e:
            catalogue_push.decode(params)
        assert (e.value.code, e.value.field) == (code, field), params
    bad = cat("v", "good", "bad")
    bad["entries"][1]["modules"] = ["idcard", "teleporter"]
    with pytest.raises(ConfigError) as ce:
        catalogue_push.decode({"catalogue": bad})
    assert ce.value.key == "catalogue: entries[1] (bad).modules" and "teleporter" in ce.value.detail


# ---- the file ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["catalogue.toml", "catalogue.json"])
def test_write_file_round_trips_and_is_atomic(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / name
    c1 = catalogue.parse(cat("v1", "a", "b"), "x")
    catalogue.write_file(path, c1, header="pushed by the fleet platform\nsecond line")
    assert catalogue.load_file(path) == c1
    if name.endswith(".toml"):
        assert path.read_text(encoding="utf-8").startswith("# pushed by the fleet platform\n# second line\n")
    before = path.read_bytes()

    def broken(*_a: Any) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        catalogue.write_file(path, catalogue.parse(cat("v2", "c"), "x"))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp left


def test_the_platform_keeps_the_catalogue_written_last(engine: Engine) -> None:
    """A catalogue record that arrives late (a resend after a lost receipt) does not undo a newer one."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from gtsdk.fleet.store.apply import Applier, Incoming
    from gtsdk.fleet.store.db import writer
    with writer(engine).begin() as c:
        c.execute(insert(s.terminals).values(id="T-1", region="330102", name="", address="", vendor="", model="",
                                             software_version="", modules={}, profile_version=0,
                                             low_use_exempt=False, online=False, session=0))
    now = datetime.now(UTC)

    def rec(rid: str, version: str, when: datetime) -> Incoming:
        e = RecordEnvelope(id=rid, kind=RecordKind.CATALOGUE, terminal_id="T-1", time=when, body=cat(version, "a"))
        return Incoming("T-1", "330102", e.model_dump_json(by_alias=True).encode(), 1)
    ap = Applier(engine)
    older, newer = rec("catalogue-0001", "v1", now - timedelta(minutes=5)), rec("catalogue-0002", "v2", now)
    ap.apply([older])
    ap.apply([newer])
    ap.apply([older])  # again, late
    ap.apply([newer, older])
    with engine.connect() as c:
        assert c.execute(select(s.catalogues.c.version)).scalar() == "v2"
        assert c.execute(select(s.catalogue_history.c.catalogue_version).order_by(
            s.catalogue_history.c.time)).scalars().all() == ["v1", "v2"]


# ---- the running service -------------------------------------------------------------------------------------
def catalogue_records(svc: Records) -> list[str]:
    import sqlite3
    with sqlite3.connect(svc.home / "records.sqlite") as db:
        bodies = [RecordEnvelope.model_validate_json(b) for (b,) in db.execute(
            "SELECT body FROM outbox WHERE kind = 'catalogue' ORDER BY seq")]
    return [str(e.body["version"]) for e in bodies if e.kind == RecordKind.CATALOGUE]


def test_the_service_swaps_a_pushed_catalogue_in(records: Records) -> None:
    rec = records.app.records  # type: ignore[attr-defined]
    assert records.ok("GET", "/v1/catalogue")["version"] == "test-1"
    new, changed = rec.replace_catalogue(catalogue_push.decode({"catalogue": cat("test-2", "permit", "renew")}))
    assert changed and new.version == "test-2"
    served = records.ok("GET", "/v1/catalogue")
    assert served["version"] == "test-2" and [e["code"] for e in served["entries"]] == ["permit", "renew"]
    assert served["source"] == "home" and all(e["available"] for e in served["entries"])
    assert catalogue.load(records.home, None)[0] == new  # what the next start reads
    # the transaction routes follow: a code of the new catalogue begins, one of the old does not
    assert records.request("POST", "/v1/transactions", {"serviceCode": "renew"})[1]["code"] == "success"
    assert records.request("POST", "/v1/transactions", {"serviceCode": "query"})[1]["code"] == "invalidData"
    assert catalogue_records(records) == ["test-1", "test-2"]
    # the same again: nothing changes, no record; the version in force with other entries: refused
    assert rec.replace_catalogue(new) == (new, False)
    with pytest.raises(GtsdkError) as e:
        rec.replace_catalogue(cat("test-2", "permit"))
    assert e.value.code == "invalidData" and e.value.field == "catalogue.version"
    # a bad catalogue: refused naming the entry; the file and the catalogue in force stay
    before = (records.home / "catalogue.toml").read_bytes()
    bad = cat("test-3", "permit", "x y")
    with pytest.raises(ConfigError) as ce:
        rec.replace_catalogue(bad)
    assert ce.value.key == "catalogue: entries[1] (x y).code"
    assert (records.home / "catalogue.toml").read_bytes() == before
    assert records.ok("GET", "/v1/catalogue")["version"] == "test-2"
    # back to the first version: in force again, so recorded again (the platform must learn it)
    first = catalogue.parse(tomllib.loads(CATALOGUE), "x")
    assert rec.replace_catalogue(first)[1]
    assert catalogue_records(records) == ["test-1", "test-2", "test-1"]


# ---- over the broker: the platform pushes, terminals answer ----------------------------------------------------
@dataclass
class Fleet:
    url: str
    ca: Path
    tokens: dict[str, str]
    platform: Platform
    terminals: dict[str, ServiceTerminal]

    def call(self, method: str, path: str, who: str = "province", body: Any = None) -> Any:
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.tokens[who]}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(self.ca)),
                                        timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())


@pytest.fixture
def pushing(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> Iterator[Fleet]:
    b = fleet.brokers["province"]
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=b.url, workers=0), engine=engine).start()
    worker = start_worker(fleet, engine)
    tokens = {"province": add_user(engine, "zj", "province", region="330000"),
              "hangzhou": add_user(engine, "hz", "city", region="330100"),
              "ningbo": add_user(engine, "nb", "city", region="330200"),
              "maint": add_user(engine, "acme-ops", "maintainer", maintainer="acme")}
    terms: dict[str, ServiceTerminal] = {}
    cert, key = platform.home.https_files(["127.0.0.1"])
    running = httpd.start_background(build_app(platform), cert, key)
    try:
        for tid, region in (("HZ-A", "330102"), ("HZ-B", "330106"), ("NB-A", "330203")):
            terms[tid] = service_terminal(fleet, engine, tid, region, tmp_path / tid)
        for t in terms.values():
            wait_for(lambda t=t: t.agent.outbox_size() == 0,  # type: ignore[misc]
                     what=f"{t.id}: first records delivered")
        yield Fleet(running.url, platform.home.ca.cert_path, tokens, platform, terms)
    finally:
        running.stop()
        for t in terms.values():
            t.stop()
        worker.stop()
        platform.stop()


def test_push_to_a_region_with_results_per_terminal(pushing: Fleet, engine: Engine) -> None:
    f = pushing
    r = f.call("POST", "/api/v1/catalogue-pushes", "hangzhou", {"toml": NEW, "region": "3301"})
    assert r["code"] == "success", r
    push = r["data"]
    assert (push["version"], push["targets"], push["target"]) == ("test-2", 2, "region:3301")

    def done() -> Any:
        d = f.call("GET", f"/api/v1/catalogue-pushes/{push['id']}", "hangzhou")["data"]
        return d if d["counts"].get("success") == 2 else None
    view = wait_for(done, timeout=30, what="both terminals answered")
    assert [x["terminalId"] for x in view["results"]] == ["HZ-A", "HZ-B"]
    assert all(x["result"]["version"] == "test-2" and x["result"]["changed"] for x in view["results"])
    # the terminals serve it, the one of Ningbo keeps its own
    for tid in ("HZ-A", "HZ-B"):
        served = f.terminals[tid].get("/v1/catalogue")
        assert served["version"] == "test-2" and [e["code"] for e in served["entries"]] == ["permit", "renew"]
    assert f.terminals["NB-A"].get("/v1/catalogue")["version"] == "test-1"
    # their catalogue and profile records reach the platform
    for t in f.terminals.values():
        wait_for(lambda t=t: t.agent.outbox_size() == 0,  # type: ignore[misc]
                 what=f"{t.id}: records after the push delivered")
    with engine.connect() as c:
        assert dict(c.execute(select(s.catalogues.c.terminal_id, s.catalogues.c.version)).all()) == {
            "HZ-A": "test-2", "HZ-B": "test-2", "NB-A": "test-1"}
    listed = {t["id"]: t["catalogue_version"] for t in f.call("GET", "/api/v1/terminals")["data"]}
    assert listed == {"HZ-A": "test-2", "HZ-B": "test-2", "NB-A": "test-1"}
    # scopes: Ningbo does not see a push that reached none of its terminals; a maintainer may not push
    assert f.call("GET", f"/api/v1/catalogue-pushes/{push['id']}", "ningbo")["code"] == "notFound"
    assert [p["id"] for p in f.call("GET", "/api/v1/catalogue-pushes", "ningbo")["data"]] == []
    assert [p["id"] for p in f.call("GET", "/api/v1/catalogue-pushes")["data"]] == [push["id"]]
    assert f.call("POST", "/api/v1/catalogue-pushes", "maint", {"toml": NEW, "all": True})["code"] == "forbidden"
    assert f.call("POST", "/api/v1/catalogue-pushes", "hangzhou", {"toml": NEW, "region": "3302"}
                  )["code"] == "forbidden"
    assert f.call("POST", "/api/v1/catalogue-pushes", "hangzhou", {"toml": NEW, "terminals": ["NB-A"]}
                  )["code"] == "notFound"


def test_a_bad_catalogue_is_refused_and_the_old_one_stays(pushing: Fleet, engine: Engine) -> None:
    f = pushing
    bad = NEW.replace('modules = ["idcard"]\ntypical', 'modules = ["idcard", "teleporter"]\ntypical')
    r = f.call("POST", "/api/v1/catalogue-pushes", "province", {"toml": bad, "all": True})
    assert r["code"] == "invalidData" and r["field"] == "catalogue: entries[1] (renew).modules", r
    assert "teleporter" in r["detail"]
    assert f.call("GET", "/api/v1/catalogue-pushes")["data"] == []  # nothing was sent
    # the same catalogue sent as a raw command (a platform that did not check): the terminal refuses it itself
    t = f.terminals["HZ-A"]
    before = (t.home / "catalogue.toml").read_bytes()
    user = User("zj", "province", "330000", None)
    raw = catalogue_push.encode(catalogue.parse(cat("test-9", "permit"), "x"))
    raw["catalogue"]["entries"].append({"code": "renew", "nameZh": "续期", "modules": ["teleporter"]})
    sent = f.platform.send_command(user, "HZ-A", "pushCatalogue", raw)

    def answered(cid: str) -> Any:
        with engine.connect() as c:
            row = c.execute(select(s.commands.c.state, s.commands.c.code, s.commands.c.result)
                            .where(s.commands.c.id == cid)).first()
        return row if row is not None and row.state != "sent" else None
    row = wait_for(lambda: answered(sent["id"]), what="the terminal's answer")
    assert (row.state, row.code) == ("failed", "configError")
    assert "entries[1] (renew).modules" in row.result["detail"] and "teleporter" in row.result["detail"]
    assert (t.home / "catalogue.toml").read_bytes() == before
    assert t.get("/v1/catalogue")["version"] == "test-1"
    # the version in force with other entries: refused too
    same = f.platform.send_command(user, "HZ-A", "pushCatalogue", catalogue_push.encode(
        catalogue.parse(cat("test-1", "other"), "x")))
    row = wait_for(lambda: answered(same["id"]), what="the second answer")
    assert (row.state, row.code) == ("failed", "invalidData") and "test-1" in row.result["detail"]
    assert t.get("/v1/catalogue")["version"] == "test-1"
    time.sleep(0.2)
    with engine.connect() as c:
        assert c.execute(select(s.catalogues.c.version).where(s.catalogues.c.terminal_id == "HZ-A")).scalar() \
            == "test-1"


def test_a_push_left_half_sent_goes_on_when_the_platform_starts_again(pushing: Fleet, engine: Engine) -> None:
    f = pushing
    user = User("zj", "province", "330000", None)
    pushes = Pushes(f.platform)
    new = catalogue.parse(tomllib.loads(NEW), "x")
    f.platform._stop.set()  # the platform stops before its sender thread sent anything
    try:
        push = pushes.push(user, new, region="3301")
        old = pushes.push(user, catalogue.parse(cat("test-0", "permit"), "x"), terminals=["NB-A"])
        assert pushes.wait(10)
    finally:
        f.platform._stop.clear()
    assert {x["state"] for x in pushes.get(user, push["id"])["results"]} == {"pending"}
    with engine.begin() as c:  # an expired push is left as it was
        c.execute(s.catalogue_pushes.update().where(s.catalogue_pushes.c.id == old["id"])
                  .values(expires=now_naive() - timedelta(seconds=1)))
    # started again: the API resumes what is pending
    build_app(f.platform)

    def done() -> Any:
        view = Pushes(f.platform).get(user, push["id"])
        return view if view["counts"].get("success") == 2 else None
    view = wait_for(done, timeout=30, what="the resumed push answered")
    assert all(x["result"]["version"] == "test-2" for x in view["results"])
    assert f.terminals["HZ-A"].get("/v1/catalogue")["version"] == "test-2"
    assert {x["state"] for x in Pushes(f.platform).get(user, old["id"])["results"]} == {"pending"}
    assert f.terminals["NB-A"].get("/v1/catalogue")["version"] == "test-1"
