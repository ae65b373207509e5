"""Request bodies: size and time limits (an ASGI piece), strict JSON, strings bounded by kind, parsed off-loop.

* Size: ``Content-Length`` over ``[service] max_body_bytes`` is refused before a byte is read; a body without
  one is counted while it streams (``payloadTooLarge``, 413).
* Time: the whole body must arrive within ``body_timeout`` seconds (``timeOut``, 504), so a client that
  stalls half-way does not hold a request slot.
* Strict JSON (9.2.2 b parameter filtering): a UTF-8 JSON object; duplicate keys, ``NaN``/``Infinity`` and
  other shapes are ``invalidData``; then the route's model validates it strictly (unknown fields rejected).
* Structure: at most ``max_json_values`` values (objects, arrays, strings, numbers …) in one body.
* Strings: text fields are capped at ``max_string_chars``; binary fields (``bytes`` in the contracts, base64 on
  the wire: images, documents, templates) may fill the whole body — a 774 KB JPEG is 1.03 M base64 characters.
* Bodies over ``parse_offload_bytes`` are parsed and validated on a small dedicated thread pool, so an 8 MB
  body does not stall the event loop and every other request with it.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.runtime.device import validation_error
from gtsdk.server.call import JSON, Call, Response, call_of
from gtsdk.server.config import ServiceConfig
from gtsdk.server.piece import ASGIApp, Piece

#: formats of pydantic's JSON Schema for ``bytes`` fields
BINARY_FORMATS = frozenset({"base64url", "base64", "binary"})
#: bodies parsed at once off the loop (each may hold ``max_body_bytes`` and its parsed form)
PARSE_THREADS = 2
_BINARY = "binary"
#: scope key set by gtsdk.server.connections when the connection bounds the body's size and time itself
BODY_BOUNDED = "gtsdk.body_bounded"
LimitTree = dict[str, Any] | str | None


class Limits:
    """The body limits of one service (from its config), and the pool big bodies are parsed on."""

    def __init__(self, config: ServiceConfig) -> None:
        self.max_bytes = config.max_body_bytes
        self.timeout = config.body_timeout
        self.max_text = config.max_string_chars
        self.max_values = config.max_json_values
        self.offload = config.parse_offload_bytes
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="gtsdk-parse")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def too_large(self) -> GtsdkError:
        return GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {self.max_bytes} bytes", field="body")


class BodyLimit(Piece):
    """Piece: refuses a too long ``Content-Length``; bounds the size and time of the body as it is read."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app, self.limits = app, limits

    def check(self, call: Call) -> Response | None:
        if call.method in ("GET", "HEAD", "OPTIONS"):
            return None
        cl = call.headers.get("content-length")
        if cl is not None:
            if not cl.isdigit() or len(cl) > 18:
                raise GtsdkError(ErrorCode.INVALID_DATA, "bad Content-Length", field="Content-Length")
            if int(cl) > self.limits.max_bytes:
                raise self.limits.too_large()
        if BODY_BOUNDED not in call.scope:  # the connection layer bounds size and time itself when it can
            call.receive = BoundedReceive(call.receive, self.limits)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            disarm(call_of(scope))


def disarm(call: Call) -> None:
    """The request is over: its body timer goes."""
    if isinstance(call.receive, BoundedReceive):
        call.receive.disarm()


class BoundedReceive:
    """``receive`` of one request with the body's size and time bounded.

    The time bound is one timer per request (not one per message): when it fires while the request's task waits
    for body bytes, the wait is cancelled and reported as ``timeOut``.  Once the body is complete, later calls
    (the disconnect watch) pass straight through.
    """

    __slots__ = ("_deadline", "_limits", "_receive", "_timer", "_waiting", "done", "expired", "size")

    def __init__(self, receive: Receive, limits: Limits) -> None:
        self._receive, self._limits = receive, limits
        self._deadline = asyncio.get_running_loop().time() + limits.timeout
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: asyncio.Task[Any] | None = None
        self.size = 0
        self.done = self.expired = False

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._waiting is not None and not self.done:
            self.expired = True
            self._waiting.cancel()

    async def __call__(self) -> Message:
        if self.done:
            return await self._receive()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(self._deadline, self._expire)
        self._waiting = asyncio.current_task()
        try:
            msg = await self._receive()
        except asyncio.CancelledError:
            if not self.expired:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            # a client that stalls half-way through its body must not hold a request slot for ever
            raise GtsdkError(ErrorCode.TIME_OUT, f"request body not complete after {self._limits.timeout:g} s",
                             field="body") from None
        finally:
            self._waiting = None
        if msg["type"] == "http.request":
            self.size += len(msg.get("body", b""))
            if self.size > self._limits.max_bytes:
                raise self._limits.too_large()
            if msg.get("more_body", False):
                return msg
        self.done = True
        self.disarm()
        return msg


async def read_body(call: Call) -> bytes:
    """The whole body (bounded by :class:`BodyLimit` when the piece is in the chain)."""
    chunks: list[bytes] = []
    while True:
        msg = await call.receive()
        if msg["type"] != "http.request":
            break
        chunk = msg.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# ---- strict JSON ---------------------------------------------------------------------------------------------
def _dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise GtsdkError(ErrorCode.INVALID_DATA, "duplicate key in JSON object", field=k)
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise GtsdkError(ErrorCode.INVALID_DATA, f"{name} is not JSON", field="body")


def check_content_type(headers: Mapping[str, str]) -> None:
    value = headers.get("content-type", "")
    if value == JSON:  # as nearly every client sends it
        return
    mime, _, params = value.partition(";")
    if mime.strip().lower() != JSON:
        raise GtsdkError(ErrorCode.INVALID_DATA, "Content-Type must be application/json", field="Content-Type")
    if "charset" in params.lower() and "utf-8" not in params.lower().replace('"', ""):
        raise GtsdkError(ErrorCode.INVALID_DATA, "only UTF-8 is accepted (clause 8.2)", field="Content-Type")


_DECODER = json.JSONDecoder(object_pairs_hook=_dupes, parse_constant=_no_constants)


def strict_object(raw: bytes) -> dict[str, Any]:
    """*raw* as a JSON object; anything else is ``invalidData`` naming the field."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "body is not valid UTF-8", field="body") from None
    try:
        obj = _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"not JSON: {e.msg} at {e.pos}", field="body") from None
    except RecursionError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "JSON nested too deeply", field="body") from None
    if not isinstance(obj, dict):
        raise GtsdkError(ErrorCode.INVALID_DATA, "body must be a JSON object", field="body")
    return obj


# ---- string limits by field kind ------------------------------------------------------------------------------
def _tree(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> LimitTree:
    """Where a model's binary (base64) strings are: ``"binary"``, or a dict by property (``[]`` for items)."""
    if depth > 32:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _tree(defs.get(ref.rsplit("/", 1)[-1], {}), defs, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            merged: LimitTree = None
            for sub in schema[key]:
                merged = _merge(merged, _tree(sub, defs, depth + 1))
            return merged
    if schema.get("type") == "string" and schema.get("format") in BINARY_FORMATS:
        return _BINARY
    out: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        t = _tree(sub, defs, depth + 1)
        if t is not None:
            out[name] = t
    if isinstance(schema.get("items"), dict):
        t = _tree(schema["items"], defs, depth + 1)
        if t is not None:
            out["[]"] = t
    if isinstance(schema.get("additionalProperties"), dict):
        t = _tree(schema["additionalProperties"], defs, depth + 1)
        if t is not None:
            out["{}"] = t
    return out or None


def _merge(a: LimitTree, b: LimitTree) -> LimitTree:
    if a is None:
        return b
    if b is None or a == _BINARY:
        return a
    if b == _BINARY:
        return b
    assert isinstance(a, dict) and isinstance(b, dict)
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out.get(k), v)
    return out


@functools.cache
def binary_fields(model: type[Model]) -> LimitTree:
    schema = model.model_json_schema(by_alias=True)
    return _tree(schema, schema.get("$defs", {}))


class _Budget:
    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n


def check_strings(value: Any, tree: LimitTree, max_text: int, max_binary: int, path: str = "",
                  budget: _Budget | None = None) -> None:
    """Text strings up to *max_text* characters, binary (base64) ones up to *max_binary*; with a *budget*, at
    most that many JSON values in all."""
    if budget is not None:
        budget.left -= 1
        if budget.left < 0:
            raise GtsdkError(ErrorCode.INVALID_DATA, "too many JSON values in the body", field="body")
    if isinstance(value, str):
        limit = max_binary if tree == _BINARY else max_text
        if len(value) > limit:
            kind = "binary field" if tree == _BINARY else "string"
            raise GtsdkError(ErrorCode.INVALID_DATA, f"{kind} longer than {limit} characters", field=path or "body")
    elif isinstance(value, dict):
        for k, v in value.items():
            sub = tree.get(k, tree.get("{}")) if isinstance(tree, dict) else None
            check_strings(v, sub, max_text, max_binary, f"{path}.{k}" if path else k, budget)
    elif isinstance(value, list):
        sub = tree.get("[]") if isinstance(tree, dict) else None
        for i, v in enumerate(value):
            check_strings(v, sub, max_text, max_binary, f"{path}.{i}" if path else str(i), budget)


def parse_model(raw: bytes, model: type[Model], max_text: int, max_binary: int,
                max_values: int = 100_000) -> Model:
    """Strict JSON, bounded strings and value count, then the model's strict validation (runs on any thread).

    The bounds come first because the model's validation holds the interpreter lock for its whole run: a body of
    a million small objects is refused by the (interruptible) walk instead.  A body no longer than the text cap
    and the value count cannot exceed either (a string has at most as many characters as the body has bytes, a
    value takes at least one byte): it is not walked."""
    obj = strict_object(raw)
    if len(raw) > max_text or len(raw) > max_values:
        check_strings(obj, binary_fields(model), max_text, max_binary, budget=_Budget(max_values))
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as e:
        raise validation_error(e) from None


async def parse(call: Call, model: type[Model], limits: Limits) -> Model:
    """Read the body of *call* and validate it as *model*; empty body = ``{}``."""
    raw = await read_body(call)
    if not raw.strip():
        raw = b"{}"
    else:
        check_content_type(call.headers)
    if len(raw) > limits.offload:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(limits.pool, parse_model, raw, model, limits.max_text, limits.max_bytes,
                                          limits.max_values)
    return parse_model(raw, model, limits.max_text, limits.max_bytes, limits.max_values)
