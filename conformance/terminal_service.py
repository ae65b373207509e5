"""Terminal tier, the service as a whole: health, envelope, OpenAPI, discovery (clauses 7.4.4, 8.1, 8.2)."""

from __future__ import annotations

from typing import Any

from gtsdk.modules import MODULES

from .framework import require
from .model import Tier
from .terminal_base import XFS_STATES, TerminalContext, check, envelope_ok, require_envelope


@check("service.health", "The service answers /v1/health over HTTPS without a token", Tier.BRONZE,
       refs={"8.1": "基于HTTPS协议"}, budget=15)
def service_health(ctx: TerminalContext) -> dict[str, Any]:
    r = ctx.get("/v1/health", token=False)
    require(r.status == 200, f"HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "/v1/health")
    require(r.code == "success", f"code {r.code}")
    return {"reply": r.evidence()}


@check("service.envelope", "One UTF-8 JSON envelope {code,message,requestId,data}; the request id echoed, "
       "or one made up when none was sent", Tier.BRONZE, refs={"8.2": "统一采用UTF-8进行编码"}, budget=15)
def service_envelope(ctx: TerminalContext) -> dict[str, Any]:
    rid = ctx.new_id("conf-envelope")
    r = ctx.get("/v1/services", request_id=rid)
    require_envelope(r, "/v1/services")
    require(r.body["requestId"] == rid, "requestId not echoed", reply=r.evidence())
    require(r.headers.get("x-request-id") == rid, "X-Request-Id header not echoed")
    ctype = r.headers.get("content-type", "")
    require(ctype.startswith("application/json"), f"Content-Type {ctype!r}")
    require("charset" not in ctype.lower() or "utf-8" in ctype.lower(), f"not UTF-8: {ctype}")
    bare = ctx.get("/v1/services", request_id=False)
    require(envelope_ok(bare) and isinstance(bare.body.get("requestId"), str) and bare.body["requestId"],
            "a request without X-Request-Id got no requestId", reply=bare.evidence())
    require(bare.headers.get("x-request-id") == bare.body["requestId"],
            "the made-up request id differs between header and body", reply=bare.evidence())
    err = ctx.get("/v1/nosuchmodule/status")
    require(envelope_ok(err) and err.code != "success" and err.status >= 400,
            "an unknown route is not answered with an error envelope", reply=err.evidence())
    return {"reply": r.evidence(), "generated_id": bare.body["requestId"]}


@check("service.openapi", "The OpenAPI document lists every operation with its request and response schema",
       Tier.BRONZE, refs={"8.2": "JSON Schema", "6.4.4 a": "参数字段、返回结构"}, budget=15)
def service_openapi(ctx: TerminalContext) -> dict[str, Any]:
    require(str(ctx.openapi.get("openapi", "")).startswith("3."), "no OpenAPI 3 document at /openapi.json")
    paths = ctx.openapi.get("paths", {})
    missing, incomplete = [], []
    for m in ctx.modules:
        for op in MODULES[m].operations:
            entry = paths.get(f"/v1/{m}/{op}", {}).get("post")
            if not isinstance(entry, dict):
                missing.append(f"/v1/{m}/{op}")
                continue
            ok = entry.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
            if "schema" not in ok or "requestBody" not in entry:
                incomplete.append(f"/v1/{m}/{op}")
    require(not missing, f"operations missing from OpenAPI: {missing[:10]}")
    require(not incomplete, f"operations without a request or response schema: {incomplete[:10]}")
    return {"paths": len(paths)}


@check("service.discovery", "Discovery lists every module with its state and the contract's operations",
       Tier.BRONZE, refs={"7.4.4": "调用地址及调用方式"}, budget=15)
def service_discovery(ctx: TerminalContext) -> dict[str, Any]:
    require(bool(ctx.services), "GET /v1/services listed no modules")
    bad = [s for s in ctx.services if s.get("state") not in XFS_STATES]
    require(not bad, "entries without a valid XFS state", entries=bad[:3])
    wrong: dict[str, Any] = {}
    for s in ctx.services:
        m = s.get("module") or s.get("id")
        ops = s.get("operations")
        if m in ctx.modules and isinstance(ops, list):
            names = {o.get("name") for o in ops if isinstance(o, dict)}
            lacking = [op for op in MODULES[m].operations if op not in names]
            if lacking:
                wrong[str(m)] = lacking
    require(not wrong, f"discovery omits contract operations: {wrong}")
    return {"modules": [s.get("module") or s.get("id") for s in ctx.services]}
