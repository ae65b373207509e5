"""The suite tests itself: a real gtsdk terminal, and the same terminal broken on purpose.

:func:`start` serves a real terminal (the ID card reader and the light board on their
simulators, the web soft keyboard) through a switchable ASGI wrapper; each
:class:`Mutation` in :data:`MUTATIONS` breaks one promise — a defect class — and names
the check that must catch it and words its reason must contain.  A few defects need the
server built differently (a lower TLS floor, no rate limit, a port that also answers
plain HTTP) and get a terminal of their own.  ``tests/conformance/test_conformance_mutations.py``
runs a subset; ``python -m benchmarks.conformance_mutations`` runs them all and reports
caught/total and the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pii

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Middleware = Callable[[App, Scope, Receive, Send], Awaitable[None]]
#: a sample card's holder (the simulator's resident card): what the personal-data defects leak
HOLDER_ID = "11010119900307001" + pii.check_digit("11010119900307001")
HOLDER_NAME = "张示例"
ORIGIN = "http://127.0.0.1"
#: driver settings of the test terminal over its simulators' own.  A real SAM answers a command within
#: milliseconds and the driver's 0.5 s gap stands for it (drivers/sam_serial); here the "device" is a thread of
#: the same process as the service and the suite, and on a loaded machine that thread alone was starved past
#: 0.5 s (the idcard failed a clean run with communicationError).  The device is not what is under test here —
#: the suite is — so its gaps are the driver's read gap (2 s); the driver tests keep the real bound.
SIMULATOR_SETTINGS: dict[str, dict[str, Any]] = {"idcard": {"answer_timeout": 2.0}}


# ---- the terminal ------------------------------------------------------------------------------------
class Switch:
    """The wrapper around the service app: passes everything through unless a mutation is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.mutation: Middleware | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        mw = self.mutation
        if mw is None or scope["type"] == "lifespan":
            await self.inner(scope, receive, send)
        else:
            await mw(self.inner, scope, receive, send)


@dataclass
class Target:
    url: str
    token: str
    maintenance: str
    ca: Path
    switch: Switch
    stop: Callable[[], None]
    origin: str = ORIGIN


def start(workdir: Path | None = None, *, service: dict[str, Any] | None = None,
          tls_floor: ssl.TLSVersion | None = None, plain_http: bool = False) -> Target:
    """A real terminal: idcard and lights on their simulators, the web keyboard, behind a Switch."""
    from gtsdk.runtime import parse_config
    from gtsdk.server.config import parse_service
    from gtsdk.server.run import build, start_background
    from gtsdk.server.tokens import TokenStore
    from gtsdk.simulated import simulated_terminal

    tmp = workdir or Path(tempfile.mkdtemp(prefix="gtsdk-selftest-"))
    home = tmp / "home"
    cfg = parse_config({"terminal": {"id": "T-SELFTEST"}, "modules": {"keyboard": {"driver": "web"}}})
    t = simulated_terminal(tmp / "sim", cfg, modules=["idcard", "lights"], settings=SIMULATOR_SETTINGS).start()
    app = build(t, parse_service({"origins": [ORIGIN], **(service or {})}, base_dir=home), home, simulate=True)
    switch = Switch(app)
    stops: list[Callable[[], None]] = []
    if tls_floor is None:
        running = start_background(switch, port=0, addresses=app.config.listen)
        url, stops = running.url, [running.stop]
    else:
        url, stop_tls = _start_with_tls_floor(switch, home, tls_floor)
        stops = [stop_tls]
    if plain_http:
        url, stop_proxy = _plain_http_proxy(int(url.rsplit(":", 1)[1]))
        stops.insert(0, stop_proxy)
    store = TokenStore(home)
    app_token, maint = store.create(["app"], app="kiosk"), store.create(["maintenance"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(t.device(m).status().state.value != "online"
                                              for m in ("idcard", "lights", "keyboard")):
        time.sleep(0.05)

    def stop() -> None:
        for s in stops:
            s()
        t.stop()

    return Target(url, app_token, maint, home / "ca.pem", switch, stop)


def _start_with_tls_floor(app: Any, home: Path, floor: ssl.TLSVersion) -> tuple[str, Callable[[], None]]:
    import uvicorn

    from gtsdk.server.run import bind, uvicorn_config

    cfg = uvicorn_config(app, home)
    assert cfg.ssl is not None
    with warnings.catch_warnings():  # deliberately allowing a deprecated version
        warnings.simplefilter("ignore", DeprecationWarning)
        cfg.ssl.minimum_version = floor
    cfg.ssl.set_ciphers("DEFAULT:@SECLEVEL=0")
    socks = bind(["127.0.0.1"], 0)
    server = uvicorn.Server(cfg)
    th = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=socks)), daemon=True)
    th.start()
    end = time.monotonic() + 20
    while not server.started and th.is_alive() and time.monotonic() < end:
        th.join(0.01)

    def stop() -> None:
        server.should_exit = True
        th.join(10)
        for s in socks:
            s.close()

    return f"https://127.0.0.1:{socks[0].getsockname()[1]}", stop


def _plain_http_proxy(backend: int) -> tuple[str, Callable[[], None]]:
    """A port that passes TLS through to *backend* and answers plain HTTP itself (the defect)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        # a proxied connection ends any way a connection can (reset, TLS close, cancel): nothing to report
        with contextlib.suppress(Exception):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        writers = [w]
        try:
            first = await r.read(1)
            if first[:1] != b"\x16":  # not a TLS ClientHello: answer in clear
                w.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n'
                        b'Connection: close\r\n\r\n{"code":"ok!!!"}')
                await w.drain()
                return
            br, bw = await asyncio.open_connection("127.0.0.1", backend)
            writers.append(bw)
            bw.write(first)
            await asyncio.gather(pipe(r, bw), pipe(br, w))
        except (asyncio.CancelledError, OSError):
            pass  # stopping, or a peer went away
        finally:
            for x in writers:
                x.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        box["port"] = server.sockets[0].getsockname()[1]
        box["server"] = server
        ready.set()

    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    asyncio.run_coroutine_threadsafe(main(), loop)
    ready.wait(10)

    def stop() -> None:
        async def shut() -> None:
            box["server"].close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):  # the harness's own loop, stopped below either way
            asyncio.run_coroutine_threadsafe(shut(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        th.join(5)

    return f"https://127.0.0.1:{box['port']}", stop


# ---- ways to break it ----------------------------------------------------------------------------------
Headers = list[tuple[bytes, bytes]]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def responses(edit: Callable[[Scope, int, Headers, Any], tuple[int, Headers, Any]]) -> Middleware:
    """Lets *edit* change the status, headers and JSON body (or raw bytes) of HTTP replies."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                start.update(msg)
                return
            chunks.append(msg.get("body", b""))
            if msg.get("more_body"):
                return
            raw = b"".join(chunks)
            try:
                payload: Any = json.loads(raw) if raw else raw
            except ValueError:
                payload = raw
            status, headers, payload = edit(scope, start["status"], list(start.get("headers", [])), payload)
            body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await inner(scope, receive, capture)

    return mw


def data_of(path_end: str, change: Callable[[dict[str, Any]], None]) -> Middleware:
    """Changes the ``data`` of successful replies whose path ends with *path_end*."""

    def edit(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
        if scope["path"].endswith(path_end) and isinstance(body, dict) and isinstance(body.get("data"), dict):
            change(body["data"])
        return status, headers, body

    return responses(edit)


def requests(edit: Callable[[Scope, bytes], tuple[Scope, bytes]]) -> Middleware:
    """Lets *edit* change the headers and body of HTTP requests."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        scope, body = edit(scope, body)
        done = False

        async def replay() -> dict[str, Any]:
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await inner(scope, replay, send)

    return mw


def answer(reply: Callable[[Scope], tuple[int, Headers, Any] | None]) -> Middleware:
    """Answers some requests itself (the service never sees them)."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        out = reply(scope) if scope["type"] == "http" else None
        if out is None:
            await inner(scope, receive, send)
            return
        status, headers, payload = out
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return mw


def delay(applies: Callable[[Scope], bool], seconds: float) -> Middleware:
    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and applies(scope):
            await asyncio.sleep(seconds)
        await inner(scope, receive, send)

    return mw


def stall(applies: Callable[[Scope], bool]) -> Middleware:
    """Never answers the requests *applies* picks (until the client gives up and disconnects)."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not applies(scope):
            await inner(scope, receive, send)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(600):
                while (await receive())["type"] != "http.disconnect":
                    pass

    return mw


def frames(edit: Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]]) -> Middleware:
    """Lets *edit(state, event)* replace each event frame of /v1/events by zero or more frames."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await inner(scope, receive, send)
            return
        state: dict[str, Any] = {}

        async def out(msg: dict[str, Any]) -> None:
            text = msg.get("text") if msg.get("type") == "websocket.send" else None
            if not text:
                await send(msg)
                return
            try:
                data = json.loads(text)
            except ValueError:
                await send(msg)
                return
            if not isinstance(data, dict) or data.get("type") != "event":
                await send(msg)
                return
            for d in edit(state, data):
                await send({"type": "websocket.send", "text": json.dumps(d, ensure_ascii=False)})

        await inner(scope, receive, out)

    return mw


def ws_scope(edit: Callable[[Scope], Scope]) -> Middleware:
    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        await inner(edit(scope) if scope["type"] == "websocket" else scope, receive, send)

    return mw


def forget_since() -> Middleware:
    """Event stream that loses events: the resume point a client sends is ignored."""

    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await inner(scope, receive, send)
            return

        async def recv() -> dict[str, Any]:
            msg = await receive()
            if msg.get("type") == "websocket.receive" and msg.get("text"):
                with contextlib.suppress(ValueError):
                    data = json.loads(msg["text"])
                    if isinstance(data, dict) and data.get("type") == "auth":
                        data.pop("since", None)
                        msg = {**msg, "text": json.dumps(data)}
            return msg

        await inner(scope, recv, send)

    return mw


def chain(*mws: Middleware) -> Middleware:
    async def mw(inner: App, scope: Scope, receive: Receive, send: Send) -> None:
        app: App = inner
        for m in reversed(mws[1:]):
            app = _bind(m, app)
        await mws[0](app, scope, receive, send)

    return mw


def _bind(m: Middleware, inner: App) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await m(inner, scope, receive, send)
    return app


def _set_header(headers: Headers, name: bytes, value: str) -> Headers:
    return [(k, v) for k, v in headers if k.lower() != name] + [(name, value.encode("latin-1"))]


def _envelope(code: str, data: Any, rid: str = "") -> dict[str, Any]:
    return {"code": code, "message": "成功" if code == "success" else "错误", "requestId": rid, "data": data}


# ---- the defects ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    name: str
    category: str
    #: the check meant to catch it, and words its reason must contain
    check: str
    words: str
    why: str
    middleware: Callable[[Target], Middleware] | None = None
    #: checks to run (prerequisites first); default: just the check
    run: tuple[str, ...] = ()
    #: needs a terminal of its own built this way
    service: dict[str, Any] | None = None
    tls_floor: ssl.TLSVersion | None = None
    plain_http: bool = False
    #: modules to certify (None: every one the terminal has)
    modules: tuple[str, ...] | None = None
    #: for the test suite's fast subset
    fast: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def own_terminal(self) -> bool:
        return self.service is not None or self.tls_floor is not None or self.plain_http

    @property
    def checks(self) -> list[str]:
        return list(self.run or (self.check,))


def _auth_with(token: Callable[[], str], paths: tuple[str, ...] = ()) -> Callable[[Scope, bytes], tuple[Scope,
                                                                                                          bytes]]:
    def edit(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
        if paths and not scope["path"].startswith(paths):
            return scope, body
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        headers.append((b"authorization", f"Bearer {token()}".encode()))
        return {**scope, "headers": headers}, body
    return edit


def _ignore_timeout(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    try:
        data = json.loads(body)
    except ValueError:
        return scope, body
    if isinstance(data, dict) and isinstance(data.get("timeout"), int) and data["timeout"] < 5000:
        data["timeout"] = 5000
        body = json.dumps(data).encode()
    return scope, body


def _is_op(scope: Scope) -> bool:
    parts = scope["path"].strip("/").split("/")
    return scope["method"] == "POST" and len(parts) == 3 and parts[0] == "v1" and parts[1] not in ("sim",) and \
        parts[2] not in ("cancel", "health")


def _lose(state: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    state["n"] = state.get("n", 0) + 1
    return [] if state["n"] % 2 == 0 else [e]


def _swap_first_two(state: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    if state.get("done"):
        return [e]
    if "held" not in state:
        state["held"] = e
        return []
    state["done"] = True
    return [e, state.pop("held")]


def _status_online(d: dict[str, Any]) -> None:
    d["state"] = "online"


def _hide_outage(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if _is_op(scope) and isinstance(body, dict) and body.get("code") in ("noDevice", "communicationError"):
        return 200, headers, {**body, "code": "success", "message": "成功", "data": {}}
    return status, headers, body


def _events_say_online(state: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    if e.get("event") == "statusChanged" and isinstance(e.get("data"), dict):
        e = {**e, "data": {**e["data"], "state": "online"}}
    return [e]


def _frozen_statistics(d: dict[str, Any]) -> None:
    d.update({"operations": 0, "failures": 0, "byOperation": {}, "byError": {}})


def _phantom_op(d: dict[str, Any]) -> None:
    d.setdefault("operations", []).append({"name": "scan_face", "version": "1.0", "queued": True})


def _omit_flash(d: dict[str, Any]) -> None:
    d["operations"] = [o for o in d.get("operations", []) if o.get("name") != "flash"]


def _unsupported_flash(scope: Scope) -> tuple[int, Headers, Any] | None:
    if scope["method"] == "POST" and scope["path"] == "/v1/lights/flash":
        return 400, [], _envelope("unsupportedCommand", {"retryable": False},
                                  _header(scope, b"x-request-id") or "")
    return None


def _fake_cancel(scope: Scope) -> tuple[int, Headers, Any] | None:
    if scope["method"] == "POST" and scope["path"].endswith("/cancel"):
        return 200, [], _envelope("success", {"canceled": True}, _header(scope, b"x-request-id") or "")
    return None


def _new_request_id(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if isinstance(body, dict) and "requestId" in body:
        body["requestId"] = "made-up-" + str(time.monotonic_ns())
    return status, headers, body


def _no_message(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if status >= 400 and isinstance(body, dict):
        body.pop("message", None)
    return status, headers, body


def _vendor_code(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if isinstance(body, dict) and body.get("code") == "invalidData":
        body["code"] = "E_PARAM"
    return status, headers, body


def _errors_as_200(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    return (200 if status >= 400 else status), headers, body


def _extra_field(d: dict[str, Any]) -> None:
    d["debugInfo"] = {"worker": 3}


def _wrong_type(d: dict[str, Any]) -> None:
    d["birthDate"] = 19900307


def _drop_state(d: dict[str, Any]) -> None:
    d.pop("state", None)


def _language(value: str | None) -> Callable[[Scope, bytes], tuple[Scope, bytes]]:
    def edit(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
        asked = _header(scope, b"accept-language")
        headers = [(k, v) for k, v in scope["headers"] if k != b"accept-language"]
        if value is None:  # Accept-Language ignored: everyone gets the default
            return {**scope, "headers": headers}, body
        if asked is None:  # the default is not Chinese
            headers.append((b"accept-language", value.encode()))
            return {**scope, "headers": headers}, body
        return scope, body
    return edit


def _wildcard(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    return status, _set_header(headers, b"access-control-allow-origin", "*"), body


def _reflect_origin() -> Middleware:
    def strip(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
        origin = _header(scope, b"origin")
        headers = [(k, v) for k, v in scope["headers"] if k != b"origin"]
        return {**scope, "headers": headers, "_origin": origin}, body

    def add(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
        origin = scope.get("_origin")
        if origin:
            headers = _set_header(headers, b"access-control-allow-origin", origin)
            headers = _set_header(headers, b"access-control-allow-credentials", "true")
        return status, headers, body

    return chain(requests(strip), responses(add))


def _pna_for_all(scope: Scope) -> tuple[int, Headers, Any] | None:
    if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-private-network"):
        return 204, [(b"access-control-allow-private-network", b"true"),
                     (b"access-control-allow-methods", b"GET, POST")], b""
    return None


def _ws_no_origin(scope: Scope) -> Scope:
    return {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"origin"]}


def _remember_body(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    return {**scope, "_body": body.decode("utf-8", "replace")[:200]}, body


def _echo_input(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if status >= 400 and isinstance(body, dict) and isinstance(body.get("message"), str):
        body["message"] += f" (input: {scope.get('_body', '')})"
    return status, headers, body


def _holder_header(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if scope["path"] == "/v1/idcard/read" and isinstance(body, dict) and isinstance(body.get("data"), dict):
        number = body["data"].get("idNumber")
        if isinstance(number, str):
            headers = _set_header(headers, b"x-card-holder", number)
    return status, headers, body


def _id_in_events(state: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    if e.get("module") == "idcard" and isinstance(e.get("data"), dict):
        e = {**e, "data": {**e["data"], "holder": HOLDER_ID}}
    return [e]


def _holder_in_status(d: dict[str, Any]) -> None:
    d.setdefault("detail", {})["lastHolder"] = HOLDER_NAME


def _audit_in_clear(d: dict[str, Any]) -> None:
    for row in d.get("rows", []):
        if isinstance(row, dict):
            row["subject"] = HOLDER_ID


def _crash(status_from: int, only_field: str | None = None) -> Callable[[Scope, int, Headers, Any],
                                                                         tuple[int, Headers, Any]]:
    def edit(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
        if status != status_from:
            return status, headers, body
        if only_field is not None and not (isinstance(body, dict) and isinstance(body.get("data"), dict)
                                           and body["data"].get("field") == only_field):
            return status, headers, body
        return 500, [(b"content-type", b"text/plain")], b"Internal Server Error"
    return edit


def _accept_empty(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if status == 400 and _is_op(scope) and scope.get("_body", "").strip() in ("{}", "") and isinstance(body, dict):
        return 200, headers, {**body, "code": "success", "message": "成功", "data": {}}
    return status, headers, body


def _no_retry_after(scope: Scope, status: int, headers: Headers, body: Any) -> tuple[int, Headers, Any]:
    if status == 429:
        headers = [(k, v) for k, v in headers if k.lower() != b"retry-after"]
    return status, headers, body


def _status_slow(scope: Scope) -> bool:
    return bool(scope["method"] == "GET" and scope["path"] == "/v1/idcard/status")


MUTATIONS: list[Mutation] = [
    # transport
    Mutation("TLS 1.0 accepted", "transport", "security.tls_versions", "accepted a TLSv1",
             "the handshake of a deprecated TLS version is refused", tls_floor=ssl.TLSVersion.TLSv1),
    Mutation("plain HTTP answered on the service port", "transport", "security.plain_http_refused",
             "plain HTTP was answered", "only TLS is spoken on the port", plain_http=True),
    Mutation("operations stall (timeouts ignored for ever)", "transport", "module.operations", "no reply within",
             "every request has a client deadline: the operation's timeout + the stated slack",
             lambda t: stall(_is_op), run=("module.operations",), modules=("lights",), fast=True),
    # auth
    Mutation("authentication not enforced", "auth", "security.auth_required", "HTTP 200",
             "a request without a valid token is refused", lambda t: requests(_auth_with(lambda: t.token)),
             fast=True),
    Mutation("app token accepted on maintenance routes", "auth", "security.scopes", "answered an app token",
             "scopes are enforced", lambda t: requests(_auth_with(lambda: t.maintenance,
                                                                  ("/v1/sim", "/v1/audit")))),
    # rate limits
    Mutation("no rate limit", "rate limits", "security.rate_limit", "never rate limited",
             "a token's requests are limited", service={"rate_limit": 1e9, "rate_burst": 1_000_000_000}),
    Mutation("429 without Retry-After", "rate limits", "security.rate_limit", "without a Retry-After",
             "a 429 says when to retry", lambda t: responses(_no_retry_after)),
    # CORS / Private Network Access
    Mutation("Access-Control-Allow-Origin: * on every reply", "CORS/PNA", "responses.cors",
             "Access-Control-Allow-Origin: *", "no wildcard on any reply", lambda t: responses(_wildcard),
             fast=True),
    Mutation("any origin reflected, with credentials", "CORS/PNA", "responses.cors", "foreign origin is allowed",
             "a foreign page is never allowed", lambda t: _reflect_origin()),
    Mutation("Private Network Access granted to any page", "CORS/PNA", "responses.cors", "Private Network Access",
             "PNA preflights of foreign pages are refused", lambda t: answer(_pna_for_all)),
    Mutation("event stream open to foreign pages", "CORS/PNA", "responses.cors", "hello to a foreign origin",
             "the WebSocket checks Origin too", lambda t: ws_scope(_ws_no_origin)),
    # envelope
    Mutation("requestId not echoed", "envelope", "responses.envelope", "is not the X-Request-Id sent",
             "the caller's request id comes back", lambda t: responses(_new_request_id),
             run=("service.health", "responses.envelope"), fast=True),
    Mutation("error envelope without a message", "envelope", "responses.envelope", "not the envelope",
             "every reply is the full envelope", lambda t: responses(_no_message),
             run=("module.missing_data", "responses.envelope")),
    # codes
    Mutation("a code outside the catalogue", "codes", "responses.envelope", "is not a catalogue code",
             "every code is in the catalogue", lambda t: responses(_vendor_code),
             run=("module.missing_data", "responses.envelope")),
    Mutation("errors answered with HTTP 200", "codes", "responses.envelope", "HTTP 200 with code",
             "the HTTP status agrees with the code", lambda t: responses(_errors_as_200),
             run=("module.missing_data", "responses.envelope")),
    # schema
    Mutation("a field the schema does not have (additionalProperties)", "schema", "responses.schema",
             "Additional properties", "replies validate against the published schema",
             lambda t: data_of("/status", _extra_field), run=("module.status", "responses.schema"), fast=True),
    Mutation("a result field of the wrong type", "schema", "module.operations", "does not match",
             "each result validates against its schema", lambda t: data_of("/v1/idcard/read", _wrong_type)),
    Mutation("status without its required state", "schema", "module.status", "no valid state",
             "status carries an XFS state", lambda t: data_of("/status", _drop_state)),
    # language
    Mutation("English by default", "language", "responses.language", "is not in Chinese",
             "a request without Accept-Language gets Chinese", lambda t: requests(_language("en")), fast=True),
    Mutation("Accept-Language ignored", "language", "responses.language", "is not in English",
             "English is given when asked for", lambda t: requests(_language(None))),
    # personal data
    Mutation("personal data echoed in error messages", "personal data", "responses.personal_data", "idNumber",
             "errors never repeat what the caller sent", lambda t: chain(requests(_remember_body),
                                                                          responses(_echo_input))),
    Mutation("the card holder's name in a response header", "personal data", "responses.personal_data",
             "header x-card-holder", "headers carry no personal data", lambda t: responses(_holder_header),
             run=("module.operations", "responses.personal_data"), fast=True),
    Mutation("an ID number in events", "personal data", "responses.personal_data", "idNumber",
             "events carry no personal data", lambda t: frames(_id_in_events),
             run=("module.status_truth", "responses.personal_data")),
    Mutation("the last holder's name in status", "personal data", "responses.personal_data", "name",
             "only results declared personal carry personal data", lambda t: data_of("/v1/idcard/status",
                                                                                     _holder_in_status),
             run=("module.status", "responses.personal_data")),
    Mutation("ID numbers in clear in the audit export", "personal data", "audit.personal_data", "idNumber",
             "the audit export masks ID numbers", lambda t: data_of("/v1/audit", _audit_in_clear),
             run=("audit.personal_data",)),
    # status
    Mutation("status says online while unplugged", "status", "module.status_truth", "still online",
             "status follows the device", lambda t: data_of("/status", _status_online), fast=True),
    Mutation("operations succeed during an outage", "status", "module.status_truth", "kept succeeding",
             "operations on a vanished device fail with a catalogue code", lambda t: responses(_hide_outage)),
    Mutation("events disagree with status", "status", "module.status_truth", "disagree",
             "statusChanged events say what status says", lambda t: frames(_events_say_online)),
    # events
    Mutation("events lost", "events", "events.stream", "events lost", "every event arrives",
             lambda t: frames(_lose), fast=True),
    Mutation("events duplicated", "events", "events.stream", "duplicated", "every event arrives once",
             lambda t: frames(lambda s, e: [e, e])),
    Mutation("events out of order", "events", "events.stream", "out of order", "events arrive in order",
             lambda t: frames(_swap_first_two)),
    Mutation("no resume after a reconnect", "events", "events.stream", "not replayed",
             "events missed while disconnected are replayed", lambda t: forget_since()),
    # cancel and timeout
    Mutation("cancel acknowledged but not done", "cancel", "module.cancel", "still running",
             "a cancelled operation ends at once", lambda t: answer(_fake_cancel), fast=True),
    Mutation("the caller's timeout ignored", "timeout", "module.timeout", "no reply within",
             "an operation ends at the deadline it was given", lambda t: requests(_ignore_timeout)),
    # statistics and capabilities
    Mutation("statistics that do not count", "statistics", "module.statistics", "counted as 0",
             "statistics count operations", lambda t: data_of("/statistics", _frozen_statistics), fast=True),
    Mutation("capabilities list an operation that does not exist", "capabilities", "module.capabilities",
             "does not have", "capabilities tell the truth", lambda t: data_of("/capabilities", _phantom_op)),
    Mutation("capabilities omit a mandatory operation", "capabilities", "module.capabilities", "missing",
             "capabilities list every mandatory operation", lambda t: data_of("/v1/lights/capabilities",
                                                                              _omit_flash)),
    Mutation("a mandatory operation answers unsupportedCommand", "capabilities", "module.operations",
             "flash is mandatory", "mandatory operations work", lambda t: answer(_unsupported_flash)),
    # input handling
    Mutation("500 on illegal parameters", "input", "module.illegal_parameters", "illegal parameter",
             "illegal parameters give invalidData", lambda t: responses(_crash(400))),
    Mutation("missing data accepted", "input", "module.missing_data", "gave HTTP 200",
             "missing required fields give invalidData", lambda t: chain(requests(_remember_body),
                                                                         responses(_accept_empty))),
    Mutation("500 on an oversized body", "input", "security.oversized_body", "gave HTTP 500",
             "oversized bodies get a catalogue code", lambda t: responses(_crash(413))),
    Mutation("500 on malformed JSON", "input", "security.injection", "malformed body",
             "malformed JSON gets invalidData", lambda t: responses(_crash(400, "body"))),
    # latency
    Mutation("status queued behind operations (slow)", "latency", "module.latency", "p99",
             "status answers at once", lambda t: delay(_status_slow, 0.4)),
]


@dataclass
class Outcome:
    mutation: Mutation
    caught: bool
    outcome: str
    reason: str
    seconds: float
    other_failures: list[str] = field(default_factory=list)


def certify(t: Target, only: list[str] | None = None, budget: float | None = None,
            modules: list[str] | None = None, query_wait: float | None = None, slack: float | None = None) -> Any:
    """A certification of *t*; *query_wait* and *slack* shorten the run's bounds (see certify_terminal)."""
    from .terminal_base import QUERY_WAIT, SLACK
    from .terminal_tier import DEFAULT_BUDGET, certify_terminal

    return certify_terminal(t.url, t.token, maintenance_token=t.maintenance, ca=t.ca, only=only, origin=t.origin,
                            budget=budget or DEFAULT_BUDGET, modules=modules,
                            query_wait=QUERY_WAIT if query_wait is None else query_wait,
                            slack=SLACK if slack is None else slack)


def settle(t: Target, within: float = 20.0) -> None:
    """Wait until no module is busy and every one is online (a broken run may leave work behind)."""
    import httpx

    end = time.monotonic() + within
    with httpx.Client(base_url=t.url, verify=ssl.create_default_context(cafile=str(t.ca)), timeout=5,
                      headers={"Authorization": f"Bearer {t.maintenance}"}) as c:
        while time.monotonic() < end:
            try:
                states = [c.get(f"/v1/{m}/status").json().get("data") or {} for m in ("idcard", "lights")]
            except (httpx.HTTPError, ValueError, AttributeError):  # not up yet, or not JSON yet: ask again
                states = []
            if states and all(s.get("state") == "online" and not s.get("busy") for s in states):
                return
            time.sleep(0.2)


def try_mutation(m: Mutation, shared: Target | None = None, workdir: Path | None = None, *,
                 query_wait: float | None = None, slack: float | None = None) -> Outcome:
    """Run the check(s) of *m* against a terminal broken by *m*; caught when the check fails with its words.
    *query_wait* and *slack* shorten the run's bounds as in certify (None: the defaults)."""
    own = m.own_terminal or shared is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        t = start(workdir, service=m.service, tls_floor=m.tls_floor, plain_http=m.plain_http) if own else shared
    assert t is not None
    t0 = time.monotonic()
    try:
        t.switch.mutation = m.middleware(t) if m.middleware else None
        rep = certify(t, m.checks, modules=list(m.modules) if m.modules else None, query_wait=query_wait,
                      slack=slack)
    finally:
        t.switch.mutation = None
        if own:
            t.stop()
        else:
            settle(t)
    took = time.monotonic() - t0
    mine = [r for r in rep.results if r.id == m.check]
    failed = [r for r in mine if r.outcome.value == "fail"]
    caught = any(m.words in r.reason for r in failed) and not rep.passed
    others = [f"{r.id}[{r.module}]: {r.reason[:80]}" for r in rep.failures() if r.id != m.check]
    first = (failed or mine or [None])[0]
    return Outcome(m, caught, first.outcome.value if first else "absent", first.reason if first else "", took,
                   others)
