"""Terminal tier, per module: status, capabilities, schemas, every operation end to end, illegal
and missing parameters, timeout, cancel, status after an unplug, statistics, two clients, latency
(clauses 6.4.4, 8.2, 8.4, 10.1.2.3, 10.2.2)."""

from __future__ import annotations

import statistics as stats
import threading
import time
from typing import Any

import httpx

from gtsdk.errors import info
from gtsdk.failures import carrying_on
from gtsdk.modules import MODULES

from . import samples, scenarios
from .framework import Fail, NotRun, clock, require
from .model import Tier
from .terminal_base import (
    HARDWARE,
    SOFTWARE,
    XFS_STATES,
    Reply,
    Stalled,
    TerminalContext,
    check,
    require_envelope,
    validate,
    wait_state,
)

#: seconds within which the status must follow the device (leave online after an unplug)
STATUS_FOLLOWS = 5.0
#: seconds a replugged device may take to be online again
RECOVERS = 20.0
#: status latency budget, and how far over the service's own baseline a loaded machine may put it
LATENCY_BUDGET_MS, LATENCY_OVER_BASE_MS = 250.0, 150.0
WAITING_ONLY = "{module} has no operation that waits for a person (clause 8.4)"
NO_DEVICE = "{module} is a software function (8.4 l image processing, 8.4 n soft keyboard): no device to unplug"


@check("module.status", "Status answers with an XFS device state", Tier.BRONZE,
       refs={"8.4": "接口功能", "10.2.2 d": "实时采集终端状态"}, budget=15, per_module=True)
def module_status(ctx: TerminalContext, m: str) -> dict[str, Any]:
    r = ctx.get(f"/v1/{m}/status", module=m)
    require(r.status == 200, f"HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "status")
    require(isinstance(r.data, dict) and r.data.get("state") in XFS_STATES, "no valid state", reply=r.evidence())
    return {"state": r.data["state"]}


def _capabilities(ctx: TerminalContext, m: str) -> dict[str, Any]:
    r = ctx.get(f"/v1/{m}/capabilities", module=m)
    require(r.status == 200 and isinstance(r.data, dict), f"capabilities: HTTP {r.status}", reply=r.evidence())
    return {str(o.get("name")): o for o in r.data.get("operations", []) if isinstance(o, dict)}


@check("module.capabilities", "Capabilities list every mandatory operation of 8.4 with the version its schema has, "
       "and only operations that exist", Tier.BRONZE, refs={"8.4": "接口功能", "7.4.4": "调用方式"}, budget=20,
       per_module=True)
def module_capabilities(ctx: TerminalContext, m: str) -> dict[str, Any]:
    ops = _capabilities(ctx, m)
    missing = [op for op in scenarios.mandatory(m) if not (ops.get(op) or {}).get("version")]
    require(not missing, f"mandatory operations missing or without a version: {missing}", listed=sorted(ops))
    paths = ctx.openapi.get("paths", {})
    extras = ("health",)  # checkHealth is listed as an operation of every module (UnifiedPOS)
    phantom = [op for op in ops if op not in extras and f"/v1/{m}/{op}" not in paths]
    require(not phantom, f"capabilities list operations the service does not have: {phantom}")
    versions = {}
    for op in ops:
        if op in extras or op not in MODULES[m].operations:
            continue
        sc = ctx.schema(m, op)
        versions[op] = ops[op].get("version")
        require(not sc.get("version") or sc.get("version") == ops[op].get("version"),
                f"{op}: capabilities say version {ops[op].get('version')}, its schema {sc.get('version')}")
    return {"operations": versions}


@check("module.schemas", "Each operation publishes request and response JSON Schemas", Tier.BRONZE,
       refs={"8.2": "JSON Schema"}, budget=20, per_module=True)
def module_schemas(ctx: TerminalContext, m: str) -> dict[str, Any]:
    import jsonschema  # type: ignore[import-untyped]

    out = {}
    for op in MODULES[m].operations:
        sc = ctx.schema(m, op)
        for part in ("request", "response"):
            require(isinstance(sc.get(part), dict), f"{op}: no {part} schema", schema=sc)
            try:
                jsonschema.Draft202012Validator.check_schema(sc[part])
            except jsonschema.SchemaError as e:
                raise Fail(f"{op}: the {part} schema is not a valid JSON Schema: {e.message[:200]}") from None
        out[op] = sorted(sc["request"].get("properties", {}))
    return {"request_fields": out}


def _result_evidence(ctx: TerminalContext, m: str, op: str, r: Reply) -> dict[str, Any]:
    if r.code == "success" and ctx.personal(m, op) and isinstance(r.data, dict):
        return {"status": r.status, "fields": sorted(r.data)}  # personal data stays out of the report
    return r.evidence()


@check("module.operations", "Every mandatory operation completes end to end with a result that validates and "
       "carries data; unsupportedCommand only for optional operations the capabilities do not list",
       Tier.BRONZE, refs={"8.4": "应满足如下接口功能要求", "6.4.4 a": "返回结构"}, budget=120, per_module=True)
def module_operations(ctx: TerminalContext, m: str) -> dict[str, Any]:
    listed = set(_capabilities(ctx, m))
    schemas = {op: ctx.schema(m, op) for op in MODULES[m].operations}

    def call(op: str, body: dict[str, Any], timeout: float) -> scenarios.Called:
        try:
            r = ctx.op(m, op, body, timeout)
        except Stalled as e:
            return scenarios.Called("noReply", detail=e.reason, seconds=timeout + ctx.slack)
        detail = ""
        if isinstance(r.data, dict) and r.code != "success":
            detail = str(r.data.get("detail") or "")
        return scenarios.Called(r.code or f"HTTP {r.status}", r.data, detail, r.elapsed_ms / 1000,
                                _result_evidence(ctx, m, op, r))

    def check_result(op: str, data: Any) -> str | None:
        if isinstance(data, dict) and "sealed" in data:
            return None  # sealed for the app's recipient: the envelope is checked against OpenAPI
        sc = schemas.get(op, {}).get("response")
        if not isinstance(sc, dict):
            return "no response schema"
        problem = validate(sc, data)
        return f"the result does not match its schema: {problem}" if problem else None

    verdicts = scenarios.run(m, call, lambda w: ctx.world(m, w), listed=listed, validate=check_result,
                             interactive=ctx.interactive, person=ctx.person(m))
    out = {v.op: v.summary() for v in verdicts}
    if m in ctx.stalled:
        raise Fail(ctx.stalled[m], operations=out)
    bad = [f"{v.op}: {v.problem}" for v in verdicts if v.problem]
    require(not bad, "; ".join(bad), operations=out, clause=MODULES[m].clause)
    waiting = [v for v in verdicts if v.needs]
    if waiting:
        raise NotRun("; ".join(f"{v.op} needs the world to change" for v in waiting), waiting[0].needs,
                     operations=out)
    return {"clause": MODULES[m].clause, "operations": out}


def _illegal_for(ctx: TerminalContext, m: str, op: str, failures: list[dict[str, Any]]) -> int:
    """Hypothesis-generated illegal requests for one operation; the last failure is the shrunk one."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    props = ctx.schema(m, op)["request"].get("properties", {})
    base = samples.sample(m, op)
    wrong = st.one_of(st.integers(), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.booleans())
    fields = st.sampled_from(sorted(props)) if props else st.just("timeout")
    extra = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12).filter(lambda k: k not in props)
    tried = 0

    @settings(max_examples=8, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(field=fields, value=wrong, unknown=extra, use_unknown=st.booleans())
    def prop(field: str, value: Any, unknown: str, use_unknown: bool) -> None:
        nonlocal tried
        tried += 1
        body = dict(base)
        if use_unknown:
            body[unknown] = 1
            expect = unknown
        else:
            ptype = props.get(field, {}).get("type")
            if ptype is None or (ptype == "integer" and isinstance(value, int) and not isinstance(value, bool)) or (
                    ptype == "boolean" and isinstance(value, bool)):
                return  # not actually wrong for this field
            body[field] = value
            expect = field
        r = ctx.post(f"/v1/{m}/{op}", body, module=m, wait=ctx.query_wait)
        got = (r.data or {}).get("field") if isinstance(r.data, dict) else None
        ok = r.status == 400 and r.code == "invalidData" and (got == expect or str(got).startswith(expect))
        if not ok:
            failures.append({"operation": op, "body": body, "reply": r.evidence()})
        assert ok

    prop()
    return tried


@check("module.illegal_parameters", "Illegal parameters (generated) give invalidData naming the field; shrunk",
       Tier.BRONZE, refs={"6.4.4 c": "非法参数", "9.2.2 b": "参数过滤"}, budget=60, per_module=True)
def module_illegal(ctx: TerminalContext, m: str) -> dict[str, Any]:
    failures: list[dict[str, Any]] = []
    tried = 0
    for op in MODULES[m].operations:
        try:
            tried += _illegal_for(ctx, m, op, failures)
        except AssertionError:
            raise Fail(f"{op}: illegal parameter not rejected as invalidData naming the field",
                       minimal_example=failures[-1] if failures else None) from None
    return {"examples": tried}


def _required(m: str) -> dict[str, list[str]]:
    spec = MODULES[m]
    out = {}
    for op, o in spec.operations.items():
        req = o.request.model_json_schema(by_alias=True).get("required", [])
        if req:
            out[op] = list(req)
    return out


@check("module.missing_data", "Missing required fields give invalidData naming one of them", Tier.BRONZE,
       refs={"6.4.4 c": "数据缺失"}, budget=20, per_module=True,
       modules=[m for m in MODULES if _required(m)],
       not_applicable="no operation of {module} has required fields in its contract")
def module_missing(ctx: TerminalContext, m: str) -> dict[str, Any]:
    out = {}
    for op, required in _required(m).items():
        published = ctx.schema(m, op)["request"].get("required", [])
        lacking = [f for f in required if f not in published]
        require(not lacking, f"{op}: the schema does not mark {lacking} required")
        r = ctx.post(f"/v1/{m}/{op}", {}, module=m)
        field_ = (r.data or {}).get("field") if isinstance(r.data, dict) else None
        require(r.status == 400 and r.code == "invalidData" and field_ in required,
                f"{op} without {required} gave HTTP {r.status} {r.code} field={field_}", reply=r.evidence())
        out[op] = field_
    return out


def _waiting(ctx: TerminalContext, m: str) -> str:
    op, remove = samples.WAITING[m]
    if remove:
        ctx.world(m, scenarios.World(remove, f"Make sure nothing is on the {m} device, then confirm"))
    return op


@check("module.timeout", "A waiting operation ends at the requested deadline (timeOut or noMedia)", Tier.SILVER,
       refs={"6.4.4 c": "接口超时"}, budget=20, per_module=True, modules=tuple(samples.WAITING),
       not_applicable=WAITING_ONLY)
def module_timeout(ctx: TerminalContext, m: str) -> dict[str, Any]:
    op = _waiting(ctx, m)
    r = ctx.op(m, op, samples.sample(m, op), 0.3)
    # timeOut is the catalogue's answer; a reader that reports "no card" at the deadline is accepted too
    require((r.code, r.status) in (("timeOut", 504), ("noMedia", 409)), f"got HTTP {r.status} {r.code}",
            reply=r.evidence())
    require(r.elapsed_ms < 2300, f"timeOut after {r.elapsed_ms:.0f} ms for a 300 ms deadline")
    state, _ = wait_state(ctx, m, lambda s: s == "online", 2.0)
    require(state == "online", f"device not online afterwards ({state})")
    return {"elapsed_ms": round(r.elapsed_ms, 1)}


@check("module.cancel", "A waiting operation is cancelled by request id and ends at once", Tier.SILVER,
       refs={"6.4.4 c": "容错机制"}, budget=25, per_module=True, modules=tuple(samples.WAITING),
       not_applicable=WAITING_ONLY)
def module_cancel(ctx: TerminalContext, m: str) -> dict[str, Any]:
    op = _waiting(ctx, m)
    rid = ctx.new_id("conf-cancel")
    box: dict[str, Any] = {}

    def waiting_call() -> None:
        try:
            box["r"] = ctx.op(m, op, samples.sample(m, op), 8.0, request_id=rid)
        except Fail as e:
            box["err"] = e.reason

    th = threading.Thread(target=waiting_call, daemon=True)
    th.start()
    clock().sleep(0.5)
    c = ctx.post(f"/v1/{m}/cancel", {"requestId": rid}, module=m)
    t0 = time.monotonic()
    th.join(clock().cap(3.0))
    ended = time.monotonic() - t0
    r: Reply | None = box.get("r")
    require(c.status == 200, f"cancel answered HTTP {c.status}", reply=c.evidence())
    require(not th.is_alive(), f"the operation was still running {ended:.1f} s after the cancel was acknowledged",
            cancel=c.evidence())
    require(r is not None and r.code == "canceled", f"operation ended with {r.code if r else box.get('err')}",
            reply=r.evidence() if r else None)
    assert r is not None
    return {"cancel": c.evidence(), "operation": r.evidence(), "ended_s_after_cancel": round(ended, 3)}


@check("module.status_truth", "Status follows the device: it leaves online after an unplug, operations fail "
       "with a catalogue code meanwhile, events agree, and it is online again after the replug", Tier.SILVER,
       refs={"10.2.2 d": "实时采集终端状态", "6.4.4 c": "网络中断"}, budget=60, per_module=True, modules=HARDWARE,
       not_applicable=NO_DEVICE)
def module_status_truth(ctx: TerminalContext, m: str) -> dict[str, Any]:
    unplug = scenarios.World(samples.UNPLUG, f"Unplug the {m} device, then confirm")
    replug = scenarios.World(samples.REPLUG, f"Plug the {m} device back in, then confirm")
    if not (ctx.sim_action(m, samples.UNPLUG) and ctx.sim_action(m, samples.REPLUG)) and not ctx.interactive:
        raise NotRun("needs the device to be unplugged and plugged back in", ctx.needs(unplug.question))
    state, _ = wait_state(ctx, m, lambda s: s == "online", 10.0)
    require(state == "online", f"the device is not online to begin with ({state})")
    stream, hello = ctx.events([m])
    events: list[dict[str, Any]] = []
    plugged = True
    try:
        require(isinstance(hello, dict) and hello.get("type") == "hello", "no hello on /v1/events", first=hello)
        how = ctx.world(m, unplug)
        plugged = False
        op, body = samples.touch(m)
        t0 = time.monotonic()
        codes = []
        while True:  # a device is noticed when used; one more request may be accepted before it is
            during = ctx.op(m, op, body, 3.0)
            codes.append(during.code)
            if during.code != "success" or time.monotonic() - t0 >= STATUS_FOLLOWS:
                break
            clock().sleep(0.2)
        require(during.code != "success", f"{op} kept succeeding on an unplugged device ({len(codes)} calls in "
                f"{STATUS_FOLLOWS:g} s)", reply=during.evidence())
        require(during.code is not None and info(during.code).code == during.code and
                during.code != "internalError", f"{op} on an unplugged device gave {during.code}",
                reply=during.evidence())
        gone, took = wait_state(ctx, m, lambda s: s != "online", max(0.5, STATUS_FOLLOWS - (time.monotonic() - t0)))
        require(gone != "online", f"status still online {took:.1f} s after the unplug")
        end = time.monotonic() + clock().cap(3.0)
        while time.monotonic() < end:
            e = stream.recv(end - time.monotonic())
            if e is None:
                break
            if e.get("type") == "event":
                events.append(e)
                if _status_event(e, m) == gone:
                    break
        changes = [s for s in (_status_event(e, m) for e in events) if s is not None]
        require(bool(changes), f"no statusChanged event for {m} after the unplug (status says {gone})",
                events=events)
        require(changes[-1] == gone, f"events and status disagree: the last event says {changes[-1]}, "
                f"status says {gone}", events=events)
        ctx.world(m, replug)
        plugged = True
        back, took_back = wait_state(ctx, m, lambda s: s == "online", RECOVERS)
        require(back == "online", f"not online again {took_back:.0f} s after the replug ({back})")
        end = time.monotonic() + clock().cap(3.0)
        came = None
        while time.monotonic() < end and came != "online":
            e = stream.recv(end - time.monotonic())
            if e is None:
                break
            if e.get("type") == "event":
                events.append(e)
                came = _status_event(e, m) or came
        require(came == "online", "no statusChanged event back to online after the replug", events=events)
    finally:
        stream.close()
        if not plugged:  # leave the terminal as it was found, whatever failed
            with carrying_on(m, "plugging the device back in after the check"):
                ctx.world(m, replug)
    return {"world": how, "codes_while_unplugged": codes, "state_while_unplugged": gone,
            "left_online_after_s": round(took, 2), "online_again_after_s": round(took_back, 2),
            "events": [{k: e.get(k) for k in ("seq", "event", "data")} for e in events]}


def _status_event(e: dict[str, Any], m: str) -> str | None:
    if e.get("module") != m or e.get("event") != "statusChanged" or not isinstance(e.get("data"), dict):
        return None
    state = e["data"].get("state")
    return state if isinstance(state, str) else None


@check("module.statistics", "Statistics count every operation and every failure", Tier.SILVER,
       refs={"10.1.2.3 b": "功能使用量和故障情况", "10.2.2 d": "业务成功率"}, budget=30, per_module=True)
def module_statistics(ctx: TerminalContext, m: str) -> dict[str, Any]:
    end = time.monotonic() + clock().cap(10)
    while time.monotonic() < end:  # earlier checks' operations finish (and are counted) first
        st = ctx.get(f"/v1/{m}/status", module=m)
        if not (isinstance(st.data, dict) and st.data.get("busy")):
            break
        clock().sleep(0.1)
    clock().sleep(0.3)

    def counters() -> dict[str, Any]:
        r = ctx.get(f"/v1/{m}/statistics", module=m)
        require(r.status == 200 and isinstance(r.data, dict), f"statistics: HTTP {r.status}", reply=r.evidence())
        return r.data  # type: ignore[no-any-return]

    before = counters()
    op, body = samples.touch(m)
    codes = []
    # a waiting operation's outcome does not matter, only that it is counted: as short a deadline as module.timeout's
    wait = 0.3 if m in samples.WAITING else 1.0
    for _ in range(2):
        codes.append(ctx.op(m, op, body, wait).code)
    clock().sleep(0.2)
    after = counters()
    failed = sum(1 for c in codes if c != "success")

    def delta(key: str) -> int:
        return int(after.get(key) or 0) - int(before.get(key) or 0)

    by_op = int((after.get("byOperation") or {}).get(op, 0)) - int((before.get("byOperation") or {}).get(op, 0))
    require(delta("operations") == 2, f"2 operations ({op}: {codes}) counted as {delta('operations')}",
            before=before, after=after)
    require(by_op == 2, f"byOperation[{op}] went up by {by_op}, not 2", before=before, after=after)
    require(delta("failures") == failed, f"{failed} failures counted as {delta('failures')}", before=before,
            after=after)
    return {"operation": op, "codes": codes, "before": before, "after": after}


@check("module.multi_client", "Two clients at once: every reply carries its own requestId (no cross-talk)",
       Tier.GOLD, refs={"6.4.4 b": "数据流转完整性"}, budget=30, per_module=True)
def module_multi_client(ctx: TerminalContext, m: str) -> dict[str, Any]:
    errors: list[str] = []

    def client(tag: str) -> None:
        with httpx.Client(base_url=ctx.target, verify=ctx.ssl_context(), timeout=ctx.query_wait) as c:
            for i in range(10):
                rid = f"conf-{tag}-{i}-{time.monotonic_ns() % 10**9}"
                try:
                    r = ctx.request("GET", f"/v1/{m}/status", request_id=rid, client=c, module=m)
                except Fail as e:
                    errors.append(e.reason)
                    return
                got = r.body.get("requestId") if isinstance(r.body, dict) else None
                if got != rid:
                    errors.append(f"{rid} → {got}")

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(clock().cap(25))
    require(not errors, "replies carried another request's id", mismatches=errors[:5])
    return {"requests": 20}


@check("module.latency", "Status answers at once while an operation holds the device: p99 under 250 ms, or "
       "within 150 ms of the service's own baseline (/v1/health, measured alongside)", Tier.GOLD,
       refs={"10.2.2 d": "网络延迟"}, budget=30, per_module=True)
def module_latency(ctx: TerminalContext, m: str) -> dict[str, Any]:
    holder, held, held_throughout = None, ctx.new_id("conf-hold"), False
    if m in samples.WAITING and m not in SOFTWARE:  # a waiting operation holds the queue: status must not queue
        op = samples.WAITING[m][0]

        def hold() -> None:
            try:
                ctx.op(m, op, samples.sample(m, op), 3.0, request_id=held)
            except Fail:
                pass

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        clock().sleep(0.2)
    status_ms, base_ms = [], []
    for _ in range(30):  # interleaved, so a loaded machine slows both alike
        r = ctx.get(f"/v1/{m}/status", module=m)
        if r.status == 200:
            status_ms.append(r.elapsed_ms)
        b = ctx.get("/v1/health", token=False)
        if b.status == 200:
            base_ms.append(b.elapsed_ms)
    if holder is not None:
        held_throughout = holder.is_alive()
        # measured: end the hold now rather than at its deadline (a service without cancel just lets it run out)
        ctx.post(f"/v1/{m}/cancel", {"requestId": held}, module=m)
        holder.join(clock().cap(6))
    require(len(status_ms) >= 20 and len(base_ms) >= 20, "too few successful replies")
    p99, base = _p99(status_ms), _p99(base_ms)
    require(p99 < max(LATENCY_BUDGET_MS, base + LATENCY_OVER_BASE_MS),
            f"status p99 {p99:.0f} ms (the service's own /v1/health: {base:.0f} ms)")
    return {"p50_ms": round(stats.median(status_ms), 2), "p99_ms": round(p99, 2), "health_p99_ms": round(base, 2),
            "while_operation_ran": holder is not None and held_throughout}


def _p99(ms: list[float]) -> float:
    ms = sorted(ms)
    return ms[max(0, int(len(ms) * 0.99) - 1)]
