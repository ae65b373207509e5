"""The audit log over HTTPS (clause 9.3.3 b), maintenance scope.

| route | what |
|---|---|
| ``GET /v1/audit?since=&until=&module=&operation=&person=&code=&caller=&limit=&afterId=`` | records |
| ``GET /v1/audit/verify`` | the hash chain and the signed heads |
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gtsdk.audit import AuditLog
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.call import Call, Response
from gtsdk.wire import AuditRow, AuditRows, AuditVerify

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp

QUERY_KEYS = frozenset({"since", "until", "module", "operation", "person", "code", "caller", "limit", "afterId"})
#: rows one query may return
MAX_ROWS = 100_000


def _int(q: dict[str, str], name: str, default: int, high: int) -> int:
    try:
        v = int(q.get(name, str(default)))
    except ValueError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "must be an integer", field=name) from None
    if not 0 <= v <= high:
        raise GtsdkError(ErrorCode.INVALID_DATA, "out of range", field=name)
    return v


def add_routes(svc: ServiceApp) -> None:
    def log() -> AuditLog:
        if svc.audit is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "audit log disabled")
        return svc.audit

    async def query(call: Call) -> Response:
        audit = log()
        q = call.query
        for k in q:
            if k not in QUERY_KEYS:
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown query parameter", field=k)
        limit, after = _int(q, "limit", 1000, MAX_ROWS), _int(q, "afterId", 0, 2**63 - 1)
        try:
            rows = await asyncio.to_thread(
                lambda: audit.query(since=q.get("since"), until=q.get("until"), module=q.get("module"),
                                    operation=q.get("operation"), person=q.get("person"), code=q.get("code"),
                                    caller=q.get("caller"), limit=limit, after_id=after))
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "since/until must be ISO dates or times", field="since") from None
        return call.ok(AuditRows(rows=[AuditRow.model_validate(r) for r in rows]))

    async def verify(call: Call) -> Response:
        res = await asyncio.to_thread(log().verify)
        return call.ok(AuditVerify(ok=res.ok, rows=res.rows, algorithm=res.algorithm, signed_days=res.signed_days,
                                   problems=res.problems))

    svc.routes.add("GET", "/v1/audit", query, "maintenance")
    svc.routes.add("GET", "/v1/audit/verify", verify, "maintenance")
