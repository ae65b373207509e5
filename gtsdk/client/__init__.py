"""Typed Python client of the local service (httpx; sync and async; events with resume).

```python
from gtsdk.client import Client

with Client(token="gts_…") as c:            # https://127.0.0.1:8801, CA from the gtsdk home
    c.idcard.open()
    card = c.idcard.read(timeout=20_000)    # -> gtsdk.modules.idcard.IdCardData
    for ev in c.events(["idcard"]):         # reconnects and resumes from the last seq
        print(ev.seq, ev.module, ev.type)
```

Results come back as the module contract's result model; failures raise
:class:`ServiceError` carrying the catalogue code, the localised message and
the request id.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from gtsdk import wire as wm
from gtsdk.driver import Capabilities, HealthResult, Model, Statistics, Status
from gtsdk.errors import ErrorCode, GtsdkError, info
from gtsdk.modules import MODULES
from gtsdk.runtime.events import Event

DEFAULT_URL = "https://127.0.0.1:8801"
GapHandler = Callable[[int, int], None]

__all__ = ["AsyncClient", "Client", "Event", "ServiceError"]


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


def _default_ca() -> str | None:
    home = os.environ.get("GTSDK_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "gtsdk"
    ca = base / "ca.pem"
    return str(ca) if ca.exists() else None


def ssl_context(ca: str | Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else _default_ca())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _unwrap(resp: httpx.Response) -> Any:
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


def _result(module: str, op: str, data: Any) -> Model:
    ospec = MODULES[module].operation(op)
    if ospec.personal_data and isinstance(data, dict) and data.get("kind") == "sealed":
        return wm.SealedData.model_validate(data)
    return ospec.result.model_validate(data)


def _body(request: Model | dict[str, Any] | None, timeout: int | None, fields: dict[str, Any]) -> dict[str, Any]:
    if isinstance(request, Model):
        body = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        body = dict(request or {})
    for k, v in fields.items():
        body[_camel(k)] = v.model_dump(mode="json", by_alias=True) if isinstance(v, Model) else v
    if timeout is not None:
        body["timeout"] = timeout
    return {k: _wire(v) for k, v in body.items()}


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


class _Base:
    def __init__(self, url: str, token: str | None, ca: str | Path | None, lang: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ssl = ssl_context(ca)
        self.headers = {"Accept-Language": lang}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _ws_url(self) -> str:
        return "wss://" + self.url.split("://", 1)[1] + "/v1/events"

    def _auth_message(self, modules: list[str] | None, since: int | None) -> str:
        msg: dict[str, Any] = {"type": "auth", "token": self.token, "modules": modules}
        if since is not None:
            msg["since"] = since
        return json.dumps(msg)

    def __getattr__(self, name: str) -> Any:
        if name in MODULES:
            return _ModuleProxy(self, name)
        raise AttributeError(name)


def _event_from(msg: dict[str, Any]) -> Event:
    return Event(seq=msg["seq"], time=msg["time"], module=msg["module"], type=msg["event"], data=msg.get("data") or {})


class _ModuleProxy:
    """``client.<module>.<op>(**fields)``; on an AsyncClient the calls return awaitables."""

    def __init__(self, client: _Base, module: str) -> None:
        self._c, self._m = client, module

    def __getattr__(self, name: str) -> Callable[..., Any]:
        c, m = self._c, self._m
        if name in ("status", "capabilities", "statistics", "health", "cancel"):
            fn = getattr(c, name)
            return lambda *a, **k: fn(m, *a, **k)
        if name not in MODULES[m].operations:
            raise AttributeError(f"{m} has no operation {name!r}")
        return lambda request=None, **k: c.call(m, name, request, **k)


class Client(_Base):
    """Synchronous client (one keep-alive TLS connection pool)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, ca: str | Path | None = None,
                 lang: str = "zh", timeout: float = 120.0, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(url, token, ca, lang)
        self.http = httpx.Client(base_url=self.url, verify=self.ssl, headers=self.headers, timeout=timeout,
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, **params: Any) -> Any:
        return _unwrap(self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    def _post(self, path: str, body: dict[str, Any], request_id: str | None = None) -> Any:
        headers = {"X-Request-Id": request_id} if request_id else None
        return _unwrap(self.http.post(path, json=body, headers=headers))

    def call(self, module: str, op: str, request: Model | dict[str, Any] | None = None, *, timeout: int | None = None,
             request_id: str | None = None, **fields: Any) -> Model:
        """Run ``op`` of ``module``; *timeout* in ms; returns the contract's result model (or SealedData)."""
        return _result(module, op, self._post(f"/v1/{module}/{op}", _body(request, timeout, fields), request_id))

    def status(self, module: str) -> Status:
        return Status.model_validate(self._get(f"/v1/{module}/status"))

    def capabilities(self, module: str) -> Capabilities:
        return Capabilities.model_validate(self._get(f"/v1/{module}/capabilities"))

    def statistics(self, module: str) -> Statistics:
        return Statistics.model_validate(self._get(f"/v1/{module}/statistics"))

    def health(self, module: str, level: str = "internal") -> HealthResult:
        return HealthResult.model_validate(self._post(f"/v1/{module}/health", {"level": level}))

    def cancel(self, module: str, request_id: str) -> bool:
        return bool(self._post(f"/v1/{module}/cancel", {"requestId": request_id})["canceled"])

    def services(self) -> wm.Services:
        return wm.Services.model_validate(self._get("/v1/services"))

    def health_check(self) -> wm.ServiceHealth:
        return wm.ServiceHealth.model_validate(self._get("/v1/health"))

    def sim(self, module: str, action: str, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = self._post(f"/v1/sim/{module}", {"action": action, "params": params})
        return out

    def audit(self, **filters: Any) -> list[wm.AuditRow]:
        return wm.AuditRows.model_validate(self._get("/v1/audit", **filters)).rows

    def events(self, modules: list[str] | None = None, since: int | None = None, *, reconnect: bool = True,
               on_gap: GapHandler | None = None, max_backoff: float = 5.0) -> Iterator[Event]:
        """Events as they happen; after a dropped connection, resumes after the last seq seen."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        last = since
        backoff = 0.2
        while True:
            try:
                with connect(self._ws_url(), ssl=self.ssl, open_timeout=10, close_timeout=2,
                             additional_headers={"Accept-Language": self.headers["Accept-Language"]}) as ws:
                    ws.send(self._auth_message(modules, last))
                    for raw in ws:
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind == "hello":
                            backoff = 0.2
                            if last is None:
                                last = int(msg["lastSeq"])
                        elif kind == "event":
                            ev = _event_from(msg)
                            last = ev.seq
                            yield ev
                        elif kind == "gap" and on_gap is not None:
                            on_gap(int(msg["since"]), int(msg["first"]))
                        elif kind == "error":
                            err = ServiceError(msg["code"], msg.get("message", ""), data={"detail": msg.get("detail")})
                            if msg["code"] in (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.INVALID_DATA):
                                raise err
            except (ConnectionClosed, InvalidHandshake, InvalidStatus, OSError, TimeoutError):
                pass
            if not reconnect:
                return
            time.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)


class AsyncClient(_Base):
    """Asynchronous client; the same methods as :class:`Client`, awaited."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, ca: str | Path | None = None,
                 lang: str = "zh", timeout: float = 120.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(url, token, ca, lang)
        self.http = httpx.AsyncClient(base_url=self.url, verify=self.ssl, headers=self.headers, timeout=timeout,
                                      transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, **params: Any) -> Any:
        return _unwrap(await self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    async def _post(self, path: str, body: dict[str, Any], request_id: str | None = None) -> Any:
        headers = {"X-Request-Id": request_id} if request_id else None
        return _unwrap(await self.http.post(path, json=body, headers=headers))

    async def call(self, module: str, op: str, request: Model | dict[str, Any] | None = None, *,
                   timeout: int | None = None, request_id: str | None = None, **fields: Any) -> Model:
        rid = request_id or uuid.uuid4().hex
        try:
            data = await self._post(f"/v1/{module}/{op}", _body(request, timeout, fields), rid)
        except asyncio.CancelledError:
            # the server also cancels when the connection drops; say it explicitly when we can
            await asyncio.shield(self._cancel_quietly(module, rid))
            raise
        return _result(module, op, data)

    async def _cancel_quietly(self, module: str, rid: str) -> None:
        try:
            await self._post(f"/v1/{module}/cancel", {"requestId": rid})
        except (ServiceError, httpx.HTTPError):
            pass

    async def status(self, module: str) -> Status:
        return Status.model_validate(await self._get(f"/v1/{module}/status"))

    async def capabilities(self, module: str) -> Capabilities:
        return Capabilities.model_validate(await self._get(f"/v1/{module}/capabilities"))

    async def statistics(self, module: str) -> Statistics:
        return Statistics.model_validate(await self._get(f"/v1/{module}/statistics"))

    async def health(self, module: str, level: str = "internal") -> HealthResult:
        return HealthResult.model_validate(await self._post(f"/v1/{module}/health", {"level": level}))

    async def cancel(self, module: str, request_id: str) -> bool:
        return bool((await self._post(f"/v1/{module}/cancel", {"requestId": request_id}))["canceled"])

    async def services(self) -> wm.Services:
        return wm.Services.model_validate(await self._get("/v1/services"))

    async def sim(self, module: str, action: str, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = await self._post(f"/v1/sim/{module}", {"action": action, "params": params})
        return out

    async def audit(self, **filters: Any) -> list[wm.AuditRow]:
        return wm.AuditRows.model_validate(await self._get("/v1/audit", **filters)).rows

    async def events(self, modules: list[str] | None = None, since: int | None = None, *, reconnect: bool = True,
                     on_gap: GapHandler | None = None, max_backoff: float = 5.0) -> AsyncIterator[Event]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        last = since
        backoff = 0.2
        while True:
            try:
                async with connect(self._ws_url(), ssl=self.ssl, open_timeout=10, close_timeout=2,
                                   additional_headers={"Accept-Language": self.headers["Accept-Language"]}) as ws:
                    await ws.send(self._auth_message(modules, last))
                    async for raw in ws:
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind == "hello":
                            backoff = 0.2
                            if last is None:
                                last = int(msg["lastSeq"])
                        elif kind == "event":
                            ev = _event_from(msg)
                            last = ev.seq
                            yield ev
                        elif kind == "gap" and on_gap is not None:
                            on_gap(int(msg["since"]), int(msg["first"]))
                        elif kind == "error":
                            err = ServiceError(msg["code"], msg.get("message", ""), data={"detail": msg.get("detail")})
                            if msg["code"] in (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.INVALID_DATA):
                                raise err
            except (ConnectionClosed, InvalidHandshake, InvalidStatus, OSError, TimeoutError):
                pass
            if not reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)
