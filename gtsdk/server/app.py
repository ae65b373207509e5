"""The ASGI application of the local service (clauses 8.1–8.3, 9.2.2 b, 9.3.3 b): small pieces, one chain.

An HTTP request passes, outermost first:

1. :class:`~gtsdk.server.request_id.RequestContext` — the :class:`~gtsdk.server.call.Call`, request id, language;
   every error below becomes an envelope here;
2. :class:`~gtsdk.server.cors.Cors` — browser origins, preflights, Private Network Access;
3. :class:`~gtsdk.server.router.Resolve` — the route (a dictionary lookup);
4. :class:`~gtsdk.server.auth.Auth` — bearer token, its app's origins, the route's scope; refusals throttled;
5. :class:`~gtsdk.server.ratelimit.RateLimit` — the token's bucket;
6. :class:`~gtsdk.server.body.BodyLimit` — body size and time;
7. :class:`~gtsdk.server.router.Dispatch` — the route's handler.

Each piece is a synchronous check of the call (gtsdk/server/piece.py) that also runs alone as ASGI middleware:
:attr:`ServiceApp.chain` is the whole chain built that way; :class:`ServiceApp` itself runs the checks in one loop,
with the same answers and no coroutine per piece.

The routes live in gtsdk/server/routes/ (modules, discovery, audit, simulators, events); the example pages in
gtsdk/server/pages.py.  Connection-level limits (header size and time, TLS handshake, connection count,
keep-alive, WebSocket frames) are gtsdk/server/connections.py's, below the application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send

from gtsdk.audit import AuditLog
from gtsdk.driver import Model
from gtsdk.errors import GtsdkError
from gtsdk.runtime import Terminal
from gtsdk.server import body
from gtsdk.server.auth import Auth, Authenticator, FailureThrottle
from gtsdk.server.body import BodyLimit, Limits, disarm
from gtsdk.server.call import CALL, Call, Handler, Response, add_headers, error_response, pick_lang
from gtsdk.server.config import ServiceConfig
from gtsdk.server.cors import Cors, Origins
from gtsdk.server.inflight import InFlight
from gtsdk.server.piece import ASGIApp, Piece
from gtsdk.server.ratelimit import RateLimit, TokenRates
from gtsdk.server.request_id import RequestContext
from gtsdk.server.router import Dispatch, Resolve, Routes
from gtsdk.server.routes import audit as audit_routes
from gtsdk.server.routes import discovery, events, modules, sim
from gtsdk.server.routes.events import EventSession
from gtsdk.server.sealing import Sealer
from gtsdk.server.tokens import TokenInfo, TokenStore
from gtsdk.wire import Services

__all__ = ["Call", "EventSession", "Handler", "ServiceApp", "pick_lang"]

#: the name route modules of other parts use for the request object
_Call = Call


class ServiceApp:
    def __init__(self, terminal: Terminal, config: ServiceConfig, home: Path, *, tokens: TokenStore | None = None,
                 audit: AuditLog | None = None, simulate: bool = False) -> None:
        self.terminal = terminal
        self.config = config
        self.home = home
        self.tokens = tokens or TokenStore(home)
        self.audit = audit
        self.simulate = simulate
        self.routes = Routes()
        self.origins = Origins(config)
        self.authenticator = Authenticator(self.tokens, self.origins,
                                           FailureThrottle(config.auth_failure_rate, config.auth_failure_burst))
        self.rates = TokenRates(config)
        self.limits = Limits(config)
        self.sealer = Sealer(config, audit.signer.key if audit is not None else None)
        self.inflight = InFlight(terminal, config.max_pending)
        for part in (discovery, modules, audit_routes, sim):
            part.add_routes(self)
        # records (catalogue, transactions, ratings), /v1/ops/*, /metrics, the example pages /demo/ and /ops/
        from gtsdk.server import metrics, ops, pages, records_routes

        for other in (records_routes, ops, metrics, pages):
            other.add_routes(self)
        self._dispatch = Dispatch(self.routes)
        pieces: list[Piece] = []
        app: ASGIApp = self._dispatch
        for make in (lambda a: BodyLimit(a, self.limits), lambda a: RateLimit(a, self.rates),
                     lambda a: Auth(a, self.authenticator), lambda a: Resolve(a, self.routes),
                     lambda a: Cors(a, self.origins, self.routes)):
            piece = make(app)
            pieces.insert(0, piece)
            app = piece
        #: the same chain as ASGI middleware (RequestContext(Cors(Resolve(...(Dispatch))))), for embedding
        self.chain = RequestContext(app)
        self._checks = tuple(p.check for p in pieces)

    # ---- ASGI entry ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await events.websocket(self, scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The pieces fused: each one's check in order, then the route (same behaviour as :attr:`chain`)."""
        call: Call | None = None
        resp: StarletteResponse | None = None
        try:
            call = RequestContext.open(scope, receive)
            for check in self._checks:
                resp = check(call)
                if resp is not None:
                    break
            else:
                resp = await self._dispatch.run(call)
            add_headers(resp, call.out)
        except Exception as e:  # noqa: BLE001 - the request's last line: any failure below is an envelope (8.2)
            call = call or scope[CALL]
            resp = RequestContext.failed(call, e)
        finally:
            if call is not None:
                disarm(call)
            scope.pop(CALL, None)  # the call refers to the scope: no cycle left for the garbage collector
        await resp(scope, receive, send)

    def listening_on(self, addresses: list[str], port: int) -> None:
        """Told by the runner once its sockets are bound (the pages' own origins are these addresses)."""
        self.origins.listening_on(addresses, port, pages=self.config.demo)

    async def shutdown(self) -> None:
        """Refuse new operations; cancel on their devices those still running after ``shutdown_grace``."""
        await self.inflight.drain(self.config.shutdown_grace)

    def close(self) -> None:
        self.limits.close()

    # ---- for route modules ------------------------------------------------------------------------
    async def parse_body(self, call: Call, model: type[Model]) -> Model:
        """The request body validated as *model* (strict JSON, bounded, big bodies off the loop)."""
        return await body.parse(call, model, self.limits)

    def services(self) -> Services:
        return discovery.services(self)

    @property
    def _routes(self) -> Routes:
        return self.routes

    async def _parse(self, call: Call, model: type[Model]) -> Model:
        return await self.parse_body(call, model)

    def ok(self, call: Call, data: Model | dict[str, Any] | list[Any]) -> Response:
        return call.ok(data)

    def error(self, e: GtsdkError, rid: str, lang: str, headers: dict[str, str] | None = None) -> Response:
        return error_response(e, rid, lang, headers)

    def origin_allowed(self, origin: str, token: TokenInfo | None) -> bool:
        return self.origins.allowed(origin, token)

    def _rate_limit(self, token: TokenInfo) -> None:
        self.rates.take(token)
