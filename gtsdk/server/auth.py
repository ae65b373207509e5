"""Who may call: bearer tokens with scopes (clause 9.2.2 b), and refused callers throttled and logged.

``Authorization: Bearer gts_<id>_<secret>`` on every route but the public ones.  A refusal (401 missing or
wrong token, 403 wrong scope or origin for the token's app) is logged with the client address, the route and
the token *id* (never the secret), and counts against a token bucket per client address
(``[service] auth_failure_rate`` / ``auth_failure_burst``).  While an address's bucket is empty its further
attempts are answered ``rateLimited`` (429, ``Retry-After``) without looking at the token, so guessing is
bounded to the bucket's rate and visible in the log.  A token that already verified keeps working even then
(it is not a guess), so a kiosk app on the same address is not locked out by a noisy neighbour's failures.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.call import Call, Response
from gtsdk.server.cors import Origins
from gtsdk.server.piece import ASGIApp, Piece
from gtsdk.server.tokens import PREFIX, TokenInfo, TokenStore, retry_after

log = logging.getLogger("gtsdk.server.auth")

_TOKEN_ID = re.compile(r"^[0-9a-f]{1,32}$")
#: client addresses remembered at once (oldest forgotten first)
MAX_ADDRESSES = 4096
#: seconds between two "N further refusals throttled" lines of one address
SUMMARY_EVERY = 10.0


def token_id(value: str | None) -> str:
    """The public id part of ``gts_<id>_<secret>`` for logs, or ``-``; never any part of the secret."""
    if not value or not value.startswith(PREFIX):
        return "-"
    tid = value[len(PREFIX):].partition("_")[0]
    return tid if _TOKEN_ID.match(tid) else "-"


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    suppressed: int = 0
    summarised: float = 0.0


class FailureThrottle:
    """A token bucket of refusals per client address; logs each counted refusal, summarises the throttled."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, addr: str) -> _Bucket:
        now = self.clock()
        b = self._buckets.get(addr)
        if b is None:
            b = self._buckets[addr] = _Bucket(float(self.burst), now)
            if len(self._buckets) > MAX_ADDRESSES:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(addr)
            b.tokens = min(float(self.burst), b.tokens + (now - b.stamp) * self.rate)
            b.stamp = now
        return b

    def wait(self, addr: str) -> float:
        """0 when *addr* may make an attempt, else seconds until it may (the attempt is not checked)."""
        b = self._bucket(addr)
        if b.tokens >= 1.0:
            return 0.0
        b.suppressed += 1
        now = self.clock()
        if now - b.summarised >= SUMMARY_EVERY:
            log.warning("refusals from %s throttled: %d attempts answered 429 unchecked", addr, b.suppressed)
            b.summarised, b.suppressed = now, 0
        return (1.0 - b.tokens) / self.rate

    def refused(self, addr: str, what: str, reason: str, tid: str) -> None:
        b = self._bucket(addr)
        b.tokens = max(0.0, b.tokens - 1.0)
        log.warning("refused %s from %s: %s (token id %s)", what, addr, reason, tid)


class Authenticator:
    """Bearer-token checks shared by the HTTP piece and the events WebSocket."""

    def __init__(self, tokens: TokenStore, origins: Origins, throttle: FailureThrottle) -> None:
        self.tokens, self.origins, self.throttle = tokens, origins, throttle

    def refuse(self, addr: str, what: str, e: GtsdkError, tid: str) -> GtsdkError:
        self.throttle.refused(addr, what, e.detail, tid)
        return e

    def check(self, value: str | None, addr: str, what: str,
              missing: str = "missing Authorization: Bearer <token>") -> TokenInfo:
        """The token for a secret, or a catalogue error (counted and logged when refused)."""
        if value:
            token = self.tokens.cached(value)
            if token is not None:  # verified before: not a guess
                return token
        wait = self.throttle.wait(addr)
        if wait > 0:
            raise GtsdkError(ErrorCode.RATE_LIMITED, "too many refused attempts from this address",
                             data={"retryAfter": retry_after(wait)})
        if not value:
            raise self.refuse(addr, what, GtsdkError(ErrorCode.UNAUTHORIZED, missing, field="Authorization"), "-")
        token = self.tokens.verify(value)
        if token is None:
            raise self.refuse(addr, what, GtsdkError(ErrorCode.UNAUTHORIZED, "invalid, revoked or expired token",
                                                      field="Authorization"), token_id(value))
        return token

    def forbid(self, addr: str, what: str, token: TokenInfo, detail: str, field: str | None = None) -> GtsdkError:
        return self.refuse(addr, what, GtsdkError(ErrorCode.FORBIDDEN, detail, field=field), token.id)


def bearer(header: str | None) -> str | None:
    """The credential of ``Authorization: Bearer <token>``; None when absent or another scheme."""
    if not header:
        return None
    kind, _, value = header.partition(" ")
    return value.strip() or None if kind.lower() == "bearer" else None


class Auth(Piece):
    """Piece: the token of the request (``call.token``), its app's origins, the route's scope."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app, self.auth = app, auth

    def check(self, call: Call) -> Response | None:
        route = call.route
        if route is None or route[0] is not None:  # public routes need no token
            self._authorise(call)
        return None

    def _authorise(self, call: Call) -> None:
        what = f"{call.method} {call.path}"
        header = call.headers.get("authorization")
        value = bearer(header)
        missing = "use Authorization: Bearer <token>" if header else "missing Authorization: Bearer <token>"
        token = call.token = self.auth.check(value, call.client, what, missing)
        origin = call.headers.get("origin")
        if origin is not None and not self.auth.origins.allowed(origin, token):
            raise self.auth.forbid(call.client, what, token, "origin not allowed for this app", "Origin")
        route = call.route
        if route is not None and route[0] != "any" and route[0] not in token.scopes:
            raise self.auth.forbid(call.client, what, token, f"needs a token with scope {route[0]!r}")
