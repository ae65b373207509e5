"""The module routes (clause 8.4 a–n): one route per operation of each contract, plus the queries every module
answers without queuing, health, cancel, statistics reset and the per-operation JSON Schemas.

| route | scope |
|---|---|
| ``POST /v1/<module>/<operation>`` | app |
| ``GET /v1/<module>/status`` · ``capabilities`` · ``statistics`` | any |
| ``POST /v1/<module>/health`` · ``cancel`` | app |
| ``POST /v1/<module>/statistics/reset`` | maintenance |
| ``GET /v1/schemas/<module>/<operation>`` | any |
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gtsdk.driver import HealthRequest, Model, OperationSpec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.server.call import Call, Handler, Response
from gtsdk.wire import CancelRequest, CancelResult, Schemas, SealedData

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp

QUERIES = ("status", "capabilities", "statistics")


def result_schema(ospec: OperationSpec, *, ref_template: str | None = None) -> dict[str, Any]:
    """The JSON Schema of an operation's ``data``: the result model, or for personal data a ``oneOf`` of the
    result (which has no ``kind``) and :class:`SealedData` (``kind: "sealed"``)."""
    kw: dict[str, Any] = {"by_alias": True, "mode": "serialization"}
    if ref_template is not None:
        kw["ref_template"] = ref_template
    result = ospec.result.model_json_schema(**kw)
    if not ospec.personal_data:
        return result
    sealed = SealedData.model_json_schema(**kw)
    defs = {**result.pop("$defs", {}), **sealed.pop("$defs", {})}
    out: dict[str, Any] = {"oneOf": [{**result, "not": {"required": ["kind"]}}, sealed],
                           "description": "the result, or the result sealed for the app's recipient key "
                                          "(kind: sealed); the presence of kind tells them apart"}
    if defs:
        out["$defs"] = defs
    return out


def add_routes(svc: ServiceApp) -> None:
    r = svc.routes
    for mod_id, spec in MODULES.items():
        base = f"/v1/{mod_id}"
        for q in QUERIES:
            r.add("GET", f"{base}/{q}", _query(svc, mod_id, q), "any")
        r.add("POST", f"{base}/health", _health(svc, mod_id), "app")
        r.add("POST", f"{base}/cancel", _cancel(svc, mod_id), "app")
        r.add("POST", f"{base}/statistics/reset", _reset(svc, mod_id), "maintenance")
        for op, ospec in spec.operations.items():
            r.add("POST", f"{base}/{op}", _operation(svc, mod_id, ospec), "app")
            r.add("GET", f"/v1/schemas/{mod_id}/{op}", _schema(mod_id, ospec), "any")


def _query(svc: ServiceApp, mod_id: str, what: str) -> Handler:
    if what == "status":
        async def status(call: Call) -> Response:  # the busiest query: the device's cached bytes of its status
            return call.ok_json(svc.terminal.device(mod_id).status_json())
        return status

    async def handler(call: Call) -> Response:
        dev = svc.terminal.device(mod_id)
        model: Model = dev.capabilities() if what == "capabilities" else dev.statistics()
        return call.ok(model)
    return handler


def _operation(svc: ServiceApp, mod_id: str, ospec: OperationSpec) -> Handler:
    op, model, personal = ospec.name, ospec.request, ospec.personal_data
    inflight, sealer = svc.inflight, svc.sealer

    async def handler(call: Call) -> Response:
        req = await svc.parse_body(call, model)
        token = call.token
        assert token is not None
        job = inflight.submit(mod_id, op, req, call.rid, token.caller)
        audit = svc.audit  # answered only once its audit row is on disk (crash consistency)
        out = await inflight.wait(mod_id, job, call.scope, call.receive, audit.commits if audit else None)
        if personal and sealer.seals_for(token.app):  # SM2 work: off the event loop
            sealed = await asyncio.to_thread(sealer.seal, out, token.app, mod_id, op, call.rid)
            return call.ok(sealed)
        return call.ok(out)
    return handler


def _health(svc: ServiceApp, mod_id: str) -> Handler:
    async def handler(call: Call) -> Response:
        req = await svc.parse_body(call, HealthRequest)
        caller = call.token.caller if call.token else None
        job = svc.inflight.submit(mod_id, "health", req, call.rid, caller)
        audit = svc.audit
        out = await svc.inflight.wait(mod_id, job, call.scope, call.receive, audit.commits if audit else None)
        return call.ok(out)
    return handler


def _cancel(svc: ServiceApp, mod_id: str) -> Handler:
    async def handler(call: Call) -> Response:
        req = await svc.parse_body(call, CancelRequest)
        assert isinstance(req, CancelRequest)
        if not svc.terminal.cancel(mod_id, req.request_id):
            raise GtsdkError(ErrorCode.NOT_FOUND, "no queued or running request with that id", field="requestId")
        return call.ok(CancelResult(canceled=True))
    return handler


def _reset(svc: ServiceApp, mod_id: str) -> Handler:
    async def handler(call: Call) -> Response:
        dev = svc.terminal.device(mod_id)
        dev.reset_statistics()
        return call.ok(dev.statistics())
    return handler


def _schema(mod_id: str, ospec: OperationSpec) -> Handler:
    body: Schemas | None = None

    async def handler(call: Call) -> Response:
        nonlocal body
        if body is None:  # built on first use: pydantic schema generation is not free
            body = Schemas(module=mod_id, operation=ospec.name, version=ospec.version,
                           request=ospec.request.model_json_schema(by_alias=True),
                           response=result_schema(ospec))
        return call.ok(body)
    return handler
