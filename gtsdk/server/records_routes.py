"""Record routes of kiosk apps (docs/records.md): the 事项 catalogue, business transactions and 好差评.

* ``GET /v1/catalogue`` (any scope) — the catalogue in force, each entry with ``available`` and the modules it
  misses right now (6.3, 7.1.3 a);
* ``POST /v1/transactions`` ``{serviceCode}`` (app) — begin a 办件; ``GET /v1/transactions?id=…`` — its state;
  ``POST /v1/transactions/end`` ``{transactionId, result, reasonCode}`` — end it (idempotent);
* ``POST /v1/transactions/holder-key`` ``{transactionId, module}`` — the keyed hash of the holder whose
  document was read within the transaction (never the number; docs/records.md explains why);
* ``POST /v1/ratings`` ``{transactionId, level, tags, comment}`` (app) — a GB/T 39734 rating.

Device operations carry the transaction in the ``X-Transaction-Id`` header: the route checks that it names an
open transaction of the caller's app (``invalidData`` otherwise, and the operation is not run) and the runtime
stamps the operation with it (:data:`gtsdk.runtime.device.CURRENT_TRANSACTION`), so the transaction counts its
operations and failures.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from starlette.responses import Response

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.records import api
from gtsdk.records.config import parse_records
from gtsdk.records.recorder import Recorder
from gtsdk.records.schema import RECORD_ID
from gtsdk.runtime.device import CURRENT_TRANSACTION

if TYPE_CHECKING:
    from gtsdk.server.app import Handler, ServiceApp, _Call

_TID = re.compile(RECORD_ID)
HEADER = api.TRANSACTION_HEADER.lower()


def recorder(app: ServiceApp) -> Recorder:
    rec: Recorder | None = getattr(app, "records", None)
    if rec is None:
        raise GtsdkError(ErrorCode.NOT_FOUND, "records are disabled ([records] enabled = false)")
    return rec


def _app_of(call: _Call) -> str | None:
    return call.token.app if call.token is not None else None


class RecordRoutes:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def catalogue(self, call: _Call) -> Response:
        rec = recorder(self.app)
        from gtsdk.records.catalogue import served

        return self.app.ok(call, served(rec.catalogue, rec.catalogue_source, rec.usable_modules()))

    async def begin(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, api.BeginTransaction)
        assert isinstance(req, api.BeginTransaction)
        if req.service_code not in {e.code for e in rec.catalogue.entries}:
            raise GtsdkError(ErrorCode.INVALID_DATA, "not a service code of the catalogue", field="serviceCode")
        view = await asyncio.to_thread(rec.transactions.begin, req.service_code, _app_of(call))
        return self.app.ok(call, view)

    async def get(self, call: _Call) -> Response:
        rec = recorder(self.app)
        q = call.request.query_params
        for k in q:
            if k != "id":
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown query parameter", field=k)
        tid = q.get("id", "")
        if not _TID.match(tid):
            raise GtsdkError(ErrorCode.INVALID_DATA, "id must be a transaction id", field="id")
        return self.app.ok(call, await asyncio.to_thread(rec.transactions.get, tid, _app_of(call)))

    async def end(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, api.EndTransaction)
        assert isinstance(req, api.EndTransaction)
        view = await asyncio.to_thread(rec.transactions.end, req.transaction_id, _app_of(call), req.result,
                                       req.reason_code)
        return self.app.ok(call, view)

    async def holder_key(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, api.HolderKeyRequest)
        assert isinstance(req, api.HolderKeyRequest)
        key = await asyncio.to_thread(rec.transactions.holder_key, req.transaction_id, _app_of(call), req.module)
        return self.app.ok(call, api.HolderKey(holder_key=key))

    async def rate(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, api.RateRequest)
        assert isinstance(req, api.RateRequest)
        idem = call.headers.get("x-request-id")
        view = await asyncio.to_thread(rec.ratings.add, req, _app_of(call), idem)
        return self.app.ok(call, view)

    def in_transaction(self, handler: Handler) -> Handler:
        """Wrap a device-operation route: check ``X-Transaction-Id`` and stamp the operation with it."""

        async def wrapped(call: _Call) -> Response:
            tid = call.headers.get(HEADER)
            if tid is None:
                return await handler(call)
            if not _TID.match(tid):
                raise GtsdkError(ErrorCode.INVALID_DATA, "X-Transaction-Id must be a transaction id",
                                 field=api.TRANSACTION_HEADER)
            book = recorder(self.app).transactions
            book.check(tid, _app_of(call))
            book.expect(call.rid)
            token = CURRENT_TRANSACTION.set(tid)
            try:
                return await handler(call)
            finally:
                CURRENT_TRANSACTION.reset(token)
                await asyncio.to_thread(book.settled, call.rid)

        return wrapped


def add_routes(app: ServiceApp) -> None:
    """Open the records (unless ``[records] enabled = false``) and register their routes on *app*."""
    cfg = parse_records(app.terminal.config.records)
    if cfg.enabled:
        app.records = Recorder(app.terminal, app.home, cfg)  # type: ignore[attr-defined]
    rr = RecordRoutes(app)
    r = app._routes
    r[("GET", "/v1/catalogue")] = ("any", rr.catalogue)
    r[("POST", "/v1/transactions")] = ("app", rr.begin)
    r[("GET", "/v1/transactions")] = ("app", rr.get)
    r[("POST", "/v1/transactions/end")] = ("app", rr.end)
    r[("POST", "/v1/transactions/holder-key")] = ("app", rr.holder_key)
    r[("POST", "/v1/ratings")] = ("app", rr.rate)
    for mod_id, spec in MODULES.items():
        for op in [*spec.operations, "health"]:
            key = ("POST", f"/v1/{mod_id}/{op}")
            if key in r:
                scope, handler = r[key]
                r[key] = (scope, rr.in_transaction(handler))


def close(app: ServiceApp) -> None:
    rec: Recorder | None = getattr(app, "records", None)
    if rec is not None:
        rec.close()
