"""The record routes and the ``X-Transaction-Id`` header in ``/openapi.json`` (added to what
gtsdk.server.openapi builds, from the same models that validate the requests)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from gtsdk.driver import Model
from gtsdk.modules import MODULES
from gtsdk.records import api
from gtsdk.records.catalogue import ServedCatalogue
from gtsdk.records.schema import RECORD_ID

REF = "#/components/schemas/{model}"
HEADER = {"name": api.TRANSACTION_HEADER, "in": "header", "required": False,
          "description": "the business transaction (办件) this operation belongs to: the id from POST /v1/transactions "
                         "(an open transaction of the caller's app, else invalidData and the operation is not run)",
          "schema": {"type": "string", "pattern": RECORD_ID}}
MODELS: list[type[Model]] = [api.BeginTransaction, api.EndTransaction, api.TransactionView, api.HolderKeyRequest,
                             api.HolderKey, api.RateRequest, api.RatingView, api.FaultView, api.FaultAction,
                             api.InspectionRequest, api.InspectionView, ServedCatalogue]


def _env(data: dict[str, Any]) -> dict[str, Any]:
    return {"description": "success", "content": {"application/json": {"schema": {
        "type": "object", "required": ["code", "message", "requestId", "data"],
        "properties": {"code": {"type": "string", "enum": ["success"]}, "message": {"type": "string"},
                       "requestId": {"type": "string"}, "data": data}}}}}


def extend(doc: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = doc["paths"]
    for mod_id, spec in MODULES.items():
        for op in [*spec.operations, "health"]:
            entry = paths.get(f"/v1/{mod_id}/{op}", {}).get("post")
            if entry is not None:
                entry["parameters"] = [*entry.get("parameters", []), HEADER]
    modes: tuple[Literal["validation", "serialization"], ...] = ("validation", "serialization")
    pairs = [(m, mode) for m in MODELS for mode in modes]
    keys, defs = models_json_schema(pairs, by_alias=True, ref_template=REF)
    doc["components"]["schemas"].update(defs.get("$defs", {}))

    def ref(m: type[Model], mode: str = "serialization") -> dict[str, Any]:
        out: dict[str, Any] = keys[(m, mode)]  # type: ignore[index]
        return out

    errors = {"4XX": {"description": "error envelope (code from the catalogue)"}}

    def post(op_id: str, summary: str, req: type[Model], resp: type[Model], tag: str) -> dict[str, Any]:
        return {"post": {"operationId": op_id, "tags": [tag], "summary": summary,
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": ref(req, "validation")}}},
                         "responses": {"200": _env(ref(resp)), **errors}}}

    paths["/v1/catalogue"] = {"get": {"operationId": "catalogue", "tags": ["records"],
                                      "summary": "the 事项 catalogue with what is available now (6.3, 7.1.3 a)",
                                      "responses": {"200": _env(ref(ServedCatalogue)), **errors}}}
    paths["/v1/transactions"] = {
        **post("transaction_begin", "begin a business transaction (办件)", api.BeginTransaction,
               api.TransactionView, "records"),
        "get": {"operationId": "transaction_get", "tags": ["records"],
                "parameters": [{"name": "id", "in": "query", "required": True,
                                "schema": {"type": "string", "pattern": RECORD_ID}}],
                "responses": {"200": _env(ref(api.TransactionView)), **errors}}}
    paths["/v1/transactions/end"] = post("transaction_end", "end it: completed, failed, abandoned or timedOut "
                                                            "(idempotent)", api.EndTransaction, api.TransactionView,
                                         "records")
    paths["/v1/transactions/holder-key"] = post(
        "transaction_holder_key", "keyed hash of the holder read within the transaction (never the number)",
        api.HolderKeyRequest, api.HolderKey, "records")
    paths["/v1/ratings"] = post("rating", "好差评 (GB/T 39734 levels, masked free text)", api.RateRequest,
                                api.RatingView, "records")
    paths["/v1/ops/inspections"] = {
        **post("inspection_run", "run an inspection now (10.2.2 a; maintenance)", api.InspectionRequest,
               api.InspectionView, "maintenance"),
        "get": {"operationId": "inspection_last", "tags": ["maintenance"],
                "responses": {"200": _env(ref(api.InspectionView)), **errors}}}
    paths["/v1/ops/summary"] = {"get": {
        "operationId": "ops_summary", "tags": ["maintenance"],
        "summary": "statistics of 10.1.2 and 10.2.2 from the records (docs/records.md)",
        "parameters": [{"name": n, "in": "query", "required": False, "schema": s} for n, s in (
            ("days", {"type": "integer", "minimum": 1, "maximum": 366}),
            ("format", {"type": "string", "enum": ["json", "csv"]}), ("table", {"type": "string"}))],
        "responses": {"200": {**_env({"type": "object"}), "description": "the summary (JSON envelope), or with "
                                                                       "format=csv its tables as text/csv"},
                      **errors}}}
    paths["/v1/ops/summary"]["get"]["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    paths["/v1/ops/faults"] = {"get": {"operationId": "ops_faults", "tags": ["maintenance"],
                                       "responses": {"200": _env({"type": "object", "properties": {
                                           "faults": {"type": "array", "items": ref(api.FaultView)}}}), **errors}}}
    for action in ("acknowledge", "resolve"):
        paths[f"/v1/ops/faults/{action}"] = {"post": {
            "operationId": f"ops_fault_{action}", "tags": ["maintenance"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "pattern": RECORD_ID},
                    **({"resolution": {"type": "string", "pattern": api.REASON_CODE}} if action == "resolve"
                       else {})}}}}},
            "responses": {"200": _env(ref(api.FaultView)), **errors}}}
    return doc
