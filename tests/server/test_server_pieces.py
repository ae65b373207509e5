"""The service's ASGI pieces one by one, each in front of a tiny inner app (no server, no TLS)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.body import BodyLimit, Limits, read_body
from gtsdk.server.call import Call, Response, call_of, pick_lang
from gtsdk.server.config import parse_service
from gtsdk.server.cors import Cors, Origins
from gtsdk.server.logs import SecretFilter
from gtsdk.server.ratelimit import RateLimit, TokenRates
from gtsdk.server.request_id import RequestContext
from gtsdk.server.router import Dispatch, Resolve, Routes
from gtsdk.server.tokens import TokenInfo

App = Callable[[Any, Any, Any], Awaitable[None]]


def client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1:8801")


def inner(fn: Callable[[Call], Awaitable[Response]] | None = None) -> App:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        call = call_of(scope)
        resp = await fn(call) if fn else call.ok({"rid": call.rid, "lang": call.lang})
        resp.extra.update(call.out)
        await resp(scope, receive, send)
    return app


# ---- request id ------------------------------------------------------------------------------------------------
async def test_request_id_echoed_generated_and_validated() -> None:
    async with client(RequestContext(inner())) as c:
        given = await c.get("/x", headers={"X-Request-Id": "abc.1:2-3"})
        made = await c.get("/x")
        bad = await c.get("/x", headers={"X-Request-Id": "a b"})
    assert given.json()["requestId"] == given.headers["x-request-id"] == "abc.1:2-3"
    assert made.json()["requestId"] == made.headers["x-request-id"] and len(made.json()["requestId"]) == 24
    assert bad.status_code == 400 and bad.json()["data"]["field"] == "X-Request-Id"
    assert bad.headers["x-request-id"] == bad.json()["requestId"] != "a b"
    assert given.headers["cache-control"] == "no-store" and given.headers["x-content-type-options"] == "nosniff"


async def test_every_failure_below_is_an_envelope(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(call: Call) -> Response:
        raise RuntimeError("secret 110101199003071234")

    async def catalogue(call: Call) -> Response:
        raise GtsdkError(ErrorCode.RATE_LIMITED, "slow down", data={"retryAfter": "3"})

    async with client(RequestContext(inner(boom))) as c:
        r = await c.get("/x", headers={"Accept-Language": "en"})
    assert r.status_code == 500 and r.json()["code"] == "internalError" and "110101" not in r.text
    assert r.json()["message"].startswith("Internal")
    # logged by type and place, never by the text or a traceback (the text may hold personal data)
    (rec,) = [r for r in caplog.records if r.name == "gtsdk.server"]
    assert rec.levelno == logging.ERROR and rec.exc_info is None
    assert rec.getMessage().startswith("unexpected RuntimeError on GET /x at ") and "test_server_pieces.py:" in \
        rec.getMessage()
    assert "110101" not in caplog.text
    async with client(RequestContext(inner(catalogue))) as c:
        r = await c.get("/x")
    assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.json()["data"]["retryAfter"] == 3


def test_a_record_that_cannot_be_formatted_says_where_without_its_arguments(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A bad log call must neither raise where it was made nor let logging's error report print its arguments."""
    logger = logging.getLogger("gtsdk.server.test-unformattable")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    logger.addFilter(SecretFilter())
    try:
        logger.warning("token %s and %d", "gts_0a1b_SECRETSECRET")  # one argument short
        logger.warning("fine %s", "token=abc")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "unformattable log record (TypeError) from " in err and "test_server_pieces.py:" in err
    assert "SECRETSECRET" not in err and "Logging error" not in err
    assert "fine token=***" in err


def test_accept_language() -> None:
    assert pick_lang(None) == "zh"
    assert pick_lang("en-US,en;q=0.9") == "en"
    assert pick_lang("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_lang("en;q=0.5, zh;q=0.9") == "zh"
    assert pick_lang("fr") == "zh"
    assert pick_lang("fr," * 10_000 + "en") == "zh"  # only the first 32 entries are looked at


# ---- router ----------------------------------------------------------------------------------------------------------
async def test_router_resolves_and_names_what_is_unknown() -> None:
    routes = Routes()

    async def hello(call: Call) -> Response:
        return call.ok({"hi": True})

    routes.add("GET", "/v1/hello", hello, None)
    routes.add("POST", "/v1/idcard/read", hello, "app")
    app = RequestContext(Resolve(Dispatch(routes), routes))
    async with client(app) as c:
        ok = await c.get("/v1/hello")
        wrong_method = await c.get("/v1/idcard/read")
        unknown_module = await c.post("/v1/nosuch/read")
        unknown_op = await c.post("/v1/idcard/explode")
        nothing = await c.get("/nothing")
    assert ok.json()["data"] == {"hi": True}
    assert wrong_method.status_code == 404 and "POST" in wrong_method.json()["data"]["detail"]
    assert unknown_module.json()["data"]["detail"] == "unknown module"
    assert unknown_op.json()["code"] == "invalidCommand" and "idcard" in unknown_op.json()["data"]["detail"]
    assert nothing.json()["code"] == "notFound"
    assert routes.methods("/v1/idcard/read") == ["POST"] and routes.methods("/x") is None
    with pytest.raises(ValueError):
        routes.add("GET", "/y", hello, "admin")


# ---- CORS ------------------------------------------------------------------------------------------------------------
def cors_app(cfg: dict[str, Any], port: int = 8801, pages: bool = True) -> tuple[App, Origins]:
    routes = Routes()

    async def hello(call: Call) -> Response:
        return call.ok({})

    routes.add("POST", "/v1/lights/on", hello, "app")
    config = parse_service(cfg)
    origins = Origins(config)
    origins.listening_on(config.listen, port, pages=pages)
    return RequestContext(Cors(Resolve(Dispatch(routes), routes), origins, routes)), origins


async def test_preflight_private_network_and_foreign_origins() -> None:
    app, _ = cors_app({"origins": ["https://kiosk.example"]})
    async with client(app) as c:
        pre = await c.options("/v1/lights/on", headers={"Origin": "https://kiosk.example",
                                                          "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Private-Network": "true"})
        evil = await c.post("/v1/lights/on", headers={"Origin": "https://evil.example"})
        pre_evil = await c.options("/v1/lights/on", headers={"Origin": "https://evil.example"})
        no_route = await c.options("/v1/nothing", headers={"Origin": "https://kiosk.example"})
        native = await c.post("/v1/lights/on")
    assert pre.status_code == 204 and pre.headers["access-control-allow-private-network"] == "true"
    assert pre.headers["access-control-allow-methods"] == "POST"
    assert pre.headers["access-control-allow-origin"] == "https://kiosk.example"
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    assert pre_evil.status_code == 403 and no_route.status_code == 404
    assert native.status_code == 200  # no Origin: a native program, not restricted by origin


def test_own_origins_come_from_the_configuration_only() -> None:
    _, origins = cors_app({"listen": ["127.0.0.1", "::1"]}, port=9443)
    assert origins.own == {"https://127.0.0.1:9443", "https://[::1]:9443", "https://localhost:9443"}
    assert origins.allowed("https://127.0.0.1:9443", None) and origins.allowed("HTTPS://LOCALHOST:9443", None)
    assert not origins.allowed("https://localhost:9444", None)
    _, no_pages = cors_app({}, port=9443, pages=False)
    assert not no_pages.allowed("https://127.0.0.1:9443", None)  # without pages there is no own origin


def test_app_origins_only_for_that_apps_tokens() -> None:
    _, origins = cors_app({"apps": {"counter": {"origins": ["https://counter.example"]}}})
    counter = TokenInfo(id="1", scopes=["app"], app="counter")
    other = TokenInfo(id="2", scopes=["app"], app="kiosk")
    assert origins.allowed("https://counter.example", None)  # some app may: the request goes on to auth
    assert origins.allowed("https://counter.example", counter) and not origins.allowed("https://counter.example", other)


# ---- rate limit -----------------------------------------------------------------------------------------------
async def test_rate_limit_per_token_with_retry_after() -> None:
    cfg = parse_service({"rate_limit": 0.5, "rate_burst": 2, "apps": {"fast": {"rate_limit": 100.0, "rate_burst": 50}}})
    rates = TokenRates(cfg)
    slow, fast = TokenInfo(id="s", scopes=["app"]), TokenInfo(id="f", scopes=["app"], app="fast")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        call = call_of(scope)
        call.token = slow if call.headers.get("x-who") == "slow" else fast
        await RateLimit(inner(), rates)(scope, receive, send)

    async with client(RequestContext(app)) as c:
        codes = [(await c.get("/x", headers={"X-Who": "slow"})).status_code for _ in range(4)]
        fast_codes = [(await c.get("/x", headers={"X-Who": "fast"})).status_code for _ in range(10)]
        r = await c.get("/x", headers={"X-Who": "slow"})
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429] and set(fast_codes) == {200}
    assert int(r.headers["retry-after"]) >= 1


# ---- body limits ----------------------------------------------------------------------------------------------
def body_app(cfg: dict[str, Any]) -> App:
    limits = Limits(parse_service(cfg))

    async def echo(call: Call) -> Response:
        raw = await read_body(call)
        return call.ok({"n": len(raw)})

    return RequestContext(BodyLimit(inner(echo), limits))


async def test_body_size_by_length_and_while_streaming() -> None:
    app = body_app({"max_body_bytes": 2048})
    async with client(app) as c:
        ok = await c.post("/x", content=b"x" * 2048)
        declared = await c.post("/x", content=b"x" * 2049)

        async def chunks() -> Any:
            for _ in range(5):
                yield b"y" * 1000

        streamed = await c.post("/x", content=chunks())
        bad_cl = await c.post("/x", content=b"{}", headers={"Content-Length": "-1"})
    assert ok.json()["data"] == {"n": 2048}
    assert declared.status_code == 413 and streamed.status_code == 413
    assert bad_cl.status_code == 400 and bad_cl.json()["data"]["field"] == "Content-Length"


async def test_body_that_stalls_times_out() -> None:
    app = body_app({"body_timeout": 0.3})
    msgs: list[dict[str, Any]] = [{"type": "http.request", "body": b"{", "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if msgs:
            return msgs.pop(0)
        await asyncio.sleep(30)  # the rest of the body never comes
        return {"type": "http.disconnect"}

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b"",
             "client": ("127.0.0.1", 1)}
    await asyncio.wait_for(app(scope, receive, send), 5)
    assert sent[0]["status"] == 504 and json.loads(sent[1]["body"])["code"] == "timeOut"


# ---- the fused chain ----------------------------------------------------------------------------------------------
async def test_fused_chain_answers_as_the_asgi_chain(tmp_path: Any) -> None:
    from _server_fixtures import make_terminal

    from gtsdk.server.run import build
    from gtsdk.server.tokens import TokenStore

    t = make_terminal().start()
    try:
        svc = build(t, parse_service({"origins": ["https://kiosk.example"]}), tmp_path / "h")
        token = TokenStore(tmp_path / "h").create(["app"], app="kiosk")
        auth = {"Authorization": f"Bearer {token}"}
        cases: list[tuple[str, str, dict[str, str], bytes]] = [
            ("GET", "/v1/health", {}, b""), ("GET", "/v1/services", {}, b""), ("GET", "/v1/services", auth, b""),
            ("POST", "/v1/lights/on", auth, b'{"light":"a"}'), ("POST", "/v1/lights/on", auth, b'{"light":5}'),
            ("GET", "/v1/audit", auth, b""), ("GET", "/v1/nothing", auth, b""), ("GET", "/v1/lights/on", auth, b""),
            ("OPTIONS", "/v1/lights/on", {"Origin": "https://kiosk.example"}, b""),
            ("POST", "/v1/lights/on", {**auth, "Origin": "https://evil.example"}, b'{"light":"a"}'),
            ("GET", "/v1/services", {**auth, "X-Request-Id": "bad id"}, b""),
        ]
        for app in (svc, svc.chain):
            async with client(app) as c:
                got = []
                for method, path, headers, body in cases:
                    r = await c.request(method, path, headers={"Content-Type": "application/json", **headers},
                                        content=body)
                    got.append((r.status_code, r.json()["code"] if r.content else "", r.headers.get("vary")))
            if app is svc:
                fused = got
        assert got == fused
        assert [g[0] for g in got] == [200, 401, 200, 200, 400, 403, 404, 404, 204, 403, 400]
        svc.close()
        assert svc.audit is not None
        svc.audit.close()
    finally:
        t.stop()


def test_request_headers_are_looked_up_by_name_in_any_case() -> None:
    from gtsdk.server.call import Headers

    h = Headers([(b"content-type", b"application/json"), (b"x-request-id", b"r-1")])
    assert h.get("Content-Type") == h["content-type"] == "application/json"
    assert "X-Request-Id" in h and h.get("Accept-Language") is None and len(h) == 2
