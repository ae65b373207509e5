"""The asynchronous client of the local service: the same methods as :class:`~gtsdk.client.Client`, awaited."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import httpx

from gtsdk import wire as wm
from gtsdk.client import transactions as txn
from gtsdk.client._common import (
    DEFAULT_URL,
    ServiceError,
    auth_message,
    body,
    check_operation,
    event_error,
    event_from,
    http_timeout,
    result,
    ssl_context,
    unwrap,
    ws_url,
)
from gtsdk.client.sync import GapHandler
from gtsdk.facade import AsyncClientModules, AsyncModule, Level, RequestLike, check_timeout
from gtsdk.modules import Capabilities, HealthLevel, HealthResult, Model, Statistics, Status
from gtsdk.records import api as rapi
from gtsdk.records.catalogue import ServedCatalogue
from gtsdk.runtime.events import Event


class AsyncClient(AsyncClientModules):
    """Asynchronous client: ``await client.<module>.<operation>(...)``; every timeout in seconds.

    Cancelling an awaiting call cancels the operation on the service too.
    """

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, ca: str | Path | None = None,
                 lang: str = "zh", timeout: float = 120.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ssl = ssl_context(ca)
        self.timeout = timeout
        self.headers = {"Accept-Language": lang}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.AsyncClient(base_url=self.url, verify=self.ssl, headers=self.headers, timeout=timeout,
                                      transport=transport)
        self._init_modules(self)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, **params: Any) -> Any:
        return unwrap(await self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    async def _post(self, path: str, payload: dict[str, Any], request_id: str | None = None,
                    timeout: float | None = None) -> Any:
        return unwrap(await self.http.post(path, json=payload, headers=txn.headers(request_id),
                                           timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT))

    # ---- operations ----------------------------------------------------------------------------------
    async def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
                   request_id: str | None = None, **fields: Any) -> Model:
        """Run ``op`` of ``module``; *timeout* in seconds (see :meth:`gtsdk.client.Client.call`)."""
        check_operation(module, op)
        payload = body(request, timeout, fields)
        rid = request_id or uuid.uuid4().hex
        try:
            data = await self._post(f"/v1/{module}/{op}", payload, rid, http_timeout(timeout, self.timeout))
        except asyncio.CancelledError:
            # the server also cancels when the connection drops; say it explicitly when we can
            await asyncio.shield(self._cancel_quietly(module, rid))
            raise
        return result(module, op, data)

    async def _cancel_quietly(self, module: str, rid: str) -> None:
        try:
            await self._post(f"/v1/{module}/cancel", {"requestId": rid}, timeout=5.0)
        except (ServiceError, httpx.HTTPError):
            pass  # best effort: the dropped connection cancels the operation as well

    def module(self, module: str) -> AsyncModule:
        """The generic asynchronous handle on *module*."""
        return AsyncModule(self, module)

    async def status(self, module: str) -> Status:
        return Status.model_validate(await self._get(f"/v1/{module}/status"))

    async def capabilities(self, module: str) -> Capabilities:
        return Capabilities.model_validate(await self._get(f"/v1/{module}/capabilities"))

    async def statistics(self, module: str) -> Statistics:
        return Statistics.model_validate(await self._get(f"/v1/{module}/statistics"))

    async def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
                     ) -> HealthResult:
        check_timeout(timeout)  # bounds the wait: the health request has no timeout on the wire (30 s there)
        payload = {"level": HealthLevel(level).value}
        return HealthResult.model_validate(await self._post(f"/v1/{module}/health", payload, None,
                                                            http_timeout(timeout, self.timeout)))

    async def cancel(self, module: str, request_id: str) -> bool:
        return bool((await self._post(f"/v1/{module}/cancel", {"requestId": request_id}))["canceled"])

    # ---- the service -------------------------------------------------------------------------------
    async def services(self) -> wm.Services:
        return wm.Services.model_validate(await self._get("/v1/services"))

    async def health_check(self) -> wm.ServiceHealth:
        return wm.ServiceHealth.model_validate(await self._get("/v1/health"))

    async def sim(self, module: str, action: str, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = await self._post(f"/v1/sim/{module}", {"action": action, "params": params})
        return out

    async def audit(self, **filters: Any) -> list[wm.AuditRow]:
        return wm.AuditRows.model_validate(await self._get("/v1/audit", **filters)).rows

    # ---- records (docs/records.md) -----------------------------------------------------------------------
    async def catalogue(self) -> ServedCatalogue:
        return ServedCatalogue.model_validate(await self._get("/v1/catalogue"))

    async def begin_transaction(self, service_code: str) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(
            await self._post("/v1/transactions", {"serviceCode": service_code}))

    async def transaction_info(self, transaction_id: str) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(await self._get("/v1/transactions", id=transaction_id))

    async def end_transaction(self, transaction_id: str, result: txn.Result = "completed",
                              reason_code: str | None = None) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(
            await self._post("/v1/transactions/end", txn.end_body(transaction_id, result, reason_code)))

    async def holder_key(self, transaction_id: str, module: txn.HolderModule = "idcard") -> str:
        out = await self._post("/v1/transactions/holder-key", {"transactionId": transaction_id, "module": module})
        return str(out["holderKey"])

    async def rate(self, level: int, *, transaction_id: str | None = None, service_code: str | None = None,
                   tags: list[str] | None = None, comment: str | None = None) -> rapi.RatingView:
        payload = txn.rate_body(transaction_id, level, tags, comment, service_code)
        return rapi.RatingView.model_validate(await self._post("/v1/ratings", payload))

    def transaction(self, service_code: str) -> txn.AsyncTransaction:
        """``async with client.transaction("social") as txn:`` — as :meth:`Client.transaction`."""
        return txn.AsyncTransaction(self, service_code)

    # ---- events ------------------------------------------------------------------------------------
    async def events(self, modules: list[str] | None = None, since: int | None = None, *, reconnect: bool = True,
                     on_gap: GapHandler | None = None, max_backoff: float = 5.0) -> AsyncIterator[Event]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        last = since
        backoff = 0.2
        while True:
            try:
                async with connect(ws_url(self.url), ssl=self.ssl, open_timeout=10, close_timeout=2,
                                   additional_headers={"Accept-Language": self.headers["Accept-Language"]}) as ws:
                    await ws.send(auth_message(self.token, modules, last))
                    async for raw in ws:
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind == "hello":
                            backoff = 0.2
                            if last is None:
                                last = int(msg["lastSeq"])
                        elif kind == "event":
                            ev = event_from(msg)
                            last = ev.seq
                            yield ev
                        elif kind == "gap" and on_gap is not None:
                            on_gap(int(msg["since"]), int(msg["first"]))
                        elif kind == "error" and (err := event_error(msg)) is not None:
                            raise err
            except (ConnectionClosed, InvalidHandshake, InvalidStatus, OSError, TimeoutError):
                pass
            if not reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)


__all__ = ["AsyncClient"]
