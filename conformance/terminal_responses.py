"""Terminal tier, promises kept on every response (clauses 7.2, 8.2, 8.3, 9.2.2 b, 9.3.2, 9.3.3 b).

These checks run last: each sends a few probes of its own and then reports what the
:class:`~gtsdk.conformance.observer.Observer` saw on every reply of the whole run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gtsdk.modules import MODULES

from . import pii, samples
from .framework import Fail, NotRun, clock, require
from .model import Tier
from .observer import FOREIGN_ORIGIN, has_cjk
from .terminal_base import Reply, TerminalContext, check

#: an 18-digit citizen number (GB 11643 check digit valid) the certifier sends where it does not belong
PII_PROBE = "11010519491231002X"


def _report(ctx: TerminalContext, invariant: str, what: str) -> dict[str, Any]:
    seen, bad = ctx.observer.seen(invariant), ctx.observer.count(invariant)
    examples = [v.wire() for v in ctx.observer.violations(invariant)]
    if bad:
        kinds: dict[str, str] = {}  # the first example of each kind of problem
        for e in examples:
            kinds.setdefault(str(e["problem"])[:40], f"{e['where']}: {e['problem']}")
        raise Fail(f"{bad} problems in {seen} replies with {what}: " + " | ".join(list(kinds.values())[:3]),
                   examples=examples)
    return {"replies_checked": seen}


@check("responses.envelope", "Every reply: the envelope, the request id sent, a catalogue code, one HTTP status "
       "per code", Tier.BRONZE, refs={"8.2": "数据采用JSON格式表示"}, budget=10)
def responses_envelope(ctx: TerminalContext) -> dict[str, Any]:
    return _report(ctx, "envelope", "the envelope")


@check("responses.schema", "Every reply validates against the service's own OpenAPI document "
       "(additionalProperties included)", Tier.BRONZE, refs={"8.2": "符合相应的JSON Schema"}, budget=10)
def responses_schema(ctx: TerminalContext) -> dict[str, Any]:
    if not ctx.observer.openapi:
        raise Fail("no OpenAPI document to hold the replies to")
    return _report(ctx, "schema", "their published schema")


@check("responses.language", "Chinese by default (no Accept-Language), English when asked for, on every reply",
       Tier.BRONZE, refs={"7.2": "中/英文操作界面"}, budget=15)
def responses_language(ctx: TerminalContext) -> dict[str, Any]:
    probes = {}
    for label, lang, english in (("none", None, False), ("en", "en", True), ("en-US", "en-US,en;q=0.9", True),
                                 ("zh-CN", "zh-CN", False), ("zh preferred", "en;q=0.1, zh-CN;q=0.9", False)):
        headers = {"Accept-Language": lang} if lang else {}
        for path in ("/v1/nosuchmodule/status", "/v1/services"):
            r = ctx.get(path, headers=headers)
            msg = r.body.get("message", "") if isinstance(r.body, dict) else ""
            probes[f"{label} {path}"] = msg
            require(isinstance(msg, str) and bool(msg) and has_cjk(msg) != english,
                    f"Accept-Language {lang!r}: message {msg!r} is not in {'English' if english else 'Chinese'}",
                    reply=r.evidence())
    out = _report(ctx, "language", "the language asked for (Chinese when none)")
    return {**out, "probes": probes}


def _ws_foreign(ctx: TerminalContext) -> str | None:
    """What happened when a foreign page opened the event stream (None: refused)."""
    try:
        stream, first = ctx.events(None, origin=FOREIGN_ORIGIN)
    except Fail:
        return None  # handshake refused
    try:
        if isinstance(first, dict) and first.get("type") == "hello":
            return "the event stream said hello to a foreign origin"
        return None
    finally:
        stream.close()


@check("responses.cors", "CORS and Private Network Access on every reply: never a wildcard, never a foreign "
       "origin (nor with credentials); foreign pages refused on the event stream too", Tier.GOLD,
       refs={"8.3": "禁止局域网内其他计算机的访问", "9.2.2 b": "越权访问"}, budget=20)
def responses_cors(ctx: TerminalContext) -> dict[str, Any]:
    m = next((x for x in ctx.modules if x not in ctx.stalled), None)
    probes: dict[str, Any] = {}
    own: list[Reply] = []
    if m is not None:
        op = next(iter(MODULES[m].operations))
        for origin in (FOREIGN_ORIGIN, "null", *([ctx.origin] if ctx.origin else [])):
            r = ctx.get(f"/v1/{m}/status", headers={"Origin": origin}, module=m)
            probes[f"GET status from {origin}"] = r.status
            r2 = ctx.post(f"/v1/{m}/{op}", {"noSuchField": 1}, headers={"Origin": origin}, module=m)
            probes[f"POST {op} from {origin}"] = r2.status
            r3 = ctx.request("OPTIONS", f"/v1/{m}/{op}", token=False, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
                "Access-Control-Request-Private-Network": "true"})
            probes[f"preflight from {origin}"] = r3.status
            if origin == ctx.origin:
                own = [r, r3]
    ws = _ws_foreign(ctx)
    if ws is not None:
        raise Fail(ws)
    out = _report(ctx, "cors", "CORS / Private Network Access")
    if own:  # the kiosk's own page is let in (when the lab says which page that is)
        r, pre = own
        require(r.headers.get("access-control-allow-origin") == ctx.origin,
                f"the kiosk's own origin {ctx.origin} is not allowed", headers=dict(r.headers))
        require("origin" in r.headers.get("vary", "").lower(), "an origin-dependent reply without Vary: Origin",
                headers=dict(r.headers))
        require(pre.headers.get("access-control-allow-private-network", "").lower() == "true",
                "a Private Network Access preflight from the kiosk's own origin was not granted",
                headers=dict(pre.headers))
    return {**out, "probes": probes, "own_origin_checked": bool(own)}


@check("responses.personal_data", "No ID number, MRZ, passport number or card holder's name in any reply, header, "
       "error or event except the result of an operation declared to return personal data", Tier.GOLD,
       refs={"9.3.2 a": "个人隐私数据", "5": "严格限定数据采集范围"}, budget=40)
def responses_personal_data(ctx: TerminalContext) -> dict[str, Any]:
    probes = 0
    for m in ctx.modules:
        if m in ctx.stalled:
            continue
        for op in MODULES[m].operations:
            for body in ({"noSuchField": PII_PROBE, "mrz": samples.SPECIMEN_MRZ.replace("\n", " ")},
                         {**samples.sample(m, op), "timeout": PII_PROBE}):
                ctx.post(f"/v1/{m}/{op}", body, module=m)
                probes += 1
    ctx.get(f"/v1/nosuch{PII_PROBE}/status")
    out = _report(ctx, "personalData", "the personal-data rule")
    return {**out, "probes": probes, "names_known": len(pii.KNOWN.terms())}


@check("audit.personal_data", "The audit export keeps the operations traceable without personal data in clear",
       Tier.GOLD, refs={"9.3.3 b": "操作日志", "9.3.2 a": "个人隐私数据"}, budget=30)
def audit_personal_data(ctx: TerminalContext) -> dict[str, Any]:
    if not ctx.maintenance_token:
        raise NotRun("the audit export is a maintenance route", "a maintenance token")
    m = next((x for x in ctx.modules if x not in ctx.stalled), None)
    rid = ctx.new_id("conf-audit")
    if m is not None:  # one operation of our own, to find in the export
        op, body = samples.touch(m)
        ctx.op(m, op, body, 1.0, request_id=rid)
    end = time.monotonic() + clock().cap(5.0)
    while True:
        rows = _export(ctx)
        ours = [r for r in rows if isinstance(r, dict) and r.get("requestId") == rid]
        if ours or m is None or time.monotonic() >= end:
            break
        clock().sleep(0.3)
    text = json.dumps(rows, ensure_ascii=False)
    found = ctx.observer.see_export("GET /v1/audit", text)
    require(not found, f"the audit export carries personal data: {'; '.join(str(f) for f in found[:5])}")
    require(m is None or bool(ours), f"the operation {rid} is not in the audit export ({len(rows)} rows)")
    return {"rows": len(rows), "ours": ours[:1]}


def _export(ctx: TerminalContext) -> list[Any]:
    rows: list[Any] = []
    after = 0
    while len(rows) < 20000:
        r = ctx.get(f"/v1/audit?limit=1000&afterId={after}", token=ctx.maintenance_token, wait=clock().cap(15))
        if r.status == 404 and not rows:
            raise NotRun("the terminal has no audit export at /v1/audit", "the audit export over HTTPS "
                         "(GET /v1/audit)")
        require(r.status == 200 and isinstance(r.data, dict), f"audit export: HTTP {r.status}", reply=r.evidence())
        batch = r.data.get("rows") or []
        rows += batch
        if len(batch) < 1000:
            break
        after = int(batch[-1].get("id") or after + len(batch))
    return rows
