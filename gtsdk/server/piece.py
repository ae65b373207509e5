"""What every ASGI piece of the service is: a synchronous check of the request's :class:`Call` that may answer
early (a preflight) or raise a catalogue error.

A piece runs alone as ASGI middleware in front of any app (its tests do that), and :class:`ServiceApp` runs the
pieces fused — one loop over their checks, no coroutine per piece — so the hot path pays for what the pieces do
and not for their layering.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from gtsdk.server.call import Call, Response, call_of

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Piece:
    app: ASGIApp

    def check(self, call: Call) -> Response | None:
        """Look at (and amend) the call; a response ends the request here, an error becomes its envelope."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = call_of(scope)
        early = self.check(call)
        if early is not None:
            early.extra.update(call.out)
            await early(scope, call.receive, send)
            return
        await self.app(scope, call.receive, send)
