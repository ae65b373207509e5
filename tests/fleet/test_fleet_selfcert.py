# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Self-certification (the ``conformance`` command, 7.4.4): the terminal runs ``gtsdk certify`` against its own
service with tokens it makes for the run and revokes after, signs the report with its SM2 key and uploads it in
parts; the platform reassembles the parts whichever worker gets which, verifies the signature against the key the
terminal enrolled with, stores the report and shows tier and date per terminal — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import ssl
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from _fleet_service_fixtures import service_terminal
from sqlalchemy import Engine, select, update

from gtsdk.audit import Signer
from gtsdk.conformance import signing
from gtsdk.conformance.model import CheckResult, Outcome, Report, Tier
from gtsdk.crypto import SM2PrivateKey
from gtsdk.fleet import certifications, httpd, selfcert
from gtsdk.fleet import commands as cmds
from gtsdk.fleet.api import build_app
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.db import writer
from gtsdk.fleet.users import User, add_user
from gtsdk.server.tokens import TokenStore


def signed_report(key: SM2PrivateKey, checks: int = 40) -> bytes:
    rep = Report(kind="terminal", target="https://127.0.0.1:8801", tool="gtsdk test")
    rep.results = [CheckResult(id=f"service.check_{i}", title="t", clause="8.2", tier=Tier.BRONZE,
                               outcome=Outcome.PASS, evidence={"reply": "x" * 200}) for i in range(checks)]
    rep.finish()
    signing.sign(rep, key)
    return rep.model_dump_json(indent=2).encode()


def enrol_key(engine: Engine, tid: str, key: SM2PrivateKey) -> None:
    pub = key.public_key()
    with writer(engine).begin() as c:
        c.execute(s.terminal_keys.delete().where(s.terminal_keys.c.terminal_id == tid))
        c.execute(s.terminal_keys.insert().values(terminal_id=tid, sm2_public=pub.to_pem().decode(),
                                                  fingerprint=pub.fingerprint()[:64], registered=now_naive()))


def result_for(upload: dict[str, Any], cid: str = "c" * 32, tid: str = "T-1") -> cmds.CommandResult:
    return cmds.CommandResult(id=cid, terminal_id=tid, op="conformance", code="success",
                              data={"tier": "bronze", "report": upload}, finished_at=0)


def apply_in_order(engine: Engine, batches: list[tuple[list[Any], list[Any]]]) -> int:
    n = 0
    for parts, results in batches:
        with writer(engine).begin() as c:
            n += certifications.apply(c, parts, results, now_naive())
    return n


# ---- the platform's reassembly, without a broker ----------------------------------------------------------------
def test_parts_in_any_order_make_one_verified_report(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SM2PrivateKey.generate()
    enrol_key(engine, "T-1", key)
    report = signed_report(key)
    monkeypatch.setattr(selfcert, "PART_BYTES", 256)
    msgs, upload = selfcert.parts("a" * 32, report)
    assert upload["parts"] == len(msgs) > 2
    items: list[tuple[list[Any], list[Any]]] = [([("T-1", "330102", certifications.parse_part(m))], []) for m in msgs]
    items.append(([], [("T-1", "330102", result_for(upload))]))
    items += items[:2]  # redelivered
    random.Random(7).shuffle(items)
    assert apply_in_order(engine, items) == 1
    with engine.connect() as c:
        row = c.execute(select(s.certifications)).one()
        assert (row.terminal_id, row.tier, row.verified, row.passed, row.problem) == ("T-1", "bronze", True, True, None)
        assert row.counts["pass"] == 40 and row.size == len(report)
        assert certifications.report(c, "T-1", row.command_id) == json.loads(report)
        assert c.execute(select(s.report_parts)).first() is None and c.execute(select(s.report_uploads)).first() \
            is None


def test_a_report_signed_by_another_key_is_kept_as_not_verified(engine: Engine) -> None:
    enrol_key(engine, "T-1", SM2PrivateKey.generate())
    msgs, upload = selfcert.parts("b" * 32, signed_report(SM2PrivateKey.generate()))
    apply_in_order(engine, [([("T-1", "330102", certifications.parse_part(m)) for m in msgs],
                             [("T-1", "330102", result_for(upload))])])
    with engine.connect() as c:
        row = c.execute(select(s.certifications.c.verified, s.certifications.c.problem)).one()
    assert not row.verified and "different key" in row.problem


def test_a_corrupted_upload_is_refused_and_audited(engine: Engine) -> None:
    enrol_key(engine, "T-1", k := SM2PrivateKey.generate())
    msgs, upload = selfcert.parts("c" * 32, signed_report(k))
    part = certifications.parse_part(msgs[0])
    broken = certifications.Part(part.upload, part.index, part.count, part.sha256, part.data[:-1] + b"\x00")
    apply_in_order(engine, [([("T-1", "330102", broken)], [("T-1", "330102", result_for(upload))])])
    with engine.connect() as c:
        assert c.execute(select(s.certifications)).first() is None
        audit = c.execute(select(s.audit.c.action, s.audit.c.detail)).all()
        assert c.execute(select(s.report_parts)).first() is None
    assert [a.action for a in audit] == ["certification.refused"] and "SHA-256" in audit[0].detail


@pytest.mark.parametrize("payload", [
    b'{"reportPart": {"upload": "x", "index": 0, "count": 1, "sha256": "0", "data": ""}}',
    b'{"reportPart": {"upload": "' + b"a" * 32 + b'", "index": 1, "count": 1, "sha256": "' + b"0" * 64
    + b'", "data": ""}}',
    b'{"reportPart": {"upload": "' + b"a" * 32 + b'", "index": 0, "count": 999, "sha256": "' + b"0" * 64
    + b'", "data": ""}}',
    b'{"reportPart": {"upload": "' + b"a" * 32 + b'", "index": 0, "count": 1, "sha256": "' + b"0" * 64
    + b'", "data": "***"}}',
    b'{"reportPart": [1]}', b'{"reportPart": {}, "x": 1}', b"[]",
])
def test_malformed_parts_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        certifications.parse_part(payload)


def test_request_parameters_are_checked() -> None:
    assert selfcert.Request.from_params({}).budget == selfcert.DEFAULT_BUDGET
    for bad, field in (({"budget": 1}, "budget"), ({"budget": True}, "budget"), ({"only": "service."}, "only"),
                       ({"modules": ["id card"]}, "modules"), ({"wait": -1}, "wait"), ({"target": "x"}, "target")):
        with pytest.raises(Exception) as e:
            selfcert.Request.from_params(bad)
        assert getattr(e.value, "field", None) == field


# ---- end to end over the broker ---------------------------------------------------------------------------------
@pytest.mark.daemons
def test_a_terminal_certifies_itself_and_the_platform_shows_it(fleet: LocalFleet, engine: Engine, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selfcert, "PART_BYTES", 2048)  # several parts, shared between two workers
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=fleet.brokers["province"].url, workers=0),
                        engine=engine).start()
    workers = [start_worker(fleet, engine, n=2), start_worker(fleet, engine, n=3)]
    token = add_user(engine, "zj", "province", region="330000")
    cert, tls_key = platform.home.https_files(["127.0.0.1"])
    api = httpd.start_background(build_app(platform), cert, tls_key)
    t = service_terminal(fleet, engine, "T-CERT", "330102", tmp_path / "t", serve=True)
    user = User("zj", "province", "330000", None)

    def get(path: str) -> Any:
        req = urllib.request.Request(api.url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(platform.home.ca.cert_path)),
                                    timeout=30) as r:
            return json.loads(r.read())["data"]

    def answered(cid: str) -> Any:
        with engine.connect() as c:
            row = c.execute(select(s.commands.c.state, s.commands.c.code, s.commands.c.result)
                            .where(s.commands.c.id == cid)).first()
        return row if row is not None and row.state != "sent" else None
    try:
        assert t.agent.wait_connected(15)
        sent = platform.send_command(user, "T-CERT", "conformance", {"budget": 60, "only": ["service."]},
                                     lifetime=600)
        row = wait_for(lambda: answered(sent["id"]), timeout=120, what="the certification's result")
        assert (row.state, row.code) == ("success", "success"), row
        assert row.result["tier"] == "bronze" and row.result["report"]["parts"] > 1
        got = wait_for(lambda: get("/api/v1/certifications"), timeout=20, what="the report stored")
        assert [(x["terminalId"], x["tier"], x["verified"]) for x in got] == [("T-CERT", "bronze", True)]
        listed = {x["id"]: x["certification"] for x in get("/api/v1/terminals")}
        assert listed["T-CERT"]["tier"] == "bronze" and listed["T-CERT"]["commandId"] == sent["id"]
        generated = datetime.fromisoformat(listed["T-CERT"]["generated"].replace("Z", "+00:00"))
        assert abs((datetime.now(UTC) - generated).total_seconds()) < 300
        full = get(f"/api/v1/certifications/{sent['id']}")
        assert full["verified"] and full["report"]["kind"] == "terminal"
        assert signing.verify(full["report"], Signer(t.home).public)[0]  # the terminal's own key signed it
        assert get("/api/v1/terminals/T-CERT")["certifications"][0]["commandId"] == sent["id"]
        # the tokens made for the run exist no more
        made = [x for x in TokenStore(t.home).list() if x.label == selfcert.TOKEN_LABEL]
        assert len(made) == 2 and all(x.revoked for x in made)
        # a report the enrolled key did not sign (here: the platform has another key on file) is kept, not verified
        with writer(engine).begin() as c:
            c.execute(update(s.terminal_keys).where(s.terminal_keys.c.terminal_id == "T-CERT").values(
                sm2_public=SM2PrivateKey.generate().public_key().to_pem().decode()))
        again = platform.send_command(user, "T-CERT", "conformance", {"budget": 30, "only": ["service.discovery"]})
        wait_for(lambda: answered(again["id"]), timeout=120, what="the second result")
        newest = wait_for(lambda: [x for x in get("/api/v1/certifications") if x["commandId"] == again["id"]],
                          timeout=20, what="the second report stored")
        assert newest[0]["verified"] is False
        # a business transaction is open: the certification does not take the devices from the citizen
        import asyncio

        import httpx

        async def begin() -> Any:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=t.app), base_url="https://x") as c:
                return (await c.post("/v1/transactions", json={"serviceCode": "permit"},
                                     headers={"Authorization": f"Bearer {t.token}"})).json()
        assert asyncio.run(begin())["code"] == "success"
        busy = platform.send_command(user, "T-CERT", "conformance", {"wait": 0})
        row = wait_for(lambda: answered(busy["id"]), timeout=30, what="the busy answer")
        assert (row.state, row.code) == ("failed", "deviceBusy")
    finally:
        t.stop()
        api.stop()
        for w in workers:
            w.stop()
        platform.stop()
