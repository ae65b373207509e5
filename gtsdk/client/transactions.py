"""Business transactions (办件, docs/records.md) on the client: operations made inside
``with client.transaction("social") as txn:`` carry ``X-Transaction-Id``, and the block ends the
transaction as completed, or as failed with the error's code::

    with c.transaction("social") as txn:
        c.idcard.read(timeout=20)
        key = txn.holder_key()              # keyed hash of the holder, never the ID number
        txn.rate(5, tags=["速度快"])
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from gtsdk.records import api as rapi
from gtsdk.records.schema import RatingLevel, TransactionResult

if TYPE_CHECKING:
    from gtsdk.client.aio import AsyncClient
    from gtsdk.client.sync import Client

#: the transaction the calls of this context belong to (set by ``with client.transaction(...)``)
CURRENT: ContextVar[str | None] = ContextVar("gtsdk_client_transaction", default=None)
Result = TransactionResult | Literal["completed", "failed", "abandoned", "timedOut"]
HolderModule = Literal["idcard", "travel_doc"]


def headers(request_id: str | None) -> dict[str, str] | None:
    """The request's headers: its id, and the transaction of this context."""
    h: dict[str, str] = {}
    if request_id:
        h["X-Request-Id"] = request_id
    txn = CURRENT.get()
    if txn:
        h[rapi.TRANSACTION_HEADER] = txn
    return h or None


def end_body(tid: str, result: Result, reason_code: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"transactionId": tid, "result": TransactionResult(result).value}
    if reason_code:
        body["reasonCode"] = reason_code
    return body


def rate_body(tid: str | None, level: int, tags: list[str] | None, comment: str | None,
              service_code: str | None = None) -> dict[str, Any]:
    return rapi.RateRequest(transaction_id=tid, service_code=service_code, level=RatingLevel(level), tags=tags or [],
                            comment=comment).model_dump(mode="json", by_alias=True, exclude_none=True)


def failure_code(exc: BaseException | None) -> tuple[Result, str | None]:
    if exc is None:
        return "completed", None
    code = getattr(exc, "code", None)
    return "failed", code if isinstance(code, str) and code else type(exc).__name__


class Transaction:
    """An open business transaction of a :class:`Client`; as a context manager its block's calls carry its id."""

    def __init__(self, client: Client, view: rapi.TransactionView) -> None:
        self.client = client
        self.view = view
        self.id = view.id
        self._token: Token[str | None] | None = None

    def __enter__(self) -> Self:
        self._token = CURRENT.set(self.id)
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._token is not None:
            CURRENT.reset(self._token)
            self._token = None
        if self.view.state == "open":
            result, reason = failure_code(e)
            self.end(result, reason)

    def end(self, result: Result = "completed", reason_code: str | None = None) -> rapi.TransactionView:
        self.view = self.client.end_transaction(self.id, result, reason_code)
        return self.view

    def holder_key(self, module: HolderModule = "idcard") -> str:
        return self.client.holder_key(self.id, module)

    def rate(self, level: int, *, tags: list[str] | None = None, comment: str | None = None) -> rapi.RatingView:
        return self.client.rate(level, transaction_id=self.id, tags=tags, comment=comment)


class AsyncTransaction:
    """The :class:`AsyncClient` form of :class:`Transaction` (``async with``)."""

    def __init__(self, client: AsyncClient, service_code: str) -> None:
        self.client = client
        self.service_code = service_code
        self.view: rapi.TransactionView | None = None
        self._token: Token[str | None] | None = None

    @property
    def id(self) -> str:
        if self.view is None:
            raise RuntimeError("use: async with client.transaction(code) as txn")
        return self.view.id

    async def __aenter__(self) -> Self:
        self.view = await self.client.begin_transaction(self.service_code)
        self._token = CURRENT.set(self.view.id)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._token is not None:
            CURRENT.reset(self._token)
            self._token = None
        if self.view is not None and self.view.state == "open":
            result, reason = failure_code(e)
            await self.end(result, reason)

    async def end(self, result: Result = "completed", reason_code: str | None = None) -> rapi.TransactionView:
        self.view = await self.client.end_transaction(self.id, result, reason_code)
        return self.view

    async def holder_key(self, module: HolderModule = "idcard") -> str:
        return await self.client.holder_key(self.id, module)

    async def rate(self, level: int, *, tags: list[str] | None = None,
                   comment: str | None = None) -> rapi.RatingView:
        return await self.client.rate(level, transaction_id=self.id, tags=tags, comment=comment)
