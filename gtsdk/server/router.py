"""The route table: exact ``(method, path)`` keys, a dictionary lookup per request.

A route says who may call it (``None`` = anyone, ``"any"`` = a token of either scope, ``"app"``,
``"maintenance"``) and which coroutine answers.  Route modules (gtsdk/server/routes/) fill the table; the
pieces read it: CORS for the allowed methods of a path, auth for the scope, the dispatcher for the handler.
Unknown paths are told apart from unknown modules and operations (``invalidCommand``) so a client learns
which part of its URL is wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.server.call import Call, Response, add_headers, call_of
from gtsdk.server.piece import ASGIApp, Piece

Scoped = tuple[str | None, Callable[[Call], Awaitable[Any]]]
SCOPES = (None, "any", "app", "maintenance")


class Routes(MutableMapping[tuple[str, str], Scoped]):
    """``(method, path) → (scope, handler)``; also answers which methods a path has."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, str], Scoped] = {}
        self._methods: dict[str, list[str]] | None = None

    def add(self, method: str, path: str, handler: Callable[[Call], Awaitable[Any]], scope: str | None) -> None:
        self[(method, path)] = (scope, handler)

    def __getitem__(self, key: tuple[str, str]) -> Scoped:
        return self._table[key]

    def get_route(self, method: str, path: str) -> Scoped | None:
        return self._table.get((method, path))

    def __setitem__(self, key: tuple[str, str], value: Scoped) -> None:
        if value[0] not in SCOPES:
            raise ValueError(f"unknown route scope {value[0]!r}")
        self._table[key] = value
        self._methods = None

    def __delitem__(self, key: tuple[str, str]) -> None:
        del self._table[key]
        self._methods = None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def methods(self, path: str) -> list[str] | None:
        if self._methods is None:
            by_path: dict[str, list[str]] = {}
            for method, p in self._table:
                by_path.setdefault(p, []).append(method)
            self._methods = {p: sorted(m) for p, m in by_path.items()}
        return self._methods.get(path)

    def unknown(self, method: str, path: str) -> GtsdkError:
        """The error for a request that matched no route."""
        allowed = self.methods(path)
        if allowed:
            return GtsdkError(ErrorCode.INVALID_COMMAND, f"use {' or '.join(allowed)}")
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "v1":
            if parts[1] not in MODULES:
                return GtsdkError(ErrorCode.INVALID_COMMAND, "unknown module")
            return GtsdkError(ErrorCode.INVALID_COMMAND, f"{parts[1]} has no such operation")
        return GtsdkError(ErrorCode.NOT_FOUND, "no such route")


class Resolve(Piece):
    """Piece: finds the route of the request (``call.route``; None when there is none)."""

    def __init__(self, app: ASGIApp, routes: Routes) -> None:
        self.app, self.routes = app, routes

    def check(self, call: Call) -> Response | None:
        call.route = self.routes.get_route(call.method, call.path)
        return None


class Dispatch:
    """The end of the chain: runs the route's handler (as an ASGI app, or :meth:`run` for the fused chain)."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    async def run(self, call: Call) -> StarletteResponse:
        if call.route is None:
            raise self.routes.unknown(call.method, call.path)
        resp: StarletteResponse = await call.route[1](call)
        return resp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = call_of(scope)
        resp = await self.run(call)
        add_headers(resp, call.out)
        await resp(scope, receive, send)
