"""The outermost piece: a :class:`Call` per request, its request id and language, and errors as envelopes.

``X-Request-Id`` (``[A-Za-z0-9._:-]{1,64}``) is echoed in the envelope and the response header; it is the id a
client cancels by.  A missing one is generated.  Every failure below this piece — a catalogue error or an
unexpected exception — becomes an envelope here, never a traceback (clause 8.2).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import place
from gtsdk.server.call import CALL, Call, Response, error_response, new_request_id, pick_lang
from gtsdk.wire import REQUEST_ID

log = logging.getLogger("gtsdk.server")

RID_PATTERN = re.compile(REQUEST_ID)
#: on every response: the id, never cached (answers hold device state and personal data), no sniffing
BASE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class RequestContext:
    """The outermost piece: opens the :class:`Call` (id, language) and turns any failure into its envelope."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    @staticmethod
    def open(scope: Scope, receive: Receive) -> Call:
        """The call of a request, with its language and id; an invalid ``X-Request-Id`` raises (after the call
        got a generated id to answer with)."""
        call = scope[CALL] = Call(scope, receive)
        headers = call.headers
        call.lang = pick_lang(headers.get("accept-language"))
        rid = headers.get("x-request-id")
        if rid is None:
            rid = new_request_id()
        elif not RID_PATTERN.match(rid):
            call.rid = new_request_id()
            call.out = {"X-Request-Id": call.rid, **BASE_HEADERS}
            raise GtsdkError(ErrorCode.INVALID_DATA, "X-Request-Id must match " + REQUEST_ID, field="X-Request-Id")
        call.rid = rid
        call.out = {"X-Request-Id": rid, **BASE_HEADERS}
        return call

    @staticmethod
    def failed(call: Call, e: Exception) -> Response:
        """The envelope of a failure below (a catalogue error, else internalError without its text)."""
        if not isinstance(e, GtsdkError):  # every failure gets an envelope, never a traceback
            # by type and place only: the exception's text may hold personal data (docs/contributing.md)
            log.error("unexpected %s on %s %s%s; answered internalError", type(e).__name__, call.method, call.path,
                      place(e))
            e = GtsdkError(ErrorCode.INTERNAL_ERROR, type(e).__name__)
        if not call.out:
            call.out = dict(BASE_HEADERS)
        return error_response(e, call.rid or new_request_id(), call.lang, call.out)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call: Call | None = None
        try:
            call = self.open(scope, receive)
            await self.app(scope, call.receive, send)
        except Exception as e:  # noqa: BLE001 - the request's last line: any failure below is an envelope (8.2)
            call = call or scope[CALL]
            await self.failed(call, e)(scope, receive, send)
        finally:
            scope.pop(CALL, None)  # the call refers to the scope: no cycle left for the garbage collector
