"""Browser origins (CORS) and Private Network Access (clause 8.3, 9.2.2 b).

A request carrying ``Origin`` is served only if that origin is allowed: listed in ``[service] origins``, in the
``origins`` of the token's app, or one of the service's own origins — the pages it serves itself (``/demo/``,
``/ops/``) call it from ``https://127.0.0.1:<port>``.  The own origins are derived from the configuration (the
listen addresses, ``localhost`` and the bound port), never learned from a request: a ``Host`` header cannot add
an origin, and the set is small and fixed.  Preflights (``OPTIONS``) of allowed origins are answered here;
``Access-Control-Request-Private-Network: true`` is granted so a public page may call the loopback service.
"""

from __future__ import annotations

import ipaddress

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.call import Call, Response
from gtsdk.server.config import ServiceConfig
from gtsdk.server.piece import ASGIApp, Piece
from gtsdk.server.router import Routes
from gtsdk.server.tokens import TokenInfo

ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id, X-Transaction-Id, Accept-Language"
EXPOSE_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE = "600"
#: paths any page may load (static code, no data)
PUBLIC_ASSETS = frozenset({"/sdk/gtsdk.js"})


def own_origins(addresses: list[str], port: int) -> frozenset[str]:
    """``https://<address>:<port>`` for each listening address, plus ``https://localhost:<port>`` on loopback."""
    out = set()
    for addr in addresses:
        ip = ipaddress.ip_address(addr)
        host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
        out.add(f"https://{host}:{port}")
        if ip.is_loopback:
            out.add(f"https://localhost:{port}")
    return frozenset(out)


class Origins:
    """Which origins may call the service (from configuration only)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.any = "*" in config.origins
        self._everyone = frozenset(config.origins)
        self._all_apps = frozenset(self._everyone.union(*(a.origins for a in config.apps.values())))
        self._per_app = {name: frozenset(a.origins) for name, a in config.apps.items()}
        self.own: frozenset[str] = frozenset()

    def listening_on(self, addresses: list[str], port: int, *, pages: bool) -> None:
        """Called once the sockets are bound; the own origins count only when the service serves pages."""
        self.own = own_origins(addresses, port) if pages else frozenset()

    def allowed(self, origin: str, token: TokenInfo | None) -> bool:
        """*token* None: is the origin allowed for some caller (preflights and the check before auth)."""
        if self.any:
            return True
        if origin.lower() in self.own:
            return True
        if token is None:
            return origin in self._all_apps
        return origin in self._everyone or origin in self._per_app.get(token.app, frozenset())


class Cors(Piece):
    """Piece: refuse foreign origins, answer preflights, add the CORS headers to the answer."""

    def __init__(self, app: ASGIApp, origins: Origins, routes: Routes) -> None:
        self.app, self.origins, self.routes = app, origins, routes

    def check(self, call: Call) -> Response | None:
        origin = call.headers.get("origin")
        checked = origin is not None and call.path not in PUBLIC_ASSETS
        if checked:
            assert origin is not None
            if not self.origins.allowed(origin, None):
                raise GtsdkError(ErrorCode.FORBIDDEN, "origin not allowed", field="Origin")
            call.out.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                             "Access-Control-Expose-Headers": EXPOSE_HEADERS})
        if call.method == "OPTIONS":
            return self._preflight(call, checked)
        return None

    def _preflight(self, call: Call, allowed_origin: bool) -> Response:
        if not allowed_origin:
            raise GtsdkError(ErrorCode.FORBIDDEN, "preflight without an allowed Origin", field="Origin")
        methods = self.routes.methods(call.path)
        if methods is None:
            raise GtsdkError(ErrorCode.INVALID_COMMAND, "no such route")
        h = {"Access-Control-Allow-Methods": ", ".join(methods), "Access-Control-Allow-Headers": ALLOW_HEADERS,
             "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}
        # Private Network Access: a public page may reach the local service only if it says so
        if call.headers.get("access-control-request-private-network", "").lower() == "true":
            h["Access-Control-Allow-Private-Network"] = "true"
        return Response(b"", 204, headers=h)
