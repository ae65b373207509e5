"""The synchronous client of the local service (httpx; one keep-alive TLS connection pool)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
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
from gtsdk.facade import ClientModules, Level, Module, RequestLike, check_timeout
from gtsdk.modules import Capabilities, HealthLevel, HealthResult, Model, Statistics, Status
from gtsdk.records import api as rapi
from gtsdk.records.catalogue import ServedCatalogue
from gtsdk.runtime.events import Event

GapHandler = Callable[[int, int], None]


class Client(ClientModules):
    """Synchronous client: ``client.<module>.<operation>(...)`` typed per module, every timeout in seconds.

    *timeout* bounds each HTTP exchange that has no operation timeout of its own; an operation
    given ``timeout=`` may take that long plus slack.
    """

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, ca: str | Path | None = None,
                 lang: str = "zh", timeout: float = 120.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ssl = ssl_context(ca)
        self.timeout = timeout
        self.headers = {"Accept-Language": lang}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url, verify=self.ssl, headers=self.headers, timeout=timeout,
                                 transport=transport)
        self._init_modules(self)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, **params: Any) -> Any:
        return unwrap(self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    def _post(self, path: str, payload: dict[str, Any], request_id: str | None = None,
              timeout: float | None = None) -> Any:
        return unwrap(self.http.post(path, json=payload, headers=txn.headers(request_id),
                                     timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT))

    # ---- operations ----------------------------------------------------------------------------------
    def call(self, module: str, op: str, request: RequestLike = None, *, timeout: float | None = None,
             request_id: str | None = None, **fields: Any) -> Model:
        """Run ``op`` of ``module``; *timeout* in seconds.  Returns the contract's result model, or
        :class:`~gtsdk.wire.SealedData` for a personal-data result the service sealed."""
        check_operation(module, op)
        payload = body(request, timeout, fields)
        data = self._post(f"/v1/{module}/{op}", payload, request_id, http_timeout(timeout, self.timeout))
        return result(module, op, data)

    def module(self, module: str) -> Module:
        """The generic handle on *module* (for code that picks the module at run time)."""
        return Module(self, module)

    def status(self, module: str) -> Status:
        return Status.model_validate(self._get(f"/v1/{module}/status"))

    def capabilities(self, module: str) -> Capabilities:
        return Capabilities.model_validate(self._get(f"/v1/{module}/capabilities"))

    def statistics(self, module: str) -> Statistics:
        return Statistics.model_validate(self._get(f"/v1/{module}/statistics"))

    def health(self, module: str, level: Level = HealthLevel.INTERNAL, *, timeout: float | None = None
               ) -> HealthResult:
        check_timeout(timeout)  # bounds the wait: the health request has no timeout on the wire (30 s there)
        payload = {"level": HealthLevel(level).value}
        return HealthResult.model_validate(self._post(f"/v1/{module}/health", payload, None,
                                                      http_timeout(timeout, self.timeout)))

    def cancel(self, module: str, request_id: str) -> bool:
        return bool(self._post(f"/v1/{module}/cancel", {"requestId": request_id})["canceled"])

    # ---- the service -------------------------------------------------------------------------------
    def services(self) -> wm.Services:
        return wm.Services.model_validate(self._get("/v1/services"))

    def health_check(self) -> wm.ServiceHealth:
        return wm.ServiceHealth.model_validate(self._get("/v1/health"))

    def sim(self, module: str, action: str, **params: Any) -> dict[str, Any]:
        """Change the simulated world (maintenance scope; ``gtsdk serve --simulate``)."""
        out: dict[str, Any] = self._post(f"/v1/sim/{module}", {"action": action, "params": params})
        return out

    def audit(self, **filters: Any) -> list[wm.AuditRow]:
        return wm.AuditRows.model_validate(self._get("/v1/audit", **filters)).rows

    # ---- records (docs/records.md) -----------------------------------------------------------------------
    def catalogue(self) -> ServedCatalogue:
        return ServedCatalogue.model_validate(self._get("/v1/catalogue"))

    def begin_transaction(self, service_code: str) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(self._post("/v1/transactions", {"serviceCode": service_code}))

    def transaction_info(self, transaction_id: str) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(self._get("/v1/transactions", id=transaction_id))

    def end_transaction(self, transaction_id: str, result: txn.Result = "completed",
                        reason_code: str | None = None) -> rapi.TransactionView:
        return rapi.TransactionView.model_validate(
            self._post("/v1/transactions/end", txn.end_body(transaction_id, result, reason_code)))

    def holder_key(self, transaction_id: str, module: txn.HolderModule = "idcard") -> str:
        out = self._post("/v1/transactions/holder-key", {"transactionId": transaction_id, "module": module})
        return str(out["holderKey"])

    def rate(self, level: int, *, transaction_id: str | None = None, service_code: str | None = None,
             tags: list[str] | None = None, comment: str | None = None) -> rapi.RatingView:
        payload = txn.rate_body(transaction_id, level, tags, comment, service_code)
        return rapi.RatingView.model_validate(self._post("/v1/ratings", payload))

    def transaction(self, service_code: str) -> txn.Transaction:
        """Begin a transaction whose block's calls carry its id (:mod:`gtsdk.client.transactions`)."""
        return txn.Transaction(self, self.begin_transaction(service_code))

    # ---- events ------------------------------------------------------------------------------------
    def events(self, modules: list[str] | None = None, since: int | None = None, *, reconnect: bool = True,
               on_gap: GapHandler | None = None, max_backoff: float = 5.0) -> Iterator[Event]:
        """Events as they happen; after a dropped connection, resumes after the last seq seen."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        last = since
        backoff = 0.2
        while True:
            try:
                with connect(ws_url(self.url), ssl=self.ssl, open_timeout=10, close_timeout=2,
                             additional_headers={"Accept-Language": self.headers["Accept-Language"]}) as ws:
                    ws.send(auth_message(self.token, modules, last))
                    for raw in ws:
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
            time.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)


__all__ = ["Client", "GapHandler", "ServiceError"]
