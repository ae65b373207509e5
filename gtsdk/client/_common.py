"""What the synchronous and asynchronous clients share: the error type, TLS, the envelope,
request bodies (seconds in Python, milliseconds on the wire) and result parsing."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path
from typing import Any

import httpx

from gtsdk.errors import ErrorCode, GtsdkError, info
from gtsdk.facade import RequestLike, check_timeout
from gtsdk.home import home_path
from gtsdk.modules import MODULES, Model
from gtsdk.runtime.events import Event
from gtsdk.wire import SealedData

DEFAULT_URL = "https://127.0.0.1:8801"
#: seconds the HTTP exchange may take beyond the operation's own timeout (queueing, TLS, transfer)
HTTP_SLACK = 15.0


class ServiceError(GtsdkError):
    """An error envelope from the service (any code, including vendor codes this process does not know)."""

    def __init__(self, code: str, message: str, *, request_id: str = "", http_status: int = 0,
                 data: dict[str, Any] | None = None) -> None:
        d = data or {}
        self.code = code
        self.detail = str(d.get("detail") or "")
        self.field = d.get("field")
        self.retryable = bool(d.get("retryable", info(code).retryable))
        self.data = d
        self.server_message = message
        self.request_id = request_id
        self.status = http_status
        Exception.__init__(self, f"{code}: {message}" + (f" [{self.detail}]" if self.detail else ""))

    def message(self, lang: str = "zh") -> str:
        return self.server_message

    @property
    def http_status(self) -> int:
        return self.status


def default_ca() -> str | None:
    """The service's CA in the gtsdk home, when there is one."""
    ca = home_path() / "ca.pem"
    return str(ca) if ca.exists() else None


def ssl_context(ca: str | Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else default_ca())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def unwrap(resp: httpx.Response) -> Any:
    """The ``data`` of a success envelope; a :class:`ServiceError` for anything else."""
    try:
        env = resp.json()
        code, message, rid, data = env["code"], env["message"], env["requestId"], env["data"]
    except (ValueError, KeyError, TypeError):
        raise ServiceError(ErrorCode.INTERNAL_ERROR.value, f"not an envelope (HTTP {resp.status_code})",
                           http_status=resp.status_code) from None
    if code != "success":
        raise ServiceError(code, message, request_id=rid, http_status=resp.status_code,
                           data=data if isinstance(data, dict) else None)
    return data


def check_operation(module: str, op: str) -> None:
    if module not in MODULES:
        raise GtsdkError(ErrorCode.INVALID_COMMAND, f"unknown module {module!r}")
    MODULES[module].operation(op)


def result(module: str, op: str, data: Any) -> Model:
    """The contract's result model, or :class:`SealedData` when the service sealed a personal-data result."""
    ospec = MODULES[module].operation(op)
    if ospec.personal_data and isinstance(data, dict) and data.get("kind") == "sealed":
        return SealedData.model_validate(data)
    out: Model = ospec.result.model_validate(data)
    return out


def body(request: RequestLike, timeout: float | None, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of an operation: the request in wire names, *timeout* (seconds) as the wire's ms."""
    check_timeout(timeout)
    if isinstance(request, Model):
        out = request.model_dump(mode="json", by_alias=True)
    else:
        out = {k: _wire(v) for k, v in (request or {}).items()}
    for k, v in fields.items():
        out[_camel(k)] = _wire(v)
    if timeout is not None:
        out["timeout"] = max(1, round(timeout * 1000))
    return out


def http_timeout(timeout: float | None, default: float) -> float:
    """How long the HTTP exchange of an operation may take: its own timeout plus slack."""
    return default if timeout is None else max(default, timeout + HTTP_SLACK)


def _wire(v: Any) -> Any:
    """bytes travel as base64 (as the models say); nested lists and dicts too."""
    if isinstance(v, bytes | bytearray):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, list | tuple):
        return [_wire(x) for x in v]
    if isinstance(v, dict):
        return {k: _wire(x) for k, x in v.items()}
    if isinstance(v, Model):
        return v.model_dump(mode="json", by_alias=True, exclude_none=True)
    return v


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def ws_url(url: str) -> str:
    return "wss://" + url.split("://", 1)[1] + "/v1/events"


def auth_message(token: str | None, modules: list[str] | None, since: int | None) -> str:
    msg: dict[str, Any] = {"type": "auth", "token": token, "modules": modules}
    if since is not None:
        msg["since"] = since
    return json.dumps(msg)


def event_from(msg: dict[str, Any]) -> Event:
    return Event(seq=msg["seq"], time=msg["time"], module=msg["module"], type=msg["event"], data=msg.get("data") or {})


def event_error(msg: dict[str, Any]) -> ServiceError | None:
    """The error an ``error`` message means for the stream: fatal ones end it, others are skipped."""
    err = ServiceError(msg["code"], msg.get("message", ""), data={"detail": msg.get("detail")})
    fatal = msg["code"] in (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.INVALID_DATA)
    return err if fatal else None
