"""``GET /openapi.json``: OpenAPI 3.1 generated from the same models that validate requests (clause 8.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic.json_schema import models_json_schema

import gtsdk
from gtsdk import wire as wm
from gtsdk.driver import Capabilities, HealthRequest, HealthResult, Model, Statistics, Status
from gtsdk.errors import catalogue
from gtsdk.modules import MODULES
from gtsdk.server.call import http_status

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp

REF = "#/components/schemas/{model}"


def _envelope(data: dict[str, Any], codes: list[str] | None = None) -> dict[str, Any]:
    code: dict[str, Any] = {"type": "string"}
    if codes:
        code["enum"] = codes
    return {
        "type": "object",
        "required": ["code", "message", "requestId", "data"],
        "properties": {"code": code, "message": {"type": "string"}, "requestId": {"type": "string"}, "data": data},
    }


def sealable(result: dict[str, Any], sealed: dict[str, Any]) -> dict[str, Any]:
    """``data`` of a personal-data operation: the result (which never has ``kind``) or SealedData
    (``kind: "sealed"``).  OpenAPI 3.1's discriminator needs the property in every branch, so the branches are
    told apart the JSON Schema way: the result branch forbids ``kind``, the sealed branch requires it."""
    return {"oneOf": [{"allOf": [result], "not": {"required": ["kind"]}}, sealed],
            "description": "the result, or {kind: sealed, sealed: <envelope>} when the app has a recipient key"}


def build(app: ServiceApp) -> dict[str, Any]:
    models: list[type[Model]] = [Status, Capabilities, Statistics, HealthRequest, HealthResult, wm.ErrorData,
                                 wm.CancelRequest, wm.CancelResult, wm.SealedData, wm.SimControl, wm.SimInfo,
                                 wm.Services, wm.ServiceHealth, wm.AuditRows, wm.AuditVerify, wm.Schemas]
    for spec in MODULES.values():
        for o in spec.operations.values():
            models += [o.request, o.result]
    uniq = list(dict.fromkeys(models))
    pairs: list[tuple[type[Model], Any]] = []
    for m in uniq:
        pairs.append((m, "validation"))
        pairs.append((m, "serialization"))
    keys, defs = models_json_schema(pairs, by_alias=True, ref_template=REF)
    schemas: dict[str, Any] = defs.get("$defs", {})

    def ref(m: type[Model], mode: str = "serialization") -> dict[str, Any]:
        out: dict[str, Any] = keys[(m, mode)]  # type: ignore[index]
        return out

    error_resp = {"description": "error envelope (code from the catalogue)",
                  "content": {"application/json": {"schema": _envelope(ref(wm.ErrorData))}}}
    security: list[dict[str, list[str]]] = [{"bearer": []}]

    def errors(*statuses: int) -> dict[str, Any]:
        base = {400, 401, 403, 404, 408, 413, 429, 431, 503}  # 408, 431, 503: the connection layer
        return {str(s): error_resp for s in sorted(base | set(statuses))}

    def ok(schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": "success", "content": {"application/json": {"schema": _envelope(schema, ["success"])}}}

    def body(m: type[Model]) -> dict[str, Any]:
        return {"required": False, "content": {"application/json": {"schema": ref(m, "validation")}}}

    rid_param = {"name": "X-Request-Id", "in": "header", "required": False,
                 "schema": {"type": "string", "pattern": wm.REQUEST_ID}}
    lang_param = {"name": "Accept-Language", "in": "header", "required": False,
                  "schema": {"type": "string", "enum": ["zh", "en", "zh-CN", "en-US"]}}
    params = [rid_param, lang_param]
    paths: dict[str, Any] = {
        "/v1/health": {"get": {"operationId": "serviceHealth", "summary": "service health (no token needed)",
                               "security": [], "responses": {"200": ok(ref(wm.ServiceHealth))}}},
        "/v1/services": {"get": {"operationId": "services", "summary": "discovery: every module, driver and state",
                                 "parameters": params, "responses": {"200": ok(ref(wm.Services)), **errors()}}},
    }
    device_errors = sorted({http_status(i.code) for i in catalogue() if i.code != "success"} - {500})
    for mod_id, spec in MODULES.items():
        base = f"/v1/{mod_id}"
        tag = [mod_id]
        for q, m in (("status", Status), ("capabilities", Capabilities), ("statistics", Statistics)):
            paths[f"{base}/{q}"] = {"get": {"operationId": f"{mod_id}_{q}", "tags": tag, "parameters": params,
                                            "responses": {"200": ok(ref(m)), **errors()}}}
        paths[f"{base}/health"] = {"post": {"operationId": f"{mod_id}_health", "tags": tag, "parameters": params,
                                            "summary": "checkHealth (internal, external, interactive)",
                                            "requestBody": body(HealthRequest),
                                            "responses": {"200": ok(ref(HealthResult)), **errors(*device_errors)}}}
        paths[f"{base}/cancel"] = {"post": {"operationId": f"{mod_id}_cancel", "tags": tag, "parameters": params,
                                            "summary": "cancel a queued or running request by its X-Request-Id",
                                            "requestBody": {"required": True, "content": {"application/json": {
                                                "schema": ref(wm.CancelRequest, "validation")}}},
                                            "responses": {"200": ok(ref(wm.CancelResult)), **errors()}}}
        for op, o in spec.operations.items():
            result = ref(o.result)
            if o.personal_data:
                result = sealable(result, ref(wm.SealedData))
            paths[f"{base}/{op}"] = {"post": {
                "operationId": f"{mod_id}_{op}", "tags": tag, "summary": o.summary, "parameters": params,
                "description": f"{spec.clause} {spec.title_zh} / {spec.title_en}: {op} (version {o.version})"
                               + (" — personal data: sealed when the app has a recipient key" if o.personal_data
                                  else ""),
                "requestBody": body(o.request),
                "responses": {"200": ok(result), **errors(*device_errors)}}}
            paths[f"/v1/schemas/{mod_id}/{op}"] = {"get": {
                "operationId": f"{mod_id}_{op}_schema", "tags": ["schemas"], "parameters": params,
                "responses": {"200": ok(ref(wm.Schemas)), **errors()}}}
    maint = {"description": "needs a token with the maintenance scope"}
    paths["/v1/sim"] = {"get": {"operationId": "simulators", "tags": ["maintenance"], "parameters": params,
                                "description": maint["description"],
                                "responses": {"200": ok({"type": "object"}), **errors()}}}
    for mod_id in MODULES:
        paths[f"/v1/sim/{mod_id}"] = {
            "get": {"operationId": f"{mod_id}_sim_info", "tags": ["maintenance"], "parameters": params,
                    "responses": {"200": ok(ref(wm.SimInfo)), **errors()}},
            "post": {"operationId": f"{mod_id}_sim_control", "tags": ["maintenance"], "parameters": params,
                     "summary": "change the simulated world (insert a card, paper out, unplug, garble, delay)",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": ref(wm.SimControl, "validation")}}},
                     "responses": {"200": ok({"type": "object"}), **errors(503)}}}
        paths[f"/v1/{mod_id}/statistics/reset"] = {"post": {
            "operationId": f"{mod_id}_statistics_reset", "tags": ["maintenance"], "parameters": params,
            "responses": {"200": ok(ref(Statistics)), **errors()}}}
    audit_params = params + [{"name": n, "in": "query", "required": False, "schema": sch} for n, sch in (
        ("since", {"type": "string", "description": "ISO date or time (UTC when no zone)"}),
        ("until", {"type": "string"}), ("module", {"type": "string"}), ("operation", {"type": "string"}),
        ("person", {"type": "string", "description": "full ID number or masked form 11**************34"}),
        ("code", {"type": "string"}), ("caller", {"type": "string"}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 100000}), ("afterId", {"type": "integer"}))]
    paths["/v1/audit"] = {"get": {"operationId": "audit_query", "tags": ["maintenance"], "parameters": audit_params,
                                  "summary": "audit records by person, time and operation type (9.3.3 b)",
                                  "responses": {"200": ok(ref(wm.AuditRows)), **errors()}}}
    paths["/v1/audit/verify"] = {"get": {"operationId": "audit_verify", "tags": ["maintenance"],
                                         "parameters": params,
                                         "responses": {"200": ok(ref(wm.AuditVerify)), **errors()}}}
    from gtsdk.server import records_openapi

    return records_openapi.extend({
        "openapi": "3.1.0",
        "info": {"title": "gtsdk local terminal service", "version": gtsdk.__version__,
                 "description": "Government-service self-service terminal devices over HTTPS on 127.0.0.1:8801 "
                                "(clauses 8.1–8.4). Every response is the envelope {code, message, requestId, data}."},
        "servers": [{"url": f"https://127.0.0.1:{app.config.port}"}],
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": security,
        "paths": paths,
    })
