"""Per-token rate limits: a token bucket per token (``rate_limit``/``rate_burst``, per app override).

Over the limit: ``rateLimited``, HTTP 429 with ``Retry-After`` (also in ``data.retryAfter``).  Public routes
(no token) are not counted here; refused callers are bounded by gtsdk.server.auth instead.
"""

from __future__ import annotations

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.call import Call, Response
from gtsdk.server.config import ServiceConfig
from gtsdk.server.piece import ASGIApp, Piece
from gtsdk.server.tokens import RateLimiter, TokenInfo, retry_after


class TokenRates:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.limiter = RateLimiter()
        self._per_app: dict[str, tuple[float, int]] = {}

    def _limits(self, app: str) -> tuple[float, int]:
        lim = self._per_app.get(app)
        if lim is None:
            a = self.config.app(app)
            lim = self._per_app[app] = (a.rate_limit or self.config.rate_limit, a.rate_burst or self.config.rate_burst)
        return lim

    def take(self, token: TokenInfo) -> None:
        """Count one request of *token*; raises ``rateLimited`` when its bucket is empty."""
        rate, burst = self._limits(token.app)
        wait = self.limiter.take(token.id, rate, burst)
        if wait > 0:
            raise GtsdkError(ErrorCode.RATE_LIMITED, f"limit {rate:g}/s", data={"retryAfter": retry_after(wait)})


class RateLimit(Piece):
    """Piece: counts every request that carries a verified token."""

    def __init__(self, app: ASGIApp, rates: TokenRates) -> None:
        self.app, self.rates = app, rates

    def check(self, call: Call) -> Response | None:
        if call.token is not None:
            self.rates.take(call.token)
        return None
