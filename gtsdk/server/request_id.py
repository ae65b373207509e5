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
from gtsdk.server.call import CALL, Call, error_response, new_request_id, pick_lang
from gtsdk.wire import REQUEST_ID

log = logging.getLogger("gtsdk.server")

_RID = re.compile(REQUEST_ID)
#: on every response: the id, never cached (answers hold device state and personal data), no sniffing
BASE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class RequestContext:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = scope[CALL] = Call(scope, receive)
        rid = call.headers.get("x-request-id")
        call.lang = pick_lang(call.headers.get("accept-language"))
        call.out = {"X-Request-Id": "", **BASE_HEADERS}
        try:
            if rid is None:
                rid = new_request_id()
            elif not _RID.match(rid):
                call.rid = new_request_id()
                call.out["X-Request-Id"] = call.rid
                raise GtsdkError(ErrorCode.INVALID_DATA, "X-Request-Id must match " + REQUEST_ID,
                                 field="X-Request-Id")
            call.rid = call.out["X-Request-Id"] = rid
            await self.app(scope, receive, send)
        except GtsdkError as e:
            await error_response(e, call.rid, call.lang, call.out)(scope, receive, send)
        except Exception as e:  # every failure gets an envelope, never a traceback
            log.exception("unexpected error on %s %s", call.method, call.path)
            err = GtsdkError(ErrorCode.INTERNAL_ERROR, type(e).__name__)
            await error_response(err, call.rid, call.lang, call.out)(scope, receive, send)
