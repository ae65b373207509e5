"""One request as the service's pieces see it, and the response envelope (clause 8.2).

Every answer of the service is ``{"code", "message", "requestId", "data"}`` with a code from the catalogue
(gtsdk/errors.py) and its message in Chinese or English.  The envelope is assembled from bytes (message texts
are cached per code and language) so the hot path does no JSON work beyond the ``data`` model itself.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError, info
from gtsdk.server.tokens import TokenInfo
from gtsdk.wire import ErrorData

JSON = "application/json"
#: HTTP status adjustments of the service (the catalogue keeps the device meaning)
HTTP_OVERRIDES = {ErrorCode.UNSUPPORTED_COMMAND.value: 400}
#: the scope key the request's :class:`Call` travels under through the pieces
CALL = "gtsdk.call"


def http_status(code: str) -> int:
    return HTTP_OVERRIDES.get(code, info(code).http_status)


def pick_lang(header: str | None) -> str:
    """``en`` when Accept-Language prefers English over Chinese, else ``zh`` (the default)."""
    if not header:
        return "zh"
    best, best_q = "zh", -1.0
    for i, part in enumerate(header.split(",")[:32]):
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


class RequestIds:
    """Unique request ids without a syscall per request: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"


new_request_id = RequestIds()


class Response(StarletteResponse):
    """A complete response sent in two ASGI messages; headers in a plain dict (the hot path stays light)."""

    def __init__(self, content: bytes | str, status_code: int = 200, *, media_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.body = content.encode("utf-8") if isinstance(content, str) else content
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.raw_headers = []
        self.extra: dict[str, str] = dict(headers) if headers else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = []
        cached = _ENCODED.get
        for k, v in self.extra.items():  # a loop, not a call per header: this runs for every answer
            if k == "X-Request-Id":  # on every answer, a new value each time
                raw.append((b"x-request-id", v.encode("latin-1")))
            else:
                raw.append(cached((k, v)) or _encoded(k, v))
        raw += self.raw_headers
        if self.media_type:
            raw.append((b"content-type", self.media_type.encode("latin-1")))
        raw.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": bytes(self.body)})


def add_headers(resp: StarletteResponse, headers: dict[str, str]) -> None:
    if isinstance(resp, Response):
        resp.extra.update(headers)
    else:
        for k, v in headers.items():
            resp.headers[k] = v


_MESSAGES: dict[tuple[str, str], bytes] = {}


def message_json(code: str, lang: str) -> bytes:
    key = (code, lang)
    m = _MESSAGES.get(key)
    if m is None:
        i = info(code)
        m = _MESSAGES[key] = json.dumps(i.en if lang == "en" else i.zh, ensure_ascii=False).encode()
    return m


def envelope(code: str, rid: str, lang: str, data: bytes, message: bytes | None = None) -> bytes:
    return b"".join((b'{"code":"', code.encode(), b'","message":', message or message_json(code, lang),
                     b',"requestId":"', rid.encode(), b'","data":', data, b"}"))


def data_json(data: Model | dict[str, Any] | list[Any]) -> bytes:
    if isinstance(data, Model):
        return data.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(e: GtsdkError, rid: str, lang: str, headers: dict[str, str] | None = None,
                   status: int | None = None) -> Response:
    hdrs = dict(headers) if headers else {}
    retry = e.data.get("retryAfter") if e.code == ErrorCode.RATE_LIMITED and e.data else None
    if retry is not None:
        hdrs["Retry-After"] = str(retry)
    data = ErrorData(retryable=e.retryable, detail=e.detail or None, field=e.field,
                     retry_after=int(retry) if retry is not None else None)
    msg = json.dumps(e.message(lang), ensure_ascii=False).encode()
    body = envelope(e.code, rid, lang, data.model_dump_json(by_alias=True, exclude_none=True).encode(), msg)
    return Response(body, status or http_status(e.code), media_type=JSON, headers=hdrs)


class Headers(Mapping[str, str]):
    """The request headers as a read-only mapping over the raw ASGI list (names are lower case): a look-up scans
    the few pairs instead of decoding them all into a dict for every request."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, key: str, default: Any = None) -> Any:
        name = _NAMES.get(key)
        if name is None:
            name = key.lower().encode("latin-1")
            if len(_NAMES) < _ENCODE_CACHE_MAX:
                _NAMES[key] = name
        for k, v in self._raw:
            if k == name:
                return v.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return str(v)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k.decode("latin-1") for k, _ in self._raw))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for k, _ in self._raw))


#: header names looked up in requests, encoded once (the code asks for a few dozen names)
_NAMES: dict[str, bytes] = {}
#: header names and values of every response, encoded once
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODE_CACHE_MAX = 512


def _encoded(k: str, v: str) -> tuple[bytes, bytes]:
    pair = _ENCODED.get((k, v))
    if pair is None:
        pair = (k.lower().encode("latin-1"), v.encode("latin-1"))
        if k != "X-Request-Id" and len(_ENCODED) < _ENCODE_CACHE_MAX:
            _ENCODED[(k, v)] = pair
    return pair


class Call:
    """What the pieces and a route handler share about one request: headers, id, language, route, caller."""

    __slots__ = ("_request", "client", "headers", "lang", "method", "out", "path", "receive", "rid", "route",
                 "scope", "token")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope, self.receive = scope, receive
        self.headers = Headers(scope["headers"])
        self.method: str = scope.get("method", "GET")
        self.path: str = scope["path"]
        client = scope.get("client")
        self.client: str = client[0] if client else "-"
        self.rid: str = ""
        self.lang = "zh"
        self.route: Any = None
        self.token: TokenInfo | None = None
        #: headers every response of this request carries (request id, CORS)
        self.out: dict[str, str] = {}
        self._request: Request | None = None

    @property
    def request(self) -> Request:
        """The Starlette request, made on first use (most routes never need it)."""
        if self._request is None:
            self._request = Request(self.scope, self.receive)
        return self._request

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params)

    def ok(self, data: Model | dict[str, Any] | list[Any]) -> Response:
        return self.ok_json(data_json(data))

    def ok_json(self, data: bytes) -> Response:
        """The success envelope around *data*, already JSON (as :func:`data_json` makes it)."""
        return Response(envelope("success", self.rid, self.lang, data), 200, media_type=JSON)


def call_of(scope: Scope) -> Call:
    c: Call = scope[CALL]
    return c


Handler = Callable[[Call], Awaitable[StarletteResponse]]
