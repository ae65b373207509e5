"""Events on ``wss://127.0.0.1:8801/v1/events`` (clause 8.1: status changes, card present, QR scanned, alarms).

Protocol (JSON text frames):

* client → ``{"type":"auth","token":"…","modules":["idcard"],"since":12}`` as first message unless the token
  came as ``?token=`` (browsers cannot set headers on a WebSocket); ``modules`` and ``since`` may also be
  query parameters.
* server → ``{"type":"hello","lastSeq":N,"modules":[…]}``, then ``{"type":"gap",…}`` if events after
  ``since`` were already dropped, then the missed events, then live ones:
  ``{"type":"event","seq":…,"time":…,"module":…,"event":…,"data":{…}}``.
* client → ``{"type":"subscribe","modules":[…]}`` changes the filter; ``{"type":"ping"}`` → ``{"type":"pong"}``.
* errors: ``{"type":"error","code":…,"message":…}`` then close 4400 (bad input), 4401 (token), 4403 (scope,
  origin), 4429 (rate) or 1013 (client too slow: reconnect with ``since``).

A ``?token=`` secret is replaced by ``***`` in the request's scope before anything else runs, so no log line
of the service or of uvicorn (which logs WebSocket paths with their query) can carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import carrying_on, swallowed
from gtsdk.modules import MODULES
from gtsdk.runtime.events import Event
from gtsdk.server.call import pick_lang
from gtsdk.server.tokens import TokenInfo

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp

log = logging.getLogger("gtsdk.server")

PATH = "/v1/events"
REDACTED = "***"
#: bytes of a query string of /v1/events (a token, a module list, a sequence number)
MAX_QUERY = 4096


def take_secret(scope: Scope) -> dict[str, str]:
    """The query parameters of *scope*, with ``token`` replaced by ``***`` in the scope itself (for the logs)."""
    raw: bytes = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY:
        scope["query_string"] = b""
        return {"": ""}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    if any(k == "token" for k, _ in pairs):
        scope["query_string"] = urlencode([(k, REDACTED if k == "token" else v) for k, v in pairs]).encode()
    out: dict[str, str] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


async def websocket(svc: ServiceApp, scope: Scope, receive: Receive, send: Send) -> None:
    query = take_secret(scope)
    ws = WebSocket(scope, receive, send)
    if scope["path"] != PATH:
        await ws.close(code=4404)
        return
    origin = ws.headers.get("origin")
    if origin is not None and not svc.origins.allowed(origin, None):
        await ws.close(code=4403)
        return
    await ws.accept()
    try:
        await EventSession(svc, ws, origin, query).run()
    except WebSocketDisconnect:
        pass  # the client left (a send to a vanished client is one too: starlette turns its OSError into this)
    except Exception as e:  # noqa: BLE001 - the session's last line: events carry drivers' data (json.dumps calls
        # str() on their values); this session ends, logged by type and place, and the service goes on
        swallowed("events", "an event session", e, logger=log)
    finally:
        if ws.application_state != WebSocketState.DISCONNECTED:
            # the client may have left already: the expected end; anything else is logged
            closing = carrying_on("events", "closing an event session", logger=log)
            with closing, contextlib.suppress(WebSocketDisconnect):
                await ws.close()


def _reader_ended(reader: asyncio.Task[None]) -> None:
    """Log how the session's reader ended unless it was cancelled or the client left (its expected ends)."""
    e = None if reader.cancelled() else reader.exception()
    if e is not None and not isinstance(e, WebSocketDisconnect):
        swallowed("events", "reading an event session", e, logger=log)


class EventSession:
    """One WebSocket client of ``/v1/events``."""

    CHECK_EVERY = 5.0

    def __init__(self, svc: ServiceApp, ws: WebSocket, origin: str | None, query: dict[str, str]) -> None:
        self.svc, self.ws, self.origin, self.query = svc, ws, origin, query
        self.lang = pick_lang(ws.headers.get("accept-language"))
        client = ws.scope.get("client")
        self.client: str = client[0] if client else "-"
        self.modules: frozenset[str] | None = None
        self.last = 0
        self.overflow = False

    async def fail(self, e: GtsdkError, close: int) -> None:
        await self.ws.send_text(json.dumps({"type": "error", "code": e.code, "message": e.message(self.lang),
                                            "detail": e.detail}, ensure_ascii=False))
        await self.ws.close(code=close)

    def _modules(self, value: Any) -> frozenset[str] | None:
        if value is None or value == "" or value == []:
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(m, str) for m in items) or len(items) > len(MODULES):
            raise GtsdkError(ErrorCode.INVALID_DATA, "modules must be a list of module ids", field="modules")
        bad = [m for m in items if m not in MODULES]
        if bad:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown module ids {bad}", field="modules")
        return frozenset(items)

    async def _hello(self) -> tuple[dict[str, Any], str | None]:
        """The auth message (or {} when the token came in the query) and the token string."""
        q = self.query
        if "" in q:
            raise GtsdkError(ErrorCode.INVALID_DATA, "query string too long", field="query")
        if "token" in q:
            return {}, q["token"]
        try:
            msg = await asyncio.wait_for(self.ws.receive_text(), timeout=self.svc.config.ws_auth_timeout)
            hello = json.loads(msg)
            if not isinstance(hello, dict) or hello.get("type") != "auth":
                raise ValueError
        except (TimeoutError, ValueError):
            return {}, None
        token = hello.get("token")
        return hello, token if isinstance(token, str) else ""

    async def run(self) -> None:
        try:
            hello, token_str = await self._hello()
        except GtsdkError as e:
            await self.fail(e, 4400)
            return
        what = f"WebSocket {PATH}"
        try:
            if token_str is None:
                raise self.svc.authenticator.refuse(
                    self.client, what, GtsdkError(ErrorCode.UNAUTHORIZED, 'send {"type":"auth","token":…} first'),
                    "-")
            token = self.svc.authenticator.check(token_str, self.client, what, "empty token")
        except GtsdkError as e:
            await self.fail(e, 4429 if e.code == ErrorCode.RATE_LIMITED else 4401)
            return
        if self.origin is not None and not self.svc.origins.allowed(self.origin, token):
            await self.fail(self.svc.authenticator.forbid(self.client, what, token, "origin not allowed for this app"),
                            4403)
            return
        if "app" not in token.scopes and "maintenance" not in token.scopes:
            await self.fail(self.svc.authenticator.forbid(self.client, what, token, "no scope"), 4403)
            return
        try:
            self.svc.rates.take(token)
        except GtsdkError as e:
            await self.fail(e, 4429)
            return
        try:
            self.modules = self._modules(hello.get("modules", self.query.get("modules")))
            since_raw = hello.get("since", self.query.get("since"))
            since = None if since_raw in (None, "") else int(since_raw)
            if since is not None and since < 0:
                raise ValueError
        except GtsdkError as e:
            await self.fail(e, 4400)
            return
        except (TypeError, ValueError):
            await self.fail(GtsdkError(ErrorCode.INVALID_DATA, "since must be a sequence number", field="since"), 4400)
            return
        await self._stream(token, since)

    async def _stream(self, token: TokenInfo, since: int | None) -> None:
        bus = self.svc.terminal.events
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        limit = self.svc.config.event_queue

        def put(ev: Event) -> None:
            if queue.qsize() >= limit:
                self.overflow = True
            else:
                queue.put_nowait(ev)

        def listener(ev: Event) -> None:
            loop.call_soon_threadsafe(put, ev)

        unsubscribe = bus.subscribe(listener)
        try:
            self.last = bus.last_seq if since is None else since
            await self.ws.send_text(json.dumps({"type": "hello", "lastSeq": bus.last_seq,
                                                "modules": sorted(self.modules) if self.modules else None}))
            if since is not None:
                missed, complete = bus.since(since, self.modules)
                if not complete:
                    await self.ws.send_text(json.dumps({"type": "gap", "since": since,
                                                        "first": missed[0].seq if missed else bus.last_seq}))
                for ev in missed:
                    await self._send(ev)
            reader = asyncio.create_task(self._read())
            checked = loop.time()
            try:
                while not reader.done():
                    getter = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait({getter, reader}, timeout=self.CHECK_EVERY,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        await self._send(getter.result())
                    else:
                        getter.cancel()
                    if self.overflow:
                        await self.fail(GtsdkError(ErrorCode.RATE_LIMITED, "client too slow; reconnect with since"),
                                        1013)
                        return
                    if loop.time() - checked >= self.CHECK_EVERY:
                        checked = loop.time()
                        if not self._still_valid(token):
                            await self.fail(GtsdkError(ErrorCode.UNAUTHORIZED, "token revoked"), 4401)
                            return
            finally:
                reader.cancel()
                await asyncio.wait({reader})  # never raises: neither the reader's end nor its cancellation
                _reader_ended(reader)
        finally:
            unsubscribe()

    def _still_valid(self, token: TokenInfo) -> bool:
        for t in self.svc.tokens.list():
            if t.id == token.id:
                return t.active()
        return False

    async def _send(self, ev: Event) -> None:
        if ev.seq <= self.last or (self.modules is not None and ev.module not in self.modules):
            return
        self.last = ev.seq
        await self.ws.send_text(json.dumps({"type": "event", "seq": ev.seq, "time": ev.time.isoformat(),
                                            "module": ev.module, "event": ev.type, "data": ev.data},
                                           ensure_ascii=False, default=str))

    async def _read(self) -> None:
        while True:
            text = await self.ws.receive_text()
            try:
                msg = json.loads(text)
                kind = msg.get("type") if isinstance(msg, dict) else None
                if kind == "ping":
                    await self.ws.send_text('{"type":"pong"}')
                elif kind == "subscribe":
                    self.modules = self._modules(msg.get("modules"))
                    await self.ws.send_text(json.dumps({"type": "subscribed", "modules": sorted(self.modules)
                                                        if self.modules else None}))
                else:
                    raise GtsdkError(ErrorCode.INVALID_DATA, "unknown message type", field="type")
            except (ValueError, GtsdkError) as e:
                err = e if isinstance(e, GtsdkError) else GtsdkError(ErrorCode.INVALID_DATA, "not JSON")
                await self.ws.send_text(json.dumps({"type": "error", "code": err.code,
                                                    "message": err.message(self.lang), "detail": err.detail},
                                                   ensure_ascii=False))
