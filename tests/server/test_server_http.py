"""The HTTPS service: envelope, auth, origins, rate limits, schema rejection, cancel, timeouts (8.1–8.3, 9.2)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_fixtures import ID_NUMBER, ORIGIN, FakeIdCard, Svc, service_fixture, start_service

from gtsdk.modules import MODULES
from gtsdk.server.app import pick_lang
from gtsdk.server.config import parse_service


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    yield from service_fixture(tmp_path)


def env(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "requestId", "data"}
    assert r.headers["x-request-id"] == body["requestId"]
    return body


def wait_online(s: Svc, module: str = "idcard") -> None:
    deadline = time.monotonic() + 10
    while s.terminal.device(module).status().state.value != "online":
        assert time.monotonic() < deadline, "device never came online"
        time.sleep(0.02)


# ---- TLS and files ------------------------------------------------------------------------------------------
def test_home_files_and_permissions(svc: Svc) -> None:
    assert stat.S_IMODE(os.stat(svc.home / "ca-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(svc.home / "server-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(svc.home / "tokens.json").st_mode) == 0o600
    tokens = (svc.home / "tokens.json").read_text()
    secret = svc.app_token.split("_", 2)[2]  # gts_<id>_<secret>; the secret itself may hold "_"
    assert svc.app_token not in tokens and secret not in tokens  # stored hashed only
    assert json.loads(tokens)["tokens"][0]["alg"] in ("sm3", "sha256")


def test_plain_http_on_tls_port_gets_no_http_response(svc: Svc) -> None:
    with socket.create_connection(("127.0.0.1", svc.running.port), timeout=5) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert not data.startswith(b"HTTP/"), data[:40]


def test_tls_1_1_refused_and_1_2_accepted(svc: Svc) -> None:
    ctx = ssl.create_default_context(cafile=svc.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", svc.running.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.2"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", svc.running.port)) as raw, pytest.raises((ssl.SSLError, OSError)):
        old.wrap_socket(raw, server_hostname="127.0.0.1")


def test_certificate_verifies_for_localhost_names(svc: Svc) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=svc.ca)) as c:
        assert c.get(f"https://localhost:{svc.running.port}/v1/health").status_code == 200


# ---- envelope and discovery ----------------------------------------------------------------------------------
def test_health_needs_no_token_and_echoes_request_id(svc: Svc) -> None:
    with svc.client() as c:
        r = c.get("/v1/health", headers={"X-Request-Id": "abc-123"})
    b = env(r)
    assert r.status_code == 200 and b["code"] == "success" and b["requestId"] == "abc-123"
    assert b["message"] == "成功"


def test_bad_request_id_rejected(svc: Svc) -> None:
    with svc.app() as c:
        r = c.get("/v1/services", headers={"X-Request-Id": "no spaces allowed"})
    b = env(r)
    assert r.status_code == 400 and b["code"] == "invalidData" and b["data"]["field"] == "X-Request-Id"


def test_accept_language() -> None:
    assert pick_lang(None) == "zh"
    assert pick_lang("en-US,en;q=0.9") == "en"
    assert pick_lang("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_lang("en;q=0.5, zh;q=0.9") == "zh"
    assert pick_lang("fr") == "zh"


def test_messages_in_english_and_chinese(svc: Svc) -> None:
    with svc.client() as c:
        zh = env(c.get("/v1/services"))
        en = env(c.get("/v1/services", headers={"Accept-Language": "en"}))
    assert zh["code"] == en["code"] == "unauthorized"
    assert "未认证" in zh["message"] and en["message"].startswith("Unauthorized")


def test_services_lists_every_module(svc: Svc) -> None:
    wait_online(svc)
    with svc.app() as c:
        b = env(c.get("/v1/services"))
    mods = {m["module"]: m for m in b["data"]["modules"]}
    assert list(mods) == list(MODULES)
    assert mods["idcard"]["driver"] == "fake" and mods["idcard"]["state"] == "online"
    assert mods["camera"]["state"] == "noDevice" and mods["camera"]["reason"]
    assert b["data"]["terminalId"] == "T-TEST"
    assert {o["name"] for o in mods["idcard"]["operations"]} >= {"open", "close", "read"}


def test_routes_for_every_operation_exist(svc: Svc) -> None:
    with svc.app() as c:
        for mod_id, spec in MODULES.items():
            for op in spec.operations:
                b = env(c.get(f"/v1/schemas/{mod_id}/{op}"))
                assert b["code"] == "success"
                assert b["data"]["request"]["additionalProperties"] is False
            assert env(c.get(f"/v1/{mod_id}/status"))["data"]["module"] == mod_id
            assert env(c.get(f"/v1/{mod_id}/capabilities"))["code"] == "success"
            assert env(c.get(f"/v1/{mod_id}/statistics"))["code"] == "success"


def test_unconfigured_module_is_no_device_503(svc: Svc) -> None:
    with svc.app() as c:
        r = c.post("/v1/voice/speak", json={"text": "你好"})
    assert r.status_code == 503 and env(r)["code"] == "noDevice"


def test_openapi_is_generated_from_the_models(svc: Svc) -> None:
    with svc.app() as c:
        doc = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for mod_id, spec in MODULES.items():
        for op in spec.operations:
            assert f"/v1/{mod_id}/{op}" in doc["paths"]
    ref = doc["paths"]["/v1/lights/flash"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "periodMs" in schema["properties"] and schema["additionalProperties"] is False


def test_unknown_routes(svc: Svc) -> None:
    with svc.app() as c:
        r1 = c.post("/v1/nosuch/read", json={})
        r2 = c.post("/v1/idcard/explode", json={})
        r3 = c.get("/nothing/here")
        r4 = c.get("/v1/idcard/read")
    assert r1.status_code == 404 and env(r1)["code"] == "invalidCommand"
    assert r2.status_code == 404 and env(r2)["code"] == "invalidCommand"
    assert r3.status_code == 404 and env(r3)["code"] == "notFound"
    assert r4.status_code == 404 and env(r4)["code"] == "invalidCommand" and "POST" in env(r4)["data"]["detail"]


# ---- auth --------------------------------------------------------------------------------------------------
def test_no_token_401(svc: Svc) -> None:
    with svc.client() as c:
        for r in (c.get("/v1/services"), c.post("/v1/lights/on", json={"light": "a"}), c.get("/openapi.json")):
            assert r.status_code == 401 and env(r)["code"] == "unauthorized"


def test_bad_tokens_401(svc: Svc) -> None:
    forged = svc.app_token[:-4] + ("AAAA" if not svc.app_token.endswith("AAAA") else "BBBB")
    for tok in ("nonsense", forged, "gts_000000000000_x"):
        with svc.client(tok) as c:
            assert c.get("/v1/services").status_code == 401
    with svc.client(headers={"Authorization": f"Basic {svc.app_token}"}) as c:
        assert c.get("/v1/services").status_code == 401


def test_wrong_scope_403(svc: Svc) -> None:
    with svc.app() as c:
        r = c.post("/v1/sim/idcard", json={"action": "insert"})
        r2 = c.get("/v1/audit")
        r3 = c.post("/v1/idcard/statistics/reset")
    for resp in (r, r2, r3):
        assert resp.status_code == 403 and env(resp)["code"] == "forbidden"
    with svc.maint() as c:
        r = c.post("/v1/lights/on", json={"light": "a"})
        assert r.status_code == 403
        assert c.get("/v1/idcard/status").status_code == 200  # read-only routes take either scope
        assert c.post("/v1/idcard/statistics/reset").status_code == 200


def test_revoked_and_rotated_tokens(svc: Svc) -> None:
    tid = svc.app_token.split("_")[1]
    with svc.app() as c:
        assert c.get("/v1/services").status_code == 200
        new = svc.tokens.rotate(tid)
        assert c.get("/v1/services").status_code == 401  # the old one is dead at once
    with svc.client(new) as c:
        assert c.get("/v1/services").status_code == 200
        assert svc.tokens.revoke(new.split("_")[1])
        assert c.get("/v1/services").status_code == 401


def test_rotation_grace_keeps_old_token_briefly(svc: Svc) -> None:
    tid = svc.app_token.split("_")[1]
    svc.tokens.rotate(tid, grace=3600)
    with svc.app() as c:
        assert c.get("/v1/services").status_code == 200


# ---- origins / CORS / Private Network Access ------------------------------------------------------------------
def test_preflight_from_allowed_origin_with_private_network(svc: Svc) -> None:
    with svc.client() as c:
        r = c.options("/v1/lights/on", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "authorization,content-type",
                                                 "Access-Control-Request-Private-Network": "true"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-private-network"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "Authorization" in r.headers["access-control-allow-headers"]


def test_disallowed_origin_rejected_without_cors_headers(svc: Svc) -> None:
    with svc.app() as c:
        pre = c.options("/v1/lights/on", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "POST"})
        r = c.post("/v1/lights/on", json={"light": "a"}, headers={"Origin": "https://evil.example"})
        ok = c.post("/v1/lights/on", json={"light": "a"}, headers={"Origin": ORIGIN})
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    assert r.status_code == 403 and env(r)["data"]["field"] == "Origin"
    assert "access-control-allow-origin" not in r.headers
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN


def test_app_specific_origin(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"origins": [], "apps": {"counter": {"origins": ["https://counter.example"]}}})
    try:
        counter = s.tokens.create(["app"], app="counter")
        with s.client(counter) as c:
            assert c.get("/v1/services", headers={"Origin": "https://counter.example"}).status_code == 200
        with s.app() as c:  # a token of another app may not be used from counter's page
            assert c.get("/v1/services", headers={"Origin": "https://counter.example"}).status_code == 403
    finally:
        s.running.stop()
        s.terminal.stop()


def test_service_config_refuses_lan_addresses() -> None:
    from gtsdk.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_service({"listen": ["0.0.0.0"]})
    assert e.value.field == "service.listen"
    assert parse_service({"listen": ["0.0.0.0"], "allow_remote": True}).non_loopback() == ["0.0.0.0"]
    with pytest.raises(ConfigError) as e2:
        parse_service({"prot": 1})
    assert e2.value.field == "service.prot"


# ---- rate limit ------------------------------------------------------------------------------------------------
def test_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"rate_limit": 0.5, "rate_burst": 3})
    try:
        with s.app() as c:
            codes = [c.get("/v1/idcard/status").status_code for _ in range(5)]
            r = c.get("/v1/idcard/status")
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        assert r.status_code == 429 and env(r)["code"] == "rateLimited"
        assert int(r.headers["retry-after"]) >= 1 and env(r)["data"]["retryAfter"] >= 1
        with s.maint() as c:  # per token: another token is not affected
            assert c.get("/v1/idcard/status").status_code == 200
    finally:
        s.running.stop()
        s.terminal.stop()


# ---- schema rejection (9.2.2 b parameter filtering) ------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"light": "a", "colour": "red"}, "colour"),
    ({"light": 5}, "light"),
    ({"light": "a", "periodMs": "500"}, "periodMs"),
    ({"light": "a", "periodMs": 50}, "periodMs"),
    ({"light": "a" * 33}, "light"),
    ({}, "light"),
    ({"light": "a", "timeout": 0}, "timeout"),
    ({"light": "a", "duty": True}, "duty"),
])
def test_schema_rejection_names_the_field(svc: Svc, body: dict[str, Any], field: str) -> None:
    with svc.app() as c:
        r = c.post("/v1/lights/flash", json=body)
    b = env(r)
    assert r.status_code == 400 and b["code"] == "invalidData" and b["data"]["field"] == field, b


@pytest.mark.parametrize(("raw", "ctype", "field"), [
    (b"[1,2]", "application/json", "body"),
    (b"{not json", "application/json", "body"),
    (b'{"light":"a","light":"b"}', "application/json", "light"),
    (b'{"light":"a","duty":NaN}', "application/json", "body"),
    (b'{"light":"\xff\xfe"}', "application/json", "body"),
    (b'{"light":"a"}', "text/plain", "Content-Type"),
    (b'{"light":"a"}', "application/json; charset=latin-1", "Content-Type"),
])
def test_strict_json(svc: Svc, raw: bytes, ctype: str, field: str) -> None:
    with svc.app() as c:
        r = c.post("/v1/lights/on", content=raw, headers={"Content-Type": ctype})
    b = env(r)
    assert r.status_code == 400 and b["code"] == "invalidData" and b["data"]["field"] == field, b


def test_oversized_body_and_long_strings(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"max_body_bytes": 4096, "max_string_chars": 100})
    try:
        with s.app() as c:
            r = c.post("/v1/lights/on", json={"light": "a", "pad": "x" * 10_000})
            assert r.status_code == 413 and env(r)["code"] == "payloadTooLarge"

            def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds while streaming
                for _ in range(10):
                    yield b" " * 1000

            r2 = c.post("/v1/lights/on", content=chunks(), headers={"Content-Type": "application/json"})
            assert r2.status_code == 413
            r3 = c.post("/v1/lights/on", json={"light": "a", "x": {"y": ["z" * 200]}})
            assert r3.status_code == 400 and env(r3)["data"]["field"] == "x.y.0"
            assert c.post("/v1/lights/on", json={"light": "a"}).status_code == 200  # still serving
    finally:
        s.running.stop()
        s.terminal.stop()


# ---- operations, personal data, faults ---------------------------------------------------------------------------
def test_operation_round_trip_and_state(svc: Svc) -> None:
    wait_online(svc)
    with svc.app() as c:
        assert env(c.post("/v1/idcard/close"))["code"] == "success"
        r = c.post("/v1/idcard/read", json={})
        assert r.status_code == 409 and env(r)["code"] == "notOpen"
        assert c.post("/v1/idcard/open").status_code == 200
        b = env(c.post("/v1/idcard/read", json={"withFingerprint": False}))
        assert b["data"]["idNumber"] == ID_NUMBER and b["data"]["cardType"] == "resident"
        stats = env(c.get("/v1/idcard/statistics"))["data"]
        assert stats["byOperation"]["read"] >= 1 and stats["byError"]["notOpen"] == 1


def test_timeout_504_and_service_keeps_working(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"sleep": 30}
    with svc.app() as c:
        r = c.post("/v1/idcard/read", json={"timeout": 200})
        assert r.status_code == 504 and env(r)["code"] == "timeOut"
        FakeIdCard.behaviour = {}
        assert c.post("/v1/lights/on", json={"light": "a"}).status_code == 200
        assert c.post("/v1/idcard/read", json={}).status_code == 200


def test_hung_driver_times_out_and_module_recovers(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"hang": 3}
    with svc.app() as c:
        r = c.post("/v1/idcard/read", json={"timeout": 300})
        assert r.status_code == 504 and env(r)["code"] == "timeOut"
        FakeIdCard.behaviour = {}
        assert c.post("/v1/lights/on", json={"light": "b"}).status_code == 200
        deadline = time.monotonic() + 15
        while True:  # the runtime abandons the hung worker and reconnects
            r = c.post("/v1/idcard/read", json={"timeout": 2000})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text


def test_driver_exception_is_internal_error_without_personal_data(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"raise": True}
    with svc.app() as c:
        r = c.post("/v1/idcard/read", json={})
    assert r.status_code == 500 and env(r)["code"] == "internalError"
    assert ID_NUMBER not in r.text and "RuntimeError" in r.text


def test_driver_error_codes_map_to_http(svc: Svc) -> None:
    wait_online(svc)
    with svc.app() as c:
        for code, status in (("noMedia", 409), ("hardwareError", 503), ("communicationError", 503)):
            FakeIdCard.behaviour = {"error": code}
            r = c.post("/v1/idcard/read", json={})
            assert r.status_code == status and env(r)["code"] == code
            assert env(r)["data"]["retryable"] in (True, False)


def test_cancel_running_request(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"sleep": 30}
    FakeIdCard.started.clear()
    out: dict[str, httpx.Response] = {}

    def read() -> None:
        with svc.app() as c:
            out["r"] = c.post("/v1/idcard/read", json={"timeout": 60000}, headers={"X-Request-Id": "read-1"})

    t = threading.Thread(target=read)
    t.start()
    assert FakeIdCard.started.wait(10)
    with svc.app() as c:
        r = c.post("/v1/idcard/cancel", json={"requestId": "read-1"})
        assert env(r)["data"] == {"canceled": True}
        t.join(10)
        assert out["r"].status_code == 409 and env(out["r"])["code"] == "canceled"
        r2 = c.post("/v1/idcard/cancel", json={"requestId": "read-1"})
        assert r2.status_code == 404 and env(r2)["code"] == "notFound"


def test_cancel_queued_request(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"sleep": 1.5}
    FakeIdCard.started.clear()
    res: dict[str, httpx.Response] = {}

    def read(rid: str) -> None:
        with svc.app() as c:
            res[rid] = c.post("/v1/idcard/read", json={}, headers={"X-Request-Id": rid})

    first = threading.Thread(target=read, args=("q-1",))
    first.start()
    assert FakeIdCard.started.wait(10)
    second = threading.Thread(target=read, args=("q-2",))
    second.start()
    deadline = time.monotonic() + 5
    with svc.app() as c:
        while True:
            r = c.post("/v1/idcard/cancel", json={"requestId": "q-2"})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    first.join(10)
    second.join(10)
    assert env(res["q-2"])["code"] == "canceled"
    assert env(res["q-1"])["code"] == "success"


def test_client_disconnect_cancels_device_work(svc: Svc) -> None:
    wait_online(svc)
    FakeIdCard.behaviour = {"sleep": 30}
    FakeIdCard.started.clear()
    with svc.app(timeout=httpx.Timeout(10, read=0.5)) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/idcard/read", json={"timeout": 60000}, headers={"X-Request-Id": "gone-1"})
    deadline = time.monotonic() + 10
    while svc.terminal.device("idcard").status().busy:
        assert time.monotonic() < deadline, "the device kept working for a caller that left"
        time.sleep(0.05)
    stats = svc.terminal.device("idcard").statistics()
    assert stats.by_error.get("canceled") == 1


def test_slow_and_stalled_clients_do_not_block_others(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"body_timeout": 1.0})
    ctx = ssl.create_default_context(cafile=s.ca)
    stalled = []
    try:
        for _ in range(5):  # authenticated requests that send half a body and then nothing
            raw = socket.create_connection(("127.0.0.1", s.running.port), timeout=10)
            conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            conn.sendall(b"POST /v1/lights/on HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.app_token.encode()
                         + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"li")
            stalled.append(conn)
        with s.app() as c:
            for _ in range(3):  # everyone else is served meanwhile
                assert c.post("/v1/lights/on", json={"light": "a"}).status_code == 200
                assert c.get("/v1/idcard/status").status_code == 200
        for conn in stalled:  # and each stalled caller gets an envelope once its body time is up
            head = conn.recv(4096)
            assert head.startswith(b"HTTP/1.1 504"), head[:60]
            assert b'"code":"timeOut"' in head or b'"code":"timeOut"' in conn.recv(4096)
    finally:
        for conn in stalled:
            conn.close()
        s.running.stop()
        s.terminal.stop()
