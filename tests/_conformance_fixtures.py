"""A real gtsdk service (ID card reader on its simulator, a fake light board) for the
terminal tier, and ASGI wrappers that break it in one specific way each."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _server_fixtures  # noqa: F401  (registers the fake light board)
import uvicorn

from gtsdk.runtime import Terminal, parse_config
from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, bind, build, start_background, uvicorn_config
from gtsdk.server.tokens import TokenStore
from gtsdk.simulated import simulated_terminal

Scope = dict[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


@dataclass
class Target:
    url: str
    token: str
    maintenance: str
    ca: Path
    stop: Callable[[], None]


def make_terminal(workdir: Path) -> Terminal:
    cfg = parse_config({"terminal": {"id": "T-CONF"}, "modules": {"lights": {"driver": "fake"}}})
    return simulated_terminal(workdir / "sim", cfg, modules=["idcard"])


class Wrapped:
    """The service app with one behaviour replaced; attribute access falls through."""

    def __init__(self, inner: Any, mw: Callable[[Any, Scope, Any, Any], Awaitable[None]]) -> None:
        self.inner, self.mw = inner, mw

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.mw(self.inner, scope, receive, send)


def start(tmp: Path, wrap: Callable[[Any, Scope, Any, Any], Awaitable[None]] | None = None, *,
          tls_floor: ssl.TLSVersion | None = None, service: dict[str, Any] | None = None) -> Target:
    home = tmp / "home"
    t = make_terminal(tmp).start()
    app = build(t, parse_service(service or {}, base_dir=home), home, simulate=True)
    served: Any = Wrapped(app, wrap) if wrap else app
    if tls_floor is None:
        running = start_background(served, port=0, addresses=served.config.listen)
    else:
        running = _start_with_tls_floor(served, tls_floor)
    store = TokenStore(home)
    app_token, maint = store.create(["app"], app="kiosk"), store.create(["maintenance"])

    def stop() -> None:
        running.stop()
        t.stop()

    return Target(running.url, app_token, maint, home / "ca.pem", stop)


def _start_with_tls_floor(app: Any, floor: ssl.TLSVersion) -> Running:
    cfg = uvicorn_config(app, app.home)
    assert cfg.ssl is not None
    cfg.ssl.minimum_version = floor
    cfg.ssl.set_ciphers("DEFAULT:@SECLEVEL=0")
    socks = bind(["127.0.0.1"], 0)
    server = uvicorn.Server(cfg)
    th = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=socks)), daemon=True)
    th.start()
    while not server.started and th.is_alive():
        th.join(0.01)
    return Running(app, server, th, socks)


# ---- response rewriting -------------------------------------------------------------------------
def rewrite_response(edit: Callable[[Scope, int, Any], tuple[int, Any]]):  # type: ignore[no-untyped-def]
    """Middleware that lets *edit* change the status and JSON body of HTTP replies."""

    async def mw(inner: Any, scope: Scope, receive: Any, send: Any) -> None:
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
            body = b"".join(chunks)
            status = start["status"]
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if payload is not None:
                status, payload = edit(scope, status, payload)
                body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await inner(scope, receive, capture)

    return mw


def rewrite_request(edit: Callable[[Scope, bytes], tuple[Scope, bytes]]):  # type: ignore[no-untyped-def]
    """Middleware that lets *edit* change the headers and body of HTTP requests."""

    async def mw(inner: Any, scope: Scope, receive: Any, send: Any) -> None:
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


def forget_since():  # type: ignore[no-untyped-def]
    """Event stream that loses events: the resume point a client sends is ignored."""

    async def mw(inner: Any, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await inner(scope, receive, send)
            return

        async def recv() -> dict[str, Any]:
            msg = await receive()
            if msg.get("type") == "websocket.receive" and msg.get("text"):
                try:
                    data = json.loads(msg["text"])
                    if isinstance(data, dict) and data.get("type") == "auth":
                        data.pop("since", None)
                        msg = {**msg, "text": json.dumps(data)}
                except ValueError:
                    pass
            return msg

        await inner(scope, recv, send)

    return mw
