"""Audit log (9.3.3 b): every operation recorded, ID numbers masked, SM3 chain, signed heads; sealing (9.3.2)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _server_fixtures import ID_NUMBER, Svc, service_fixture, start_service
from click.testing import CliRunner

from gtsdk import wire as wm
from gtsdk.audit import AuditLog, mask_id
from gtsdk.cli import main
from gtsdk.client import Client

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    yield from service_fixture(tmp_path)


def test_mask_id() -> None:
    # region, birth date and sequence hidden: the mask alone leaves ~10^7 candidates, not 36,500 dates
    assert mask_id("110101199003071234") == "11**************34"
    assert mask_id("11010119900307123X") == "11**************3X"
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
    assert read["subject"] == "11**************34" and read["duration_ms"] >= 0
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
        assert rows(person="11**************34") == by_full
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
    assert {r["module"] for r in rows} == {"idcard"} and any(r["subject"] == "11**************34" for r in rows)
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


# ---- issue #18 item 1: the subject key is not in the database --------------------------------------------------
def _date_loop(db_path: Path) -> str | None:
    """The offline attack on a copied database: take the HMAC key from the database and try every birth date
    in the gap of the mask (all the unknown digits when only the birth date is hidden)."""
    import datetime as dt
    import hashlib
    import hmac

    db = sqlite3.connect(db_path)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows: list[tuple[str, str]] = db.execute(
            "SELECT subject, subject_key FROM records WHERE subject_key IS NOT NULL").fetchall()
    finally:
        db.close()
    keys = [bytes.fromhex(v) for v in meta.values() if len(v) == 64 and all(c in "0123456789abcdef" for c in v)]
    for subject, target in rows:
        head, _, tail = subject.partition("********")
        if len(head) != 6 or len(tail) != 4:
            continue  # the gap is more than a birth date: not this loop
        day = dt.date(1900, 1, 1)
        while day.year < 2030:
            number = head + day.strftime("%Y%m%d") + tail
            for key in keys:
                if hmac.new(key, number.encode(), hashlib.sha256).hexdigest() == target:
                    return number
            day += dt.timedelta(days=1)
    return None


def _legacy_home(home: Path, number: str) -> str:
    """A home as the previous release wrote it: the subject key in ``meta`` and the 6+4 mask."""
    from gtsdk.audit import canonical

    home.mkdir()
    key = "ab" * 32
    db = sqlite3.connect(home / "audit.sqlite")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE records (
            id INTEGER PRIMARY KEY, time TEXT NOT NULL, module TEXT NOT NULL, operation TEXT NOT NULL,
            request_id TEXT NOT NULL, code TEXT NOT NULL, duration_ms REAL NOT NULL, caller TEXT,
            app TEXT, subject TEXT, subject_key TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE heads (day TEXT PRIMARY KEY, last_id INTEGER NOT NULL, hash TEXT NOT NULL, alg TEXT NOT NULL,
            signature TEXT, signed_at TEXT NOT NULL);
    """)
    db.execute("INSERT INTO meta VALUES ('alg', 'sha256'), ('subject_key', ?)", (key,))
    import hashlib
    import hmac

    prev = "00" * 32
    for i in range(3):
        row = {"time": f"2026-01-0{i + 1}T08:00:00.000+00:00", "module": "idcard", "operation": "read",
               "request_id": f"r{i}", "code": "success", "duration_ms": 5.0, "caller": "t:kiosk", "app": "kiosk",
               "subject": number[:6] + "********" + number[-4:],
               "subject_key": hmac.new(bytes.fromhex(key), number.encode(), hashlib.sha256).hexdigest()}
        h = hashlib.sha256(bytes.fromhex(prev) + canonical(row)).hexdigest()
        db.execute("INSERT INTO records (time, module, operation, request_id, code, duration_ms, caller, app, "
                   "subject, subject_key, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   [*row.values(), prev, h])
        prev = h
    db.commit()
    db.close()
    return key


def test_legacy_database_yields_the_number_until_its_key_moves_out(tmp_path: Path) -> None:
    number = "110101199003070011"
    home = tmp_path / "h"
    key = _legacy_home(home, number)
    assert _date_loop(home / "audit.sqlite") == number  # the attack of the issue works on the old layout

    log = AuditLog(home)  # first start: the key moves out, is deleted from the database, VACUUMed away
    try:
        assert [r["request_id"] for r in log.query(person=number)] == ["r0", "r1", "r2"]  # still searchable
        log.record(module="idcard", operation="read", request_id="new", code="success", duration_ms=1.0,
                   subject=mask_id(number), subject_key=log.subject_key(number))
        log.flush()
        assert [r["request_id"] for r in log.query(person=number)] == ["r0", "r1", "r2", "new"]
        res = log.verify()
        assert res.ok, res.problems
    finally:
        log.close()
    copied = tmp_path / "copied.sqlite"
    copied.write_bytes((home / "audit.sqlite").read_bytes())  # the database file alone, copied away
    assert _date_loop(copied) is None
    raw = b"".join(p.read_bytes() for p in home.glob("audit.sqlite*"))
    assert key.encode() not in raw and bytes.fromhex(key) not in raw  # physically gone, not in free pages
    key_file = home / "audit-subject.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key.encode() not in key_file.read_bytes()  # sealed with the terminal SM2 key when there is one
    if (home / "terminal-sm2-key.pem").exists():
        assert b"sm2-envelope" in key_file.read_bytes()
    ro = AuditLog(home, readonly=True)  # what `gtsdk audit export --person` opens
    try:
        assert len(ro.query(person=number)) == 4
    finally:
        ro.close()


def test_database_alone_never_holds_the_key(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home)
    number = "110101199003070011"
    log.record(module="idcard", operation="read", request_id="r", code="success", duration_ms=1.0,
               subject=mask_id(number), subject_key=log.subject_key(number))
    log.close()
    meta = dict(sqlite3.connect(home / "audit.sqlite").execute("SELECT key, value FROM meta").fetchall())
    assert "subject_key" not in meta
    assert _date_loop(home / "audit.sqlite") is None
    # the key file that belongs to another home (or a lost terminal key) is a clear configuration error
    other = tmp_path / "o"
    other.mkdir()
    AuditLog(other).close()
    (other / "audit-subject.key").write_bytes((home / "audit-subject.key").read_bytes())
    if (home / "terminal-sm2-key.pem").exists():
        from gtsdk.errors import ConfigError

        with pytest.raises(ConfigError) as e:
            AuditLog(other)
        assert "audit subject key" in e.value.detail


# ---- issue #18 item 11: file modes from the very first start -----------------------------------------------------
def test_files_are_private_from_the_first_start(tmp_path: Path) -> None:
    import os

    home = tmp_path / "h"
    home.mkdir()
    old = os.umask(0o022)
    try:
        log = AuditLog(home)
        log.record(module="lights", operation="on", request_id="r", code="success", duration_ms=1.0)
        log.flush()
        names = {p.name: p.stat().st_mode & 0o777 for p in home.iterdir() if p.name.startswith("audit")}
        log.close()
    finally:
        os.umask(old)
    assert {"audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm", "audit-subject.key"} <= set(names), names
    assert set(names.values()) == {0o600}, names
    # an existing database left 0644 by an older release is tightened at start, with its -wal and -shm
    db = sqlite3.connect(home / "audit.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("SELECT count(*) FROM records").fetchall()
    for p in home.glob("audit.sqlite*"):
        p.chmod(0o644)
    log = AuditLog(home)
    try:
        modes = {p.name: p.stat().st_mode & 0o777 for p in home.glob("audit.sqlite*")}
        assert set(modes.values()) == {0o600}, modes
    finally:
        log.close()
        db.close()


# ---- issue #18 item 10: heads signed on start and on an interval, kept outside the database ----------------------
_WRITER = """
import sys, time
from pathlib import Path
from gtsdk.audit import AuditLog
log = AuditLog(Path(sys.argv[1]), head_interval=0.2)
for i in range(300):
    log.record(module="lights", operation="on", request_id=f"r{i}", code="success", duration_ms=1.0)
log.flush()
print("written", flush=True)
time.sleep(120)
"""


def _head(home: Path) -> dict[str, Any]:
    head: dict[str, Any] = json.loads((home / "audit-head.json").read_text())
    return head


def test_tail_deleted_after_kill9_is_detected(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    home = tmp_path / "h"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the interval signs the head of the rows just written
            if (home / "audit-head.json").exists() and _head(home)["last_id"] == 300:
                break
            time.sleep(0.05)
        assert _head(home)["last_id"] == 300
        assert (home / "audit-head.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    runner = CliRunner()
    out = runner.invoke(main, ["audit", "verify", "--home", str(home)])
    assert out.exit_code == 0, out.output  # a crash alone loses nothing

    db = sqlite3.connect(home / "audit.sqlite")
    db.execute("DELETE FROM records WHERE id > 200")
    db.commit()
    db.close()
    out = runner.invoke(main, ["audit", "verify", "--home", str(home)])
    assert out.exit_code == 1
    assert "the log ends at row 200 but its last signed head" in out.output and "100 rows deleted" in out.output

    # the next start records what it found in the chain itself before it signs the new tail, so the evidence
    # survives the head file being replaced
    log = AuditLog(home)
    log.close()
    assert _head(home)["last_id"] == 201
    out = runner.invoke(main, ["audit", "verify", "--home", str(home)])
    assert out.exit_code == 1 and "row 201: at the start" in out.output and "100 rows deleted" in out.output


def test_head_signed_at_start_and_its_file_checked(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home, head_interval=3600)
    log.record(module="lights", operation="on", request_id="a", code="success", duration_ms=1.0)
    log.flush()
    assert not (home / "audit-head.json").exists()  # interval not yet elapsed
    log.close(sign=False)  # as after a crash: no head signed at shutdown
    AuditLog(home, head_interval=3600).close(sign=False)  # every start signs the current tail
    head = _head(home)
    assert head["last_id"] == 1
    if AuditLog(home, readonly=True).signer.public is not None:
        assert head["signature"]
    ro = AuditLog(home, readonly=True)
    try:
        assert ro.verify().ok and ro.verify().head_row == 1
        (home / "audit-head.json").unlink()
        assert any("audit-head.json missing" in p for p in ro.verify().problems)
    finally:
        ro.close()


def test_committed_waits_for_the_row(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home)
    try:
        log.record(module="lights", operation="on", request_id="known", code="success", duration_ms=1.0)
        assert log.wait_committed("known", timeout=10)
        assert not log.wait_committed("never-written", timeout=0.05)
        assert not log._waiters  # no waiter left behind
    finally:
        log.close()


def test_operation_answered_only_after_its_row_is_committed(svc: Svc) -> None:
    """Acknowledged means audited: while the audit database cannot commit (held here), the answer waits, so a
    kill -9 at any point loses no operation a client saw succeed (tests/server/test_crash_consistency.py)."""
    import threading

    audit = svc.running.app.audit
    assert audit is not None
    got: dict[str, int] = {}
    with svc.app() as c:
        assert c.post("/v1/lights/on", json={"light": "a"}).status_code == 200
        audit._lock.acquire()  # the writer thread cannot commit
        try:
            t = threading.Thread(target=lambda: got.update(
                code=c.post("/v1/lights/on", json={"light": "a"}, headers={"X-Request-Id": "held"}).status_code))
            t.start()
            t.join(1.0)
            assert t.is_alive() and not got  # not answered before its row is on disk
        finally:
            audit._lock.release()
        t.join(10)
    assert got == {"code": 200}
    assert [r["request_id"] for r in audit.query(operation="on")][-1] == "held"


@pytest.fixture(scope="module")
def signed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("signed")
    log = AuditLog(home)
    for i in range(3):
        log.record(module="lights", operation="on", request_id=f"r{i}", code="success", duration_ms=1.0)
    log.close()
    return home


def _arbitrary_head() -> SearchStrategy[bytes]:
    from hypothesis import strategies as st

    ints = st.one_of(st.integers(-5, 10), st.integers())
    fields = st.fixed_dictionaries({}, optional={
        "v": ints, "db_id": st.text(max_size=40), "alg": st.sampled_from(["sm3", "sha256", ""]),
        "last_id": st.one_of(ints, st.text(max_size=5), st.none()), "hash": st.text(max_size=70),
        "signed_at": st.text(max_size=30), "signature": st.one_of(st.none(), st.text(max_size=150))})
    return st.one_of(st.binary(max_size=300), fields.map(lambda d: json.dumps(d).encode()))


def test_any_head_file_is_judged_never_crashes(signed_home: Path) -> None:
    """A corrupted or forged audit-head.json is reported as a problem by verify, never raises (hypothesis)."""
    from hypothesis import HealthCheck, given, settings

    good = (signed_home / "audit-head.json").read_bytes()
    log = AuditLog(signed_home, readonly=True)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_arbitrary_head())
    def check(blob: bytes) -> None:
        (signed_home / "audit-head.json").write_bytes(blob)
        res = log.verify()
        assert res.ok or res.problems
        if blob != good and log.signer.public is not None:
            assert not res.ok  # nothing but the signed head itself verifies

    try:
        check()
    finally:
        (signed_home / "audit-head.json").write_bytes(good)
        log.close()


def test_garbage_key_file_is_a_config_error(tmp_path: Path) -> None:
    from gtsdk.errors import ConfigError

    home = tmp_path / "h"
    home.mkdir()
    AuditLog(home).close()
    for blob in (b"", b"{", b"[]", b'{"format": "plain", "key": "zz"}', b'{"format": "plain", "key": "abcd"}',
                 b'{"format": "rot13"}', b'{"v": 1, "format": "sm2-envelope", "envelope": {"v": 1}}'):
        (home / "audit-subject.key").write_bytes(blob)
        with pytest.raises(ConfigError) as e:
            AuditLog(home)
        assert e.value.code == "configError" and "audit subject key" in e.value.detail


def test_failing_disk_is_retried_and_close_is_bounded(tmp_path: Path) -> None:
    import time

    home = tmp_path / "h"
    home.mkdir()
    log = AuditLog(home)
    real = log._append
    failures = {"left": 2}

    def flaky(rows: Iterable[dict[str, Any]]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        real(rows)

    log._append = flaky  # type: ignore[method-assign]
    log.record(module="lights", operation="on", request_id="kept", code="success", duration_ms=1.0)
    assert log.wait_committed("kept", timeout=10)  # after two failed attempts, nothing dropped
    assert [r["request_id"] for r in log.query()] == ["kept"]

    def broken(rows: Iterable[dict[str, Any]]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    log._append = broken  # type: ignore[method-assign]
    log.record(module="lights", operation="on", request_id="stuck", code="success", duration_ms=1.0)
    assert not log.flush(timeout=0.3)
    t = time.monotonic()
    log.close(timeout=0.5)  # a disk that never recovers does not hang the shutdown
    assert time.monotonic() - t < 8


def test_head_interval_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtsdk.errors import ConfigError

    monkeypatch.setenv("GTSDK_AUDIT_HEAD_INTERVAL", "2.5")
    log = AuditLog(tmp_path)
    assert log.head_interval == 2.5
    log.close()
    monkeypatch.setenv("GTSDK_AUDIT_HEAD_INTERVAL", "a minute")
    with pytest.raises(ConfigError) as e:
        AuditLog(tmp_path)
    assert e.value.field == "GTSDK_AUDIT_HEAD_INTERVAL"
