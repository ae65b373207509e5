"""The ASGI application of the local service (clauses 8.1–8.3, 9.2.2 b, 9.3.3 b).

One route per module operation, generated from :data:`gtsdk.modules.MODULES`;
one response envelope ``{"code", "message", "requestId", "data"}``; bearer
tokens with scopes; CORS for configured origins only; per-token rate limits;
events on a WebSocket.  Starlette supplies the request/response/WebSocket
primitives; dispatch is a dictionary lookup so the per-request overhead stays
small next to a bare ASGI route (see ``benchmarks/server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

import gtsdk
from gtsdk import wire as wm
from gtsdk.audit import AuditLog
from gtsdk.driver import HealthRequest, Model, OperationSpec
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError, info
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal
from gtsdk.runtime.device import validation_error
from gtsdk.runtime.events import Event
from gtsdk.server.config import ServiceConfig
from gtsdk.server.tokens import RateLimiter, TokenInfo, TokenStore, retry_after
from gtsdk.simulated import simulations_of

log = logging.getLogger("gtsdk.server")

_RID = re.compile(wm.REQUEST_ID)
#: HTTP status adjustments of the service (the catalogue keeps the device meaning)
HTTP_OVERRIDES = {ErrorCode.UNSUPPORTED_COMMAND.value: 400}
MODULE_QUERIES = ("status", "capabilities", "statistics")
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id, X-Transaction-Id, Accept-Language"
EXPOSE_HEADERS = "X-Request-Id, Retry-After"
JSON = "application/json"


def http_status(code: str) -> int:
    return HTTP_OVERRIDES.get(code, info(code).http_status)


def pick_lang(header: str | None) -> str:
    """``en`` when Accept-Language prefers English over Chinese, else ``zh`` (the default)."""
    if not header:
        return "zh"
    best, best_q = "zh", -1.0
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang is not None and q - i * 1e-6 > best_q:
            best, best_q = lang, q - i * 1e-6
    return best


def _dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise GtsdkError(ErrorCode.INVALID_DATA, "duplicate key in JSON object", field=k)
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise GtsdkError(ErrorCode.INVALID_DATA, f"{name} is not JSON", field="body")


def _check_strings(value: Any, limit: int, path: str = "") -> None:
    if isinstance(value, str):
        if len(value) > limit:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"string longer than {limit} characters", field=path or "body")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(v, limit, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_strings(v, limit, f"{path}.{i}" if path else str(i))


async def _disconnected(request: Request) -> None:
    """Return when the client closes its connection (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Response(StarletteResponse):
    """A complete response sent in two ASGI messages; headers in a plain dict (the hot path stays light)."""

    def __init__(self, content: bytes, status_code: int = 200, *, media_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.body = content
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.raw_headers = []
        self.extra: dict[str, str] = dict(headers) if headers else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.extra.items()]
        raw += self.raw_headers
        if self.media_type:
            raw.append((b"content-type", self.media_type.encode("latin-1")))
        raw.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": bytes(self.body)})


class _RequestIds:
    """Unique request ids without a syscall per request: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"


new_request_id = _RequestIds()


class _Call:
    """What a route handler gets: the request, its headers, id, language and caller."""

    __slots__ = ("_receive", "_request", "_scope", "headers", "lang", "rid", "token")

    def __init__(self, scope: Scope, receive: Receive, headers: dict[str, str], rid: str, lang: str,
                 token: TokenInfo | None) -> None:
        self._scope, self._receive = scope, receive
        self._request: Request | None = None
        self.headers, self.rid, self.lang, self.token = headers, rid, lang, token

    @property
    def request(self) -> Request:
        """The Starlette request, made on first use (GET routes never need it)."""
        if self._request is None:
            self._request = Request(self._scope, self._receive)
        return self._request


Handler = Callable[[_Call], Awaitable[StarletteResponse]]


class ServiceApp:
    def __init__(self, terminal: Terminal, config: ServiceConfig, home: Path, *, tokens: TokenStore | None = None,
                 audit: AuditLog | None = None, simulate: bool = False) -> None:
        self.terminal = terminal
        self.config = config
        self.home = home
        self.tokens = tokens or TokenStore(home)
        self.audit = audit
        self.simulate = simulate
        self.limiter = RateLimiter()
        self._origins_all = set(config.origins)
        for app in config.apps.values():
            self._origins_all.update(app.origins)
        self._recipients = self._load_recipients()
        self._messages: dict[tuple[str, str], bytes] = {}
        self._js = resources.files("gtsdk.server").joinpath("static/gtsdk.js").read_bytes()
        self._openapi: bytes | None = None
        self._routes: dict[tuple[str, str], tuple[str | None, Handler]] = {}
        self._build_routes()

    # ---- set-up -------------------------------------------------------------------------
    def _load_recipients(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.config.apps:
            path = self.config.recipient_path(name)
            if path is None:
                continue
            key = f"service.apps.{name}.recipient_key"
            try:
                crypto = importlib.import_module("gtsdk.crypto")
                importlib.import_module("gtsdk.crypto.envelope")
            except Exception:  # not installed, or no SM2 in libcrypto
                raise ConfigError(key, "sealing personal data needs gtsdk.crypto (SM2/SM4), which is not "
                                       "installed; refusing to send personal data in clear") from None
            try:
                out[name] = crypto.load_public_pem(path.read_bytes())
            except OSError as e:
                raise ConfigError(key, f"cannot read {path}: {e.strerror}") from None
            except Exception as e:
                raise ConfigError(key, f"not an SM2 public key PEM: {type(e).__name__}") from None
        return out

    def _build_routes(self) -> None:
        r = self._routes
        r[("GET", "/v1/health")] = (None, self._health)
        r[("GET", "/sdk/gtsdk.js")] = (None, self._sdk)
        r[("GET", "/openapi.json")] = ("any", self._openapi_route)
        r[("GET", "/v1/services")] = ("any", self._services)
        r[("GET", "/v1/audit")] = ("maintenance", self._audit_query)
        r[("GET", "/v1/audit/verify")] = ("maintenance", self._audit_verify)
        r[("GET", "/v1/sim")] = ("maintenance", self._sim_list)
        for mod_id, spec in MODULES.items():
            base = f"/v1/{mod_id}"
            for q in MODULE_QUERIES:
                r[("GET", f"{base}/{q}")] = ("any", self._query_handler(mod_id, q))
            r[("POST", f"{base}/health")] = ("app", self._health_handler(mod_id))
            r[("POST", f"{base}/cancel")] = ("app", self._cancel_handler(mod_id))
            r[("POST", f"{base}/statistics/reset")] = ("maintenance", self._reset_handler(mod_id))
            r[("GET", f"/v1/sim/{mod_id}")] = ("maintenance", self._sim_info_handler(mod_id))
            r[("POST", f"/v1/sim/{mod_id}")] = ("maintenance", self._sim_handler(mod_id))
            for op, ospec in spec.operations.items():
                r[("POST", f"{base}/{op}")] = ("app", self._op_handler(mod_id, ospec))
                r[("GET", f"/v1/schemas/{mod_id}/{op}")] = ("any", self._schema_handler(mod_id, ospec))
        # records (catalogue, transactions, ratings), /v1/ops/*, /metrics, the example pages /demo/ and /ops/
        from gtsdk.server import metrics, ops, pages, records_routes

        for part in (records_routes, ops, metrics, pages):
            part.add_routes(self)
        self._paths: dict[str, list[str]] = {}
        for method, path in r:
            self._paths.setdefault(path, []).append(method)

    # ---- envelope ---------------------------------------------------------------------------
    def _message(self, code: str, lang: str) -> bytes:
        key = (code, lang)
        m = self._messages.get(key)
        if m is None:
            i = info(code)
            m = self._messages[key] = json.dumps(i.en if lang == "en" else i.zh, ensure_ascii=False).encode()
        return m

    def envelope(self, code: str, rid: str, lang: str, data: bytes, message: bytes | None = None) -> bytes:
        return b"".join((b'{"code":"', code.encode(), b'","message":', message or self._message(code, lang),
                         b',"requestId":"', rid.encode(), b'","data":', data, b"}"))

    def ok(self, call: _Call, data: Model | dict[str, Any] | list[Any]) -> Response:
        body = (data.model_dump_json(by_alias=True, exclude_none=True).encode() if isinstance(data, Model)
                else json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        return Response(self.envelope("success", call.rid, call.lang, body), 200, media_type=JSON)

    def error(self, e: GtsdkError, rid: str, lang: str, headers: dict[str, str] | None = None) -> Response:
        data = wm.ErrorData(retryable=e.retryable, detail=e.detail or None, field=e.field,
                            retry_after=int(headers["Retry-After"]) if headers and "Retry-After" in headers else None)
        msg = json.dumps(e.message(lang), ensure_ascii=False).encode()
        body = self.envelope(e.code, rid, lang, data.model_dump_json(by_alias=True, exclude_none=True).encode(), msg)
        return Response(body, http_status(e.code), media_type=JSON, headers=headers)

    # ---- ASGI entry ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def origin_allowed(self, origin: str, token: TokenInfo | None) -> bool:
        if "*" in self.config.origins:
            return True
        if token is None:
            return origin in self._origins_all
        return origin in self.config.origins or origin in self.config.app(token.app).origins

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id") or new_request_id()
        lang = pick_lang(headers.get("accept-language"))
        origin = headers.get("origin")
        method: str = scope["method"]
        path: str = scope["path"]
        extra: dict[str, str] = {}
        resp: StarletteResponse
        try:
            if not _RID.match(rid):
                rid = new_request_id()
                raise GtsdkError(ErrorCode.INVALID_DATA, "X-Request-Id must match " + wm.REQUEST_ID,
                                 field="X-Request-Id")
            if origin is not None and path != "/sdk/gtsdk.js":
                if not self.origin_allowed(origin, None):
                    raise GtsdkError(ErrorCode.FORBIDDEN, "origin not allowed", field="Origin")
                extra = {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                         "Access-Control-Expose-Headers": EXPOSE_HEADERS}
            if method == "OPTIONS":
                resp = self._preflight(headers, path, extra)
            else:
                resp = await self._dispatch(_Call(scope, receive, headers, rid, lang, None), method, path, origin)
        except GtsdkError as e:
            hdrs = {"Retry-After": e.data["retryAfter"]} if e.code == ErrorCode.RATE_LIMITED and e.data else None
            resp = self.error(e, rid, lang, hdrs)
        except Exception as e:  # every failure gets an envelope, never a traceback
            log.exception("unexpected error on %s %s", method, path)
            resp = self.error(GtsdkError(ErrorCode.INTERNAL_ERROR, type(e).__name__), rid, lang)
        extra["X-Request-Id"] = rid
        extra["Cache-Control"] = "no-store"
        extra["X-Content-Type-Options"] = "nosniff"
        if isinstance(resp, Response):
            resp.extra.update(extra)
        else:
            for k, v in extra.items():
                resp.headers[k] = v
        await resp(scope, receive, send)

    def _preflight(self, headers: dict[str, str], path: str, extra: dict[str, str]) -> Response:
        if "Access-Control-Allow-Origin" not in extra:
            raise GtsdkError(ErrorCode.FORBIDDEN, "preflight without an allowed Origin", field="Origin")
        methods = self._paths.get(path)
        if methods is None:
            raise GtsdkError(ErrorCode.INVALID_COMMAND, "no such route")
        h = {"Access-Control-Allow-Methods": ", ".join(sorted(methods)),
             "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": "600"}
        # Private Network Access: a public page may reach the local service only if it says so
        if headers.get("access-control-request-private-network", "").lower() == "true":
            h["Access-Control-Allow-Private-Network"] = "true"
        return Response(b"", 204, headers=h)

    async def _dispatch(self, call: _Call, method: str, path: str, origin: str | None) -> StarletteResponse:
        route = self._routes.get((method, path))
        if route is not None and route[0] is None:
            return await route[1](call)
        token = call.token = self._authenticate(call.headers.get("authorization"))
        if origin is not None and not self.origin_allowed(origin, token):
            raise GtsdkError(ErrorCode.FORBIDDEN, "origin not allowed for this app", field="Origin")
        self._rate_limit(token)
        if route is None:
            allowed = self._paths.get(path)
            if allowed:
                raise GtsdkError(ErrorCode.INVALID_COMMAND, f"use {' or '.join(sorted(allowed))}")
            raise self._unknown(path)
        scope, handler = route
        if scope != "any" and scope not in token.scopes:
            raise GtsdkError(ErrorCode.FORBIDDEN, f"needs a token with scope {scope!r}")
        return await handler(call)

    def _unknown(self, path: str) -> GtsdkError:
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "v1" and parts[1] not in MODULES and len(parts) == 3:
            return GtsdkError(ErrorCode.INVALID_COMMAND, "unknown module")
        if len(parts) == 3 and parts[0] == "v1":
            return GtsdkError(ErrorCode.INVALID_COMMAND, f"{parts[1]} has no such operation")
        return GtsdkError(ErrorCode.NOT_FOUND, "no such route")

    def _authenticate(self, header: str | None) -> TokenInfo:
        if not header:
            raise GtsdkError(ErrorCode.UNAUTHORIZED, "missing Authorization: Bearer <token>", field="Authorization")
        kind, _, value = header.partition(" ")
        token = self.tokens.verify(value.strip()) if kind.lower() == "bearer" else None
        if token is None:
            raise GtsdkError(ErrorCode.UNAUTHORIZED, "invalid, revoked or expired token", field="Authorization")
        return token

    def _rate_limit(self, token: TokenInfo) -> None:
        app = self.config.app(token.app)
        rate = app.rate_limit or self.config.rate_limit
        burst = app.rate_burst or self.config.rate_burst
        wait = self.limiter.take(token.id, rate, burst)
        if wait > 0:
            raise GtsdkError(ErrorCode.RATE_LIMITED, f"limit {rate:g}/s", data={"retryAfter": retry_after(wait)})

    async def _json_body(self, call: _Call) -> bytes:
        request = call.request
        limit = self.config.max_body_bytes
        cl = call.headers.get("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise GtsdkError(ErrorCode.INVALID_DATA, "bad Content-Length", field="Content-Length")
            if int(cl) > limit:
                raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {limit} bytes", field="body")
        chunks: list[bytes] = []

        async def read() -> None:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {limit} bytes", field="body")
                chunks.append(chunk)

        try:  # a client that stalls half-way through its body must not hold a request slot for ever
            await asyncio.wait_for(read(), self.config.body_timeout)
        except TimeoutError:
            raise GtsdkError(ErrorCode.TIME_OUT, f"request body not complete after {self.config.body_timeout:g} s",
                             field="body") from None
        raw = b"".join(chunks)
        if not raw.strip():
            return b"{}"
        ctype = call.headers.get("content-type", "")
        mime, _, params = ctype.partition(";")
        if mime.strip().lower() != JSON:
            raise GtsdkError(ErrorCode.INVALID_DATA, "Content-Type must be application/json", field="Content-Type")
        if "charset" in params.lower() and "utf-8" not in params.lower().replace('"', ""):
            raise GtsdkError(ErrorCode.INVALID_DATA, "only UTF-8 is accepted (clause 8.2)", field="Content-Type")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "body is not valid UTF-8", field="body") from None
        try:
            obj = json.loads(text, object_pairs_hook=_dupes, parse_constant=_no_constants)
        except json.JSONDecodeError as e:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"not JSON: {e.msg} at {e.pos}", field="body") from None
        except RecursionError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "JSON nested too deeply", field="body") from None
        if not isinstance(obj, dict):
            raise GtsdkError(ErrorCode.INVALID_DATA, "body must be a JSON object", field="body")
        _check_strings(obj, self.config.max_string_chars)
        return raw

    async def _parse(self, call: _Call, model: type[Model]) -> Model:
        raw = await self._json_body(call)
        try:
            return model.model_validate_json(raw, strict=True)
        except ValidationError as e:
            raise validation_error(e) from None

    # ---- public routes ---------------------------------------------------------------------
    async def _health(self, call: _Call) -> Response:
        return self.ok(call, wm.ServiceHealth(version=gtsdk.__version__))

    async def _sdk(self, call: _Call) -> Response:
        return Response(self._js, 200, media_type="text/javascript; charset=utf-8",
                        headers={"Access-Control-Allow-Origin": "*"})

    async def _openapi_route(self, call: _Call) -> Response:
        if self._openapi is None:
            from gtsdk.server.openapi import build

            self._openapi = json.dumps(build(self), ensure_ascii=False).encode()
        return Response(self._openapi, 200, media_type=JSON)

    # ---- discovery -------------------------------------------------------------------------------
    def services(self) -> wm.Services:
        mods = []
        for mod_id, spec in MODULES.items():
            dev = self.terminal.device(mod_id)
            st = dev.status()
            caps = dev.capabilities().device if dev.driver is not None else None
            mods.append(wm.ServiceEntry(
                module=mod_id, clause=spec.clause, title_zh=spec.title_zh, title_en=spec.title_en,
                driver=(dev.config.driver if dev.config else None),
                driver_version=caps.driver_version if caps else None,
                state=st.state.value, reason=st.reason, opened=st.opened,
                simulated=mod_id in simulations_of(self.terminal),
                operations=[wm.OperationEntry(name=o.name, version=o.version, summary=o.summary,
                                              personal_data=o.personal_data) for o in spec.operations.values()],
                events=list(spec.events)))
        tid = self.terminal.config.terminal.get("id")
        return wm.Services(version=gtsdk.__version__, terminal_id=str(tid) if tid else None, simulate=self.simulate,
                           event_seq=self.terminal.events.last_seq, modules=mods)

    async def _services(self, call: _Call) -> Response:
        return self.ok(call, self.services())

    # ---- module routes ------------------------------------------------------------------------------
    def _query_handler(self, mod_id: str, what: str) -> Handler:
        async def handler(call: _Call) -> Response:
            dev = self.terminal.device(mod_id)
            model: Model = dev.status() if what == "status" else (
                dev.capabilities() if what == "capabilities" else dev.statistics())
            return self.ok(call, model)
        return handler

    def _health_handler(self, mod_id: str) -> Handler:
        async def handler(call: _Call) -> Response:
            req = await self._parse(call, HealthRequest)
            caller = call.token.caller if call.token else None
            out = await self.terminal.acall(mod_id, "health", req, request_id=call.rid, caller=caller)
            return self.ok(call, out)
        return handler

    def _cancel_handler(self, mod_id: str) -> Handler:
        async def handler(call: _Call) -> Response:
            req = await self._parse(call, wm.CancelRequest)
            assert isinstance(req, wm.CancelRequest)
            if not self.terminal.cancel(mod_id, req.request_id):
                raise GtsdkError(ErrorCode.NOT_FOUND, "no queued or running request with that id", field="requestId")
            return self.ok(call, wm.CancelResult(canceled=True))
        return handler

    def _reset_handler(self, mod_id: str) -> Handler:
        async def handler(call: _Call) -> Response:
            dev = self.terminal.device(mod_id)
            dev.reset_statistics()
            return self.ok(call, dev.statistics())
        return handler

    def _op_handler(self, mod_id: str, ospec: OperationSpec) -> Handler:
        op = ospec.name
        model = ospec.request
        personal = ospec.personal_data

        async def handler(call: _Call) -> Response:
            req = await self._parse(call, model)
            token = call.token
            assert token is not None
            job = self.terminal.submit(mod_id, op, req, request_id=call.rid, caller=token.caller)
            fut = asyncio.wrap_future(job.future)
            gone = asyncio.ensure_future(_disconnected(call.request))
            waiters: set[asyncio.Future[Any]] = {fut, gone}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not fut.done():  # the caller went away (or we are shutting down): stop its device work
                    self.terminal.cancel(mod_id, call.rid)
                gone.cancel()
            out = await fut
            if self.audit is not None:  # answered only once its audit row is on disk (crash consistency)
                await self.audit.committed(call.rid)
            if personal and token.app in self._recipients:
                return self.ok(call, self._seal(out, token.app, mod_id, op, call.rid))
            return self.ok(call, out)
        return handler

    def _seal(self, result: Model, app: str, mod_id: str, op: str, rid: str) -> wm.SealedData:
        envelope = importlib.import_module("gtsdk.crypto.envelope")
        payload = result.model_dump_json(by_alias=True, exclude_none=True).encode()
        sign_key = self.audit.signer.key if self.audit is not None else None
        header = {"module": mod_id, "operation": op, "requestId": rid, "app": app}
        sealed = envelope.seal_json(payload, self._recipients[app], sign_key=sign_key, header=header)
        return wm.SealedData(sealed=dict(sealed))

    def _schema_handler(self, mod_id: str, ospec: OperationSpec) -> Handler:
        body = wm.Schemas(module=mod_id, operation=ospec.name, version=ospec.version,
                          request=ospec.request.model_json_schema(by_alias=True),
                          response=ospec.result.model_json_schema(by_alias=True, mode="serialization"))

        async def handler(call: _Call) -> Response:
            return self.ok(call, body)
        return handler

    # ---- maintenance ----------------------------------------------------------------------------------
    async def _sim_list(self, call: _Call) -> Response:
        return self.ok(call, {"modules": sorted(simulations_of(self.terminal))})

    def _simulation(self, mod_id: str) -> Any:
        sim = simulations_of(self.terminal).get(mod_id)
        if sim is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, f"{mod_id} is not simulated (start with --simulate)")
        return sim

    def _sim_info_handler(self, mod_id: str) -> Handler:
        async def handler(call: _Call) -> Response:
            sim = self._simulation(mod_id)
            return self.ok(call, wm.SimInfo(module=mod_id, driver=sim.driver, description=sim.describe(),
                                            actions=sim.actions()))
        return handler

    def _sim_handler(self, mod_id: str) -> Handler:
        async def handler(call: _Call) -> Response:
            sim = self._simulation(mod_id)
            req = await self._parse(call, wm.SimControl)
            assert isinstance(req, wm.SimControl)
            try:
                out = await asyncio.to_thread(sim.control, req.action, req.params)
            except GtsdkError:
                raise
            except Exception as e:
                raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"simulator raised {type(e).__name__}") from None
            return self.ok(call, out if isinstance(out, dict) else {"result": out})
        return handler

    async def _audit_query(self, call: _Call) -> Response:
        if self.audit is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "audit log disabled")
        q = call.request.query_params
        allowed = {"since", "until", "module", "operation", "person", "code", "caller", "limit", "afterId"}
        for k in q:
            if k not in allowed:
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown query parameter", field=k)
        ints: dict[str, int] = {}
        for name, default in (("limit", "1000"), ("afterId", "0")):
            try:
                ints[name] = int(q.get(name, default))
            except ValueError:
                raise GtsdkError(ErrorCode.INVALID_DATA, "must be an integer", field=name) from None
            if not 0 <= ints[name] < 2**63:
                raise GtsdkError(ErrorCode.INVALID_DATA, "out of range", field=name)
        limit, after = ints["limit"], ints["afterId"]
        audit = self.audit
        try:
            rows = await asyncio.to_thread(
                lambda: audit.query(since=q.get("since"), until=q.get("until"), module=q.get("module"),
                                    operation=q.get("operation"), person=q.get("person"), code=q.get("code"),
                                    caller=q.get("caller"), limit=limit, after_id=after))
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "since/until must be ISO dates or times", field="since") from None
        return self.ok(call, wm.AuditRows(rows=[wm.AuditRow.model_validate(r) for r in rows]))

    async def _audit_verify(self, call: _Call) -> Response:
        if self.audit is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "audit log disabled")
        res = await asyncio.to_thread(self.audit.verify)
        return self.ok(call, wm.AuditVerify(ok=res.ok, rows=res.rows, algorithm=res.algorithm,
                                            signed_days=res.signed_days, problems=res.problems))

    # ---- events -----------------------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        if scope["path"] != "/v1/events":
            await ws.close(code=4404)
            return
        origin = ws.headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, None):
            await ws.close(code=4403)
            return
        await ws.accept()
        try:
            await EventSession(self, ws, origin).run()
        except WebSocketDisconnect:
            pass
        except Exception as e:  # a client vanishing mid-send and the like: end this session only
            log.debug("event session ended: %s", type(e).__name__)
        finally:
            if ws.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await ws.close()


class EventSession:
    """One WebSocket client of ``/v1/events``.

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
    """

    CHECK_EVERY = 5.0

    def __init__(self, app: ServiceApp, ws: WebSocket, origin: str | None) -> None:
        self.app, self.ws, self.origin = app, ws, origin
        self.lang = pick_lang(ws.headers.get("accept-language"))
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
        if not isinstance(items, list) or not all(isinstance(m, str) for m in items):
            raise GtsdkError(ErrorCode.INVALID_DATA, "modules must be a list of module ids", field="modules")
        bad = [m for m in items if m not in MODULES]
        if bad:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown module ids {bad}", field="modules")
        return frozenset(items)

    async def run(self) -> None:
        q = self.ws.query_params
        hello: dict[str, Any] = {}
        token_str = q.get("token")
        if token_str is None:
            try:
                msg = await asyncio.wait_for(self.ws.receive_text(), timeout=10)
                hello = json.loads(msg)
                if not isinstance(hello, dict) or hello.get("type") != "auth":
                    raise ValueError
            except (TimeoutError, ValueError):
                await self.fail(GtsdkError(ErrorCode.UNAUTHORIZED, "send {\"type\":\"auth\",\"token\":…} first"), 4401)
                return
            token_str = hello.get("token")
        token = self.app.tokens.verify(token_str) if isinstance(token_str, str) else None
        if token is None:
            await self.fail(GtsdkError(ErrorCode.UNAUTHORIZED, "invalid, revoked or expired token"), 4401)
            return
        if self.origin is not None and not self.app.origin_allowed(self.origin, token):
            await self.fail(GtsdkError(ErrorCode.FORBIDDEN, "origin not allowed for this app"), 4403)
            return
        if "app" not in token.scopes and "maintenance" not in token.scopes:
            await self.fail(GtsdkError(ErrorCode.FORBIDDEN, "no scope"), 4403)
            return
        try:
            self.app._rate_limit(token)
        except GtsdkError as e:
            await self.fail(e, 4429)
            return
        try:
            self.modules = self._modules(hello.get("modules", q.get("modules")))
            since_raw = hello.get("since", q.get("since"))
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
        bus = self.app.terminal.events
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        limit = self.app.config.event_queue

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
                with contextlib.suppress(BaseException):
                    await reader
        finally:
            unsubscribe()

    def _still_valid(self, token: TokenInfo) -> bool:
        for t in self.app.tokens.list():
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
