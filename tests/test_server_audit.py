"""Audit log (9.3.3 b): every operation recorded, ID numbers masked, SM3 chain, signed heads; sealing (9.3.2)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _server_fixtures import ID_NUMBER, Svc, service_fixture, start_service
from click.testing import CliRunner

from gtsdk import wire as wm
from gtsdk.audit import AuditLog, mask_id
from gtsdk.cli import main
from gtsdk.client import Client


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    yield from service_fixture(tmp_path)


def test_mask_id() -> None:
    assert mask_id("110101199003071234") == "110101********1234"
    assert mask_id("11010119900307123X") == "110101********123X"
    assert mask_id("E12345678") == "E1*****78"
    assert mask_id("1234") == "****"


def _some_operations(s: Svc) -> None:
    with s.app() as c:
        assert c.post("/v1/idcard/open").status_code == 200
        assert c.post("/v1/idcard/read", json={}).status_code == 200
        assert c.post("/v1/lights/on", json={"light": "a"}).status_code == 200
        assert c.post("/v1/lights/flash", json={"light": "a", "timeout": 1}).status_code in (200, 504)


def test_every_operation_recorded_without_personal_data(svc: Svc) -> None:
    _some_operations(svc)
    audit = svc.running.app.audit
    assert audit is not None
    rows = audit.query()
    ops = [(r["module"], r["operation"]) for r in rows]
    assert ("idcard", "open") in ops and ("idcard", "read") in ops and ("lights", "on") in ops
    tid = svc.app_token.split("_")[1]
    read = next(r for r in rows if r["operation"] == "read")
    assert read["caller"] == f"{tid}:kiosk" and read["app"] == "kiosk" and read["code"] == "success"
    assert read["subject"] == "110101********1234" and read["duration_ms"] >= 0
    audit.flush()
    raw = b"".join(p.read_bytes() for p in svc.home.glob("audit.sqlite*"))
    assert ID_NUMBER.encode() not in raw and "张三".encode() not in raw and svc.app_token.encode() not in raw


def test_query_by_person_time_and_type(svc: Svc) -> None:
    _some_operations(svc)
    with svc.maint() as c:
        def rows(**q: str) -> list[dict[str, Any]]:
            r = c.get("/v1/audit", params=q)
            assert r.status_code == 200, r.text
            found: list[dict[str, Any]] = r.json()["data"]["rows"]
            return found

        by_full = rows(person=ID_NUMBER)
        assert [r["operation"] for r in by_full] == ["read"]
        assert rows(person="110101********1234") == by_full
        assert rows(person="110101199003079999") == []
        assert {r["module"] for r in rows(module="lights")} == {"lights"}
        assert {r["operation"] for r in rows(operation="open")} == {"open"}
        assert len(rows(since="2000-01-01")) >= 3 and rows(until="2000-01-01") == []
        assert c.get("/v1/audit", params={"bogus": "1"}).status_code == 400
        assert c.get("/v1/audit", params={"since": "yesterday"}).status_code == 400
        v = c.get("/v1/audit/verify").json()["data"]
        assert v["ok"] is True and v["rows"] >= 3


def test_chain_detects_modification_deletion_and_truncation(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home)
    for i in range(5):
        log.record(module="lights", operation="on", request_id=f"r{i}", code="success", duration_ms=1.0,
                   caller="t:app", app="app")
    log.sign_heads()
    res = log.verify()
    assert res.ok and res.rows == 5
    assert res.algorithm in ("sm3", "sha256")
    if log.signer.available:
        assert res.signed_days == 1
    log.close()

    db = sqlite3.connect(home / "audit.sqlite")
    db.execute("UPDATE records SET code = 'timeOut' WHERE id = 2")
    db.commit()
    log = AuditLog(home)
    assert any("row 2: hash mismatch" in p for p in log.verify().problems)
    log.close(sign=False)
    db.execute("UPDATE records SET code = 'success' WHERE id = 2")
    db.execute("DELETE FROM records WHERE id = 3")
    db.commit()
    log = AuditLog(home)
    probs = log.verify().problems
    assert any("row ids jump" in p for p in probs) and any("previous hash" in p for p in probs)
    log.close(sign=False)
    db.execute("DELETE FROM records WHERE id >= 4")
    db.commit()
    log = AuditLog(home)
    assert any("truncated" in p or "missing" in p for p in log.verify().problems)
    log.close(sign=False)
    db.close()


def test_signed_head_tampering_detected(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home)
    if not log.signer.available:
        log.close()
        pytest.skip("gtsdk.crypto (SM2) not available")
    log.record(module="idcard", operation="read", request_id="r", code="success", duration_ms=1.0)
    log.close()
    db = sqlite3.connect(home / "audit.sqlite")
    sig = db.execute("SELECT signature FROM heads").fetchone()[0]
    db.execute("UPDATE heads SET signature = ?", ("00" + sig[2:] if not sig.startswith("00") else "11" + sig[2:],))
    db.commit()
    db.close()
    log = AuditLog(home)
    assert any("bad signature" in p for p in log.verify().problems)
    log.close(sign=False)


def test_audit_cli_export_and_verify(svc: Svc) -> None:
    _some_operations(svc)
    assert svc.running.app.audit is not None
    svc.running.app.audit.flush()
    runner = CliRunner()
    out = runner.invoke(main, ["audit", "export", "--home", str(svc.home), "--module", "idcard"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert {r["module"] for r in rows} == {"idcard"} and any(r["subject"] == "110101********1234" for r in rows)
    out = runner.invoke(main, ["audit", "export", "--home", str(svc.home), "--person", ID_NUMBER, "--format", "csv"])
    assert out.exit_code == 0 and out.output.count("\n") == 2 and ID_NUMBER not in out.output
    out = runner.invoke(main, ["audit", "verify", "--home", str(svc.home)])
    assert out.exit_code == 0 and out.output.strip().endswith("ok"), out.output


def test_personal_data_sealed_for_app_recipient(tmp_path: Path) -> None:
    crypto = pytest.importorskip("gtsdk.crypto")
    from gtsdk.crypto.envelope import open_envelope

    home = tmp_path / "h"
    home.mkdir()
    key = crypto.SM2PrivateKey.generate()
    (home / "kiosk.pub.pem").write_bytes(key.public_key().to_pem())
    s = start_service(home, {"apps": {"kiosk": {"recipient_key": "kiosk.pub.pem"}}})
    try:
        with s.app() as c:
            c.post("/v1/idcard/open")
            r = c.post("/v1/idcard/read", json={})
            lights = c.post("/v1/lights/on", json={"light": "a"}).json()["data"]
        data = r.json()["data"]
        assert data["kind"] == "sealed" and set(data) == {"kind", "sealed"}
        assert ID_NUMBER not in r.text and "张三" not in r.text
        opened = open_envelope(data["sealed"], key)
        card = json.loads(opened.payload)
        assert card["idNumber"] == ID_NUMBER and card["name"] == "张三"
        assert opened.header["module"] == "idcard" and opened.header["operation"] == "read"
        terminal_pub = crypto.load_public_pem((home / "terminal-sm2.pub.pem").read_bytes())
        assert opened.signer is not None and opened.signer == terminal_pub
        assert lights == {"states": {"a": "on"}}  # not personal data: not sealed
        with Client(s.url, s.app_token, ca=s.ca) as cl:
            assert isinstance(cl.idcard.read_sealed(), wm.SealedData)
        with s.client(s.tokens.create(["app"], app="other")) as c:  # an app without a key gets clear data
            assert c.post("/v1/idcard/read", json={}).json()["data"]["idNumber"] == ID_NUMBER
    finally:
        s.running.stop()
        s.terminal.stop()


def test_bad_recipient_key_is_config_error(tmp_path: Path) -> None:
    from gtsdk.errors import ConfigError

    home = tmp_path / "h"
    home.mkdir()
    (home / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError) as e:
        start_service(home, {"apps": {"kiosk": {"recipient_key": "bad.pem"}}})
    assert e.value.field == "service.apps.kiosk.recipient_key"


def test_a_public_key_that_is_not_sm2_is_config_error(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gtsdk.errors import ConfigError
    from gtsdk.server.config import parse_service
    from gtsdk.server.sealing import Sealer

    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "p256.pem").write_bytes(p256.public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError) as e:
        Sealer(parse_service({"apps": {"kiosk": {"recipient_key": "p256.pem"}}}, base_dir=tmp_path), None)
    assert e.value.field == "service.apps.kiosk.recipient_key" and "not an SM2 public key PEM" in str(e.value)


WITHOUT_SM2 = """
import sys
from pathlib import Path

from gtsdk.errors import ConfigError
from gtsdk.server import tokens
from gtsdk.server.config import parse_service
from gtsdk.server.sealing import Sealer

home = Path(sys.argv[1])
store = tokens.TokenStore(home)
token = store.create(["app"])
info = store.verify(token)
print("tokens", tokens.default_alg(), info is not None and info.alg)
try:
    Sealer(parse_service({"apps": {"kiosk": {"recipient_key": "k.pem"}}}, base_dir=home), None)
except ConfigError as e:
    print("sealing", e.code, e.detail)
"""


def test_without_an_sm2_libcrypto_tokens_use_sha256_and_sealing_refuses_to_start(tmp_path: Path) -> None:
    """gtsdk.crypto refuses to import (configError) where libcrypto has no SM2: tokens are hashed with SHA-256,
    and an app that wants its personal data sealed stops the service instead of getting it in clear (9.3.2)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, GTSDK_LIBCRYPTO="/nonexistent/libcrypto.so.3")
    out = subprocess.run([sys.executable, "-c", WITHOUT_SM2, str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "tokens sha256 sha256"
    assert lines[1].startswith("sealing configError service.apps.kiosk.recipient_key: sealing personal data needs "
                               "gtsdk.crypto"), lines
