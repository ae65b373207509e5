"""Terminal tier: a running service, black box over HTTPS (clauses 6.4.4, 8, 9.2).

The target need not be gtsdk: everything is learnt from the service itself
(discovery, OpenAPI, per-operation JSON Schemas).  Where a check needs the
physical world to change ("put the card on the reader"), a maintenance token
lets the suite drive a simulated terminal through ``/v1/sim/<module>``;
otherwise ``interactive`` asks an operator, and without either the check is
reported as not run — never as passed.
"""

from __future__ import annotations

import json
import socket
import ssl
import statistics as stats
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from gtsdk.errors import info
from gtsdk.modules import MODULES

from . import samples
from .framework import Fail, NotRun, Registry, require, run
from .model import CheckResult, Report, Tier

checks = Registry()
check = checks.check

ENVELOPE_KEYS = {"code", "message", "requestId", "data"}
XFS_STATES = {"online", "offline", "powerOff", "noDevice", "hardwareError", "userError", "deviceBusy",
              "fraudAttempt", "potentialFraud", "starting"}
#: an 18-digit citizen number that must never come back in an error (GB 11643 check digit valid)
PII_PROBE = "11010519491231002X"
INJECTIONS = ["' OR '1'='1' --", "<script>alert(1)</script>", "../../../../etc/passwd", "${jndi:ldap://x/a}",
              "\u0000\u202e", "A" * 100_000, "; rm -rf / #", "{{7*7}}"]


@dataclass
class Reply:
    status: int
    body: Any
    headers: httpx.Headers
    elapsed_ms: float

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None

    def evidence(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "ms": round(self.elapsed_ms, 1)}


@dataclass
class TerminalContext:
    target: str
    token: str
    maintenance_token: str | None = None
    ca: Path | None = None
    interactive: bool = False
    ask: Callable[[str], bool] | None = None
    modules: list[str] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    openapi: dict[str, Any] = field(default_factory=dict)
    sim_actions: dict[str, dict[str, str]] = field(default_factory=dict)
    respect_rate_limit: bool = True
    _client: httpx.Client | None = None

    # ---- HTTP ------------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else ssl.create_default_context()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.target, verify=self.ssl_context(), timeout=30)
        return self._client

    def request(self, method: str, path: str, body: Any = None, *, token: str | bool | None = True,
                headers: dict[str, str] | None = None, raw: bytes | None = None, timeout: float = 30) -> Reply:
        h = {"Accept-Language": "en", **(headers or {})}
        tok = self.token if token is True else (token or None)
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        content = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None
                                               else None)
        if content is not None:
            h.setdefault("Content-Type", "application/json")
        t0 = time.perf_counter()
        r = self.client.request(method, path, content=content, headers=h, timeout=timeout)
        for _ in range(5):  # a conformant service rate-limits us too: honour Retry-After (checked on its own)
            if r.status_code != 429 or not self.respect_rate_limit:
                break
            time.sleep(min(float(r.headers.get("retry-after", "1") or 1), 5.0))
            t0 = time.perf_counter()
            r = self.client.request(method, path, content=content, headers=h, timeout=timeout)
        ms = (time.perf_counter() - t0) * 1000
        try:
            payload: Any = r.json()
        except ValueError:
            payload = r.text[:500]
        return Reply(r.status_code, payload, r.headers, ms)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, {} if body is None else body, **kw)

    # ---- the world ---------------------------------------------------------------------------------
    def sim(self, module: str, action: str, params: dict[str, Any] | None = None) -> Reply:
        return self.post(f"/v1/sim/{module}", {"action": action, "params": params or {}},
                         token=self.maintenance_token)

    def sim_action(self, module: str, candidates: tuple[str, ...]) -> str | None:
        return samples.find_action(self.sim_actions.get(module, {}), candidates)

    def world(self, module: str, candidates: tuple[str, ...], question: str, params: dict[str, Any] | None = None,
              ) -> str:
        """Make something happen: through the simulator, or by asking the operator."""
        act = self.sim_action(module, candidates)
        if act is not None:
            r = self.sim(module, act, params)
            require(r.status == 200, f"simulator action {act} failed", reply=r.evidence())
            return f"sim:{act}"
        if self.interactive and self.ask is not None:
            if not self.ask(question):
                raise Fail(f"operator answered no: {question}")
            return "operator"
        raise NotRun(f"needs a person ({question}); run with --interactive or against a simulator")

    def schema(self, module: str, op: str) -> dict[str, Any]:
        r = self.get(f"/v1/schemas/{module}/{op}")
        require(r.status == 200 and isinstance(r.data, dict), f"no schema for {module}.{op}", reply=r.evidence())
        return r.data  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def envelope_ok(r: Reply) -> bool:
    return isinstance(r.body, dict) and set(r.body) >= ENVELOPE_KEYS and isinstance(r.body["code"], str)


def require_envelope(r: Reply, what: str) -> None:
    require(envelope_ok(r), f"{what}: not the standard envelope", reply=r.evidence())
    require(info(r.code or "").code == r.code, f"{what}: {r.code!r} is not a catalogue code", reply=r.evidence())


def require_no_5xx(r: Reply, what: str) -> None:
    require(r.status < 500 or (r.status in (503, 504) and envelope_ok(r)),
            f"{what}: HTTP {r.status}", reply=r.evidence())


def validate(schema: dict[str, Any], instance: Any) -> str | None:
    import jsonschema

    try:
        jsonschema.validate(instance, schema)
    except jsonschema.ValidationError as e:
        return f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
    return None


def _host_port(target: str) -> tuple[str, int]:
    u = urlparse(target)
    return u.hostname or "127.0.0.1", u.port or 8801


def _is_loopback_target(target: str) -> bool:
    host, _ = _host_port(target)
    return host in ("127.0.0.1", "localhost", "::1")


# ====================================================================== service checks
@check("service.health", "The service answers /v1/health without a token", "8.1", Tier.BRONZE)
def service_health(ctx: TerminalContext) -> dict[str, Any]:
    r = ctx.get("/v1/health", token=False)
    require(r.status == 200, f"HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "/v1/health")
    require(r.code == "success", f"code {r.code}")
    return {"reply": r.evidence()}


@check("service.envelope", "One UTF-8 JSON envelope {code,message,requestId,data}; requestId echoed", "8.2",
       Tier.BRONZE)
def service_envelope(ctx: TerminalContext) -> dict[str, Any]:
    rid = "conf-" + uuid.uuid4().hex[:12]
    r = ctx.get("/v1/services", headers={"X-Request-Id": rid})
    require_envelope(r, "/v1/services")
    require(r.body["requestId"] == rid, "requestId not echoed", reply=r.evidence())
    ctype = r.headers.get("content-type", "")
    require(ctype.startswith("application/json"), f"Content-Type {ctype!r}")
    require("charset" not in ctype.lower() or "utf-8" in ctype.lower(), f"not UTF-8: {ctype}")
    zh = ctx.get("/v1/nosuchmodule/status", headers={"Accept-Language": "zh-CN"})
    require(envelope_ok(zh) and any("\u4e00" <= ch <= "\u9fff" for ch in zh.body["message"]),
            "no Chinese message by default", reply=zh.evidence())
    return {"reply": r.evidence()}


@check("service.openapi", "OpenAPI document lists every module operation (JSON Schema)", "8.2", Tier.BRONZE)
def service_openapi(ctx: TerminalContext) -> dict[str, Any]:
    require(str(ctx.openapi.get("openapi", "")).startswith("3."), "no OpenAPI 3 document at /openapi.json")
    paths = ctx.openapi.get("paths", {})
    missing = [f"/v1/{m}/{op}" for m in ctx.modules for op in MODULES[m].operations if f"/v1/{m}/{op}" not in paths]
    require(not missing, f"operations missing from OpenAPI: {missing[:10]}")
    return {"paths": len(paths)}


@check("service.discovery", "Discovery lists every module with its state and versions", "7.4.4", Tier.BRONZE)
def service_discovery(ctx: TerminalContext) -> dict[str, Any]:
    require(bool(ctx.services), "GET /v1/services listed no modules")
    bad = [s for s in ctx.services if not isinstance(s, dict) or s.get("state") not in XFS_STATES]
    require(not bad, "entries without a valid XFS state", entries=bad[:3])
    return {"modules": [s.get("module") or s.get("id") for s in ctx.services]}


# ====================================================================== security
@check("security.tls_versions", "TLS 1.2+ only: TLS 1.0/1.1 handshakes are refused", "9.2.1 a", Tier.GOLD)
def security_tls(ctx: TerminalContext) -> dict[str, Any]:
    host, port = _host_port(ctx.target)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # deliberately offering deprecated versions
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    accepted = None
    try:
        with socket.create_connection((host, port), timeout=5) as s, old.wrap_socket(s) as t:
            accepted = t.version()
    except (ssl.SSLError, OSError):
        pass
    require(accepted is None, f"the service accepted a {accepted} handshake")
    with socket.create_connection((host, port), timeout=5) as s, ctx.ssl_context().wrap_socket(
            s, server_hostname=host) as t:
        version = t.version()
    return {"negotiated": version}


@check("security.certificate", "Certificate chains to the terminal CA and names the loopback address", "9.2.1 b",
       Tier.GOLD)
def security_certificate(ctx: TerminalContext) -> dict[str, Any]:
    if ctx.ca is None:
        raise NotRun("give --ca (the terminal's CA certificate) to check the chain")
    from cryptography import x509

    host, port = _host_port(ctx.target)
    with socket.create_connection((host, port), timeout=5) as s, ctx.ssl_context().wrap_socket(
            s, server_hostname=host) as t:
        der = t.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    require("127.0.0.1" in ips, f"certificate SAN has no 127.0.0.1: {ips}")
    return {"subject": cert.subject.rfc4514_string(), "san_ips": ips,
            "not_after": cert.not_valid_after_utc.isoformat()}


@check("security.plain_http_refused", "Plain HTTP on the service port is refused, not redirected", "8.3 / 9.2.1 a",
       Tier.GOLD)
def security_plain_http(ctx: TerminalContext) -> dict[str, Any]:
    host, port = _host_port(ctx.target)
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
            s.settimeout(3)
            while len(answer) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        pass
    status = answer[:12].decode("latin-1", "replace")
    require(not (answer.startswith(b"HTTP/") and status[9:10] in ("2", "3")),
            f"plain HTTP was answered: {status!r}")
    return {"answer_prefix": answer[:40].decode("latin-1", "replace")}


def _listening(port: int) -> list[str]:
    """Local addresses with a LISTEN socket on *port* (from /proc/net/tcp{,6})."""
    out = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":  # 0A = LISTEN
                continue
            addr_hex, port_hex = parts[1].split(":")
            if int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr_hex)
            if v6:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                out.append(socket.inet_ntop(socket.AF_INET6, words))
            else:
                out.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
    return out


@check("security.loopback_only", "The service listens on loopback only (no access from the LAN)", "8.3",
       Tier.GOLD)
def security_loopback(ctx: TerminalContext) -> dict[str, Any]:
    if not _is_loopback_target(ctx.target):
        raise NotRun("run the suite on the terminal itself (target on 127.0.0.1) to check the listening addresses")
    _, port = _host_port(ctx.target)
    addrs = _listening(port)
    if not addrs:
        raise NotRun("cannot see the listening sockets (/proc/net/tcp unreadable or another network namespace)")
    wide = [a for a in addrs if a not in ("127.0.0.1", "::1") and not a.startswith("127.")]
    require(not wide, f"listening on non-loopback addresses {wide} (reachable from the LAN)")
    return {"listening": addrs}


@check("security.auth_required", "Every route but /v1/health needs a valid bearer token (401)", "9.2.2 b",
       Tier.BRONZE)
def security_auth(ctx: TerminalContext) -> dict[str, Any]:
    seen = {}
    for m in ctx.modules[:3]:
        op = next(iter(MODULES[m].operations))
        for path, method in ((f"/v1/{m}/status", "GET"), (f"/v1/{m}/{op}", "POST")):
            for label, tok in (("none", False), ("bogus", "gtsdk-not-a-real-token")):
                r = ctx.request(method, path, {} if method == "POST" else None, token=tok)
                require(r.status == 401, f"{method} {path} with {label} token gave HTTP {r.status}",
                        reply=r.evidence())
                require_envelope(r, path)
                seen[f"{method} {path} {label}"] = r.code
    return {"codes": seen}


@check("security.scopes", "An app token cannot use maintenance routes (403)", "9.2.2 b", Tier.GOLD)
def security_scopes(ctx: TerminalContext) -> dict[str, Any]:
    m = ctx.modules[0] if ctx.modules else "idcard"
    r = ctx.post(f"/v1/sim/{m}", {"action": "noop", "params": {}})
    r2 = ctx.get("/v1/audit")
    for rr in (r, r2):
        require(rr.status in (403, 404), f"maintenance route answered an app token with HTTP {rr.status}",
                reply=rr.evidence())
    require(403 in (r.status, r2.status), "no maintenance route found that says 403 to an app token")
    return {"sim": r.status, "audit": r2.status}


@check("security.oversized_body", "Oversized bodies are rejected with a catalogue code, no 5xx", "9.2.2 b",
       Tier.BRONZE)
def security_oversized(ctx: TerminalContext) -> dict[str, Any]:
    m = ctx.modules[0]
    op = next(iter(MODULES[m].operations))
    big = b'{"x":"' + b"A" * (8 * 1024 * 1024) + b'"}'
    try:
        r = ctx.request("POST", f"/v1/{m}/{op}", raw=big, timeout=60)
    except httpx.HTTPError as e:  # closing the connection on a huge body is a refusal too
        return {"closed": type(e).__name__}
    require(r.status in (400, 413), f"8 MiB body gave HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "oversized body")
    return {"reply": r.evidence()}


@check("security.injection", "Injection-style and malformed inputs are rejected without 5xx", "9.2.2 b",
       Tier.SILVER)
def security_injection(ctx: TerminalContext) -> dict[str, Any]:
    seen: dict[str, int] = {}
    targets = [(m, op) for m in ctx.modules for op in MODULES[m].operations][:6]
    for m, op in targets:
        for i, s in enumerate(INJECTIONS):
            body = {**samples.sample(m, op), "noSuchField": s}
            r = ctx.post(f"/v1/{m}/{op}", body, timeout=10)
            require_no_5xx(r, f"{m}.{op} injection #{i}")
            require(envelope_ok(r), f"{m}.{op} injection #{i}: no envelope", reply=r.evidence())
            seen[f"{m}.{op}#{i}"] = r.status
        for raw in (b"{", b"[]", b"\xff\xfe", b'{"a":1,"a":2}', b"null", b'{"timeout": 1e999}'):
            r = ctx.request("POST", f"/v1/{m}/{op}", raw=raw, timeout=10)
            require(r.status == 400 and envelope_ok(r), f"{m}.{op} malformed body {raw!r} gave HTTP {r.status}",
                    reply=r.evidence())
        for path in (f"/v1/{m}/../../etc/passwd", f"/v1/{m}/%00", f"/v1/{m}/" + "x" * 5000):
            r = ctx.get(path)
            require_no_5xx(r, path[:60])
    return {"statuses": seen}


@check("security.no_personal_data_in_errors", "Error replies never echo personal data", "9.3.2 / 5", Tier.GOLD)
def security_pii(ctx: TerminalContext) -> dict[str, Any]:
    probes = 0
    for m in ctx.modules:
        for op in MODULES[m].operations:
            for body in ({"noSuchField": PII_PROBE}, {**samples.sample(m, op), "timeout": PII_PROBE},
                         {"mrz": PII_PROBE * 20}, {"text": PII_PROBE, "idNumber": PII_PROBE}):
                r = ctx.post(f"/v1/{m}/{op}", body, timeout=10)
                probes += 1
                if r.status == 200:
                    continue
                text = json.dumps(r.body, ensure_ascii=False)
                require(PII_PROBE not in text, f"{m}.{op} echoed an ID number in its error", reply=r.evidence())
    return {"probes": probes}


@check("security.rate_limit", "Per-token rate limiting answers 429 with Retry-After", "9.2.2 b", Tier.GOLD)
def security_rate_limit(ctx: TerminalContext) -> dict[str, Any]:
    m = ctx.modules[0]
    hit: list[Reply] = []
    sent = [0]
    stop = threading.Event()
    end = time.monotonic() + 20

    def hammer() -> None:
        with httpx.Client(base_url=ctx.target, verify=ctx.ssl_context(), timeout=10,
                          headers={"Authorization": f"Bearer {ctx.token}"}) as c:
            while not stop.is_set() and sent[0] < 3000 and time.monotonic() < end:
                sent[0] += 1
                t0 = time.perf_counter()
                r = c.get(f"/v1/{m}/status")
                if r.status_code == 429:
                    hit.append(Reply(429, r.json(), r.headers, (time.perf_counter() - t0) * 1000))
                    stop.set()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    if not hit:
        raise Fail(f"{sent[0]} requests in a burst from 8 connections were never rate limited")
    last = hit[0]
    require_envelope(last, "429")
    retry = last.headers.get("retry-after")
    require(retry is not None and retry.isdigit(), "429 without a Retry-After header", reply=last.evidence())
    time.sleep(min(int(retry or 1), 5) + 0.5)  # let the bucket refill
    return {"requests_before_429": sent[0], "retry_after": retry}


# ====================================================================== per module
@check("module.status", "Status answers with an XFS device state", "8.4", Tier.BRONZE, per_module=True)
def module_status(ctx: TerminalContext, m: str) -> dict[str, Any]:
    r = ctx.get(f"/v1/{m}/status")
    require(r.status == 200, f"HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "status")
    require(isinstance(r.data, dict) and r.data.get("state") in XFS_STATES, "no valid state", reply=r.evidence())
    return {"state": r.data["state"]}


@check("module.capabilities", "Capabilities list every operation of 8.4 with a version", "8.4", Tier.BRONZE,
       per_module=True)
def module_capabilities(ctx: TerminalContext, m: str) -> dict[str, Any]:
    r = ctx.get(f"/v1/{m}/capabilities")
    require(r.status == 200 and isinstance(r.data, dict), f"HTTP {r.status}", reply=r.evidence())
    ops = {o.get("name"): o.get("version") for o in r.data.get("operations", []) if isinstance(o, dict)}
    missing = [op for op in MODULES[m].operations if not ops.get(op)]
    require(not missing, f"operations missing or without version: {missing}", reply=r.evidence())
    return {"operations": ops}


@check("module.schemas", "Each operation publishes request and response JSON Schemas", "8.2", Tier.BRONZE,
       per_module=True)
def module_schemas(ctx: TerminalContext, m: str) -> dict[str, Any]:
    import jsonschema

    out = {}
    for op in MODULES[m].operations:
        sc = ctx.schema(m, op)
        for part in ("request", "response"):
            require(isinstance(sc.get(part), dict), f"{op}: no {part} schema", schema=sc)
            jsonschema.Draft202012Validator.check_schema(sc[part])
        out[op] = sorted(sc["request"].get("properties", {}))
    return {"request_fields": out}


def _prepare(ctx: TerminalContext, m: str, op: str) -> str:
    """Put the medium in place for a waiting operation (card, finger, code)."""
    prep: tuple[tuple[str, ...], str, dict[str, Any]] | None = {
        "idcard": (("insert_card", "insert"), "Place an ID card on the reader, then confirm", {}),
        "travel_doc": (("insert_card", "insert"), "Place the passport/permit on the reader, then confirm", {}),
        "fingerprint": (("place_finger", "finger_on", "place"), "Put a finger on the sensor, then confirm",
                        {"person": "conformance"}),
    }.get(m)
    if prep is None or samples.WAITING.get(m, ("",))[0] != op:
        return ""
    try:
        return ctx.world(m, prep[0], prep[1], prep[2])
    except NotRun:
        return ""


@check("module.operations", "Every operation: result valid against its schema, or a catalogue error", "8.4 / 6.4.4 a",
       Tier.BRONZE, per_module=True)
def module_operations(ctx: TerminalContext, m: str) -> dict[str, Any]:
    spec = MODULES[m]
    out: dict[str, Any] = {}
    for op in spec.operations:
        if op == spec.close_op:
            continue
        sc = ctx.schema(m, op)
        how = _prepare(ctx, m, op)
        waiting = samples.WAITING.get(m, ("",))[0] == op
        body = {**samples.sample(m, op), "timeout": 3000 if waiting and not how else 20000}
        if m == "qr_scanner" and op == "read" and ctx.sim_action(m, ("scan",)):
            threading.Timer(0.5, lambda: ctx.sim(m, "scan", {"text": "GT-CONFORMANCE-1"})).start()
        r = ctx.post(f"/v1/{m}/{op}", body, timeout=40)
        require_envelope(r, f"{m}.{op}")
        require_no_5xx(r, f"{m}.{op}") if r.code != "success" else None
        if r.code == "success":
            problem = validate(sc["response"], r.data)
            require(problem is None, f"{op}: response does not match its schema: {problem}")
        else:
            require(r.code != "internalError", f"{op}: internalError", reply=r.evidence())
        out[op] = {"code": r.code, "ms": round(r.elapsed_ms, 1), "world": how}
    return out


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
        r = ctx.post(f"/v1/{m}/{op}", body, timeout=10)
        got = (r.data or {}).get("field") if isinstance(r.data, dict) else None
        ok = r.status == 400 and r.code == "invalidData" and (got == expect or str(got).startswith(expect))
        if not ok:
            failures.append({"operation": op, "body": body, "reply": r.evidence()})
        assert ok

    prop()
    return tried


@check("module.illegal_parameters", "Illegal parameters (generated) give invalidData naming the field; shrunk",
       "6.4.4 c / 9.2.2 b", Tier.BRONZE, per_module=True)
def module_illegal(ctx: TerminalContext, m: str) -> dict[str, Any]:
    failures: list[dict[str, Any]] = []
    tried = 0
    for op in MODULES[m].operations:
        try:
            tried += _illegal_for(ctx, m, op, failures)
        except AssertionError:
            raise Fail(f"{op}: illegal parameter not rejected as invalidData naming the field",
                       minimal_example=failures[-1]) from None
    return {"examples": tried}


@check("module.missing_data", "Missing required fields give invalidData naming one of them", "6.4.4 c",
       Tier.BRONZE, per_module=True)
def module_missing(ctx: TerminalContext, m: str) -> dict[str, Any]:
    out = {}
    for op in MODULES[m].operations:
        required = ctx.schema(m, op)["request"].get("required", [])
        if not required:
            continue
        r = ctx.post(f"/v1/{m}/{op}", {})
        field_ = (r.data or {}).get("field") if isinstance(r.data, dict) else None
        require(r.status == 400 and r.code == "invalidData" and field_ in required,
                f"{op} without {required} gave HTTP {r.status} {r.code} field={field_}", reply=r.evidence())
        out[op] = field_
    if not out:
        raise NotRun("no operation of this module has required fields")
    return out


def _waiting(ctx: TerminalContext, m: str) -> str:
    entry = samples.WAITING.get(m)
    if entry is None:
        raise NotRun(f"{m} has no operation that waits for a person")
    op, remove = entry
    if remove:
        ctx.world(m, remove, f"Make sure nothing is on the {m} reader, then confirm")
    return op


@check("module.timeout", "A waiting operation ends at the requested deadline (timeOut or noMedia)", "6.4.4 c",
       Tier.SILVER, per_module=True, modules=tuple(samples.WAITING))
def module_timeout(ctx: TerminalContext, m: str) -> dict[str, Any]:
    op = _waiting(ctx, m)
    r = ctx.post(f"/v1/{m}/{op}", {**samples.sample(m, op), "timeout": 300}, timeout=20)
    # timeOut is the catalogue's answer; a reader that reports "no card" at the deadline is accepted too
    require((r.code, r.status) in (("timeOut", 504), ("noMedia", 409)), f"got HTTP {r.status} {r.code}",
            reply=r.evidence())
    require(r.elapsed_ms < 2300, f"timeOut after {r.elapsed_ms:.0f} ms for a 300 ms deadline")
    after = ctx.get(f"/v1/{m}/status")
    require(isinstance(after.data, dict) and after.data.get("state") == "online", "device not online afterwards",
            reply=after.evidence())
    return {"elapsed_ms": round(r.elapsed_ms, 1)}


@check("module.cancel", "A waiting operation is cancelled by request id", "6.4.4 c", Tier.SILVER,
       per_module=True, modules=tuple(samples.WAITING))
def module_cancel(ctx: TerminalContext, m: str) -> dict[str, Any]:
    op = _waiting(ctx, m)
    rid = "conf-cancel-" + uuid.uuid4().hex[:8]
    box: dict[str, Reply] = {}
    th = threading.Thread(target=lambda: box.setdefault("r", ctx.post(
        f"/v1/{m}/{op}", {**samples.sample(m, op), "timeout": 15000}, headers={"X-Request-Id": rid}, timeout=30)))
    th.start()
    time.sleep(0.5)
    c = ctx.post(f"/v1/{m}/cancel", {"requestId": rid})
    th.join(20)
    r = box.get("r")
    require(c.status == 200, f"cancel answered HTTP {c.status}", reply=c.evidence())
    require(r is not None and r.code == "canceled", f"operation ended with {r.code if r else None}",
            reply=r.evidence() if r else None)
    return {"cancel": c.evidence(), "operation": r.evidence() if r else None}


def _ws_url(ctx: TerminalContext) -> str:
    u = urlparse(ctx.target)
    return f"wss://{u.netloc}/v1/events"


class _Events:
    def __init__(self, ctx: TerminalContext, modules: list[str], since: int | None = None) -> None:
        from websockets.sync.client import connect

        self.attempts = 0
        while True:  # a client reconnects once, as the SDK clients do; the evidence says how often
            self.attempts += 1
            try:
                self._cm = connect(_ws_url(ctx), ssl=ctx.ssl_context(), open_timeout=15)
                self.ws = self._cm.__enter__()
                break
            except TimeoutError:
                if self.attempts >= 2:
                    raise Fail("the WebSocket handshake on /v1/events timed out twice") from None
        hello: dict[str, Any] = {"type": "auth", "token": ctx.token, "modules": modules}
        if since is not None:
            hello["since"] = since
        self.ws.send(json.dumps(hello))
        self.first = json.loads(self.ws.recv(timeout=30))

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = json.loads(self.ws.recv(timeout=max(0.05, end - time.monotonic())))
            except TimeoutError:
                return None
            if msg.get("type") == "event":
                return msg  # type: ignore[no-any-return]
        return None

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


@check("module.events", "Events are delivered with sequence numbers and resumed after a reconnect", "8.1 / 10.2.2 d",
       Tier.SILVER, per_module=True)
def module_events(ctx: TerminalContext, m: str) -> dict[str, Any]:
    unplug = ctx.sim_action(m, samples.UNPLUG)
    replug = ctx.sim_action(m, samples.REPLUG)
    if not (unplug and replug) and not ctx.interactive:
        raise NotRun("needs the device to change state (simulator unplug/replug, or --interactive)")
    ev = _Events(ctx, [m])
    try:
        require(ev.first.get("type") == "hello", "no hello message on /v1/events", first=ev.first)
        ctx.world(m, samples.UNPLUG, f"Unplug the {m} device, then confirm")
        op, body = samples.touch(m)
        ctx.post(f"/v1/{m}/{op}", body, timeout=15)  # the service notices the device is gone when it uses it
        e1 = ev.next_event(10)
        require(e1 is not None, "no event after the device was unplugged")
        assert e1 is not None
        seq = int(e1["seq"])
    finally:
        ev.close()
    ctx.world(m, samples.REPLUG, f"Plug the {m} device back in, then confirm")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = ctx.get(f"/v1/{m}/status")
        if isinstance(st.data, dict) and st.data.get("state") == "online":
            break
        time.sleep(0.2)
    resumed = _Events(ctx, [m], since=seq)
    try:
        e2 = resumed.next_event(5)
    finally:
        resumed.close()
    require(e2 is not None and int(e2["seq"]) > seq, "events missed while disconnected were not replayed",
            first=e1, resumed=e2)
    assert e2 is not None
    require(e2.get("module") == m, "replayed event of another module", event=e2)
    return {"first": e1, "replayed": e2, "connect_attempts": [ev.attempts, resumed.attempts]}


@check("module.multi_client", "Two clients at once: every reply carries its own requestId (no cross-talk)",
       "6.4.4 h", Tier.GOLD, per_module=True)
def module_multi_client(ctx: TerminalContext, m: str) -> dict[str, Any]:
    errors: list[str] = []

    def client(tag: str) -> None:
        with httpx.Client(base_url=ctx.target, verify=ctx.ssl_context(), timeout=30,
                          headers={"Authorization": f"Bearer {ctx.token}"}) as c:
            for i in range(10):
                rid = f"conf-{tag}-{i}"
                r = c.get(f"/v1/{m}/status", headers={"X-Request-Id": rid})
                body = r.json()
                if body.get("requestId") != rid:
                    errors.append(f"{rid} → {body.get('requestId')}")
                if r.status_code == 429:
                    time.sleep(1)

    threads = [threading.Thread(target=client, args=(t,)) for t in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    require(not errors, "replies carried another request's id", mismatches=errors[:5])
    return {"requests": 20}


@check("module.latency", "Status latency over TLS: p99 under 250 ms", "10.2.2 i", Tier.GOLD, per_module=True)
def module_latency(ctx: TerminalContext, m: str) -> dict[str, Any]:
    ms = []
    for _ in range(30):
        r = ctx.get(f"/v1/{m}/status")
        if r.status == 200:
            ms.append(r.elapsed_ms)
    require(len(ms) >= 20, "too few successful status replies")
    ms.sort()
    p99 = ms[int(len(ms) * 0.99) - 1]
    require(p99 < 250, f"status p99 {p99:.0f} ms")
    return {"p50_ms": round(stats.median(ms), 2), "p99_ms": round(p99, 2)}


# ====================================================================== runner
def discover(ctx: TerminalContext, wanted: list[str] | None) -> None:
    r = ctx.get("/v1/services")
    items = r.data if isinstance(r.data, list) else (r.data or {}).get("modules", []) if isinstance(r.data, dict) \
        else []
    ctx.services = [s for s in items if isinstance(s, dict)]
    # a module counts as present when a driver is configured for it (gtsdk says so in "driver"),
    # or, for services that do not say, when it is not reported as noDevice
    present = [s.get("module") or s.get("id") for s in ctx.services
               if (s["driver"] if "driver" in s else s.get("state") != "noDevice")]
    ctx.modules = [m for m in MODULES if m in present and (wanted is None or m in wanted)]
    o = ctx.get("/openapi.json")
    ctx.openapi = o.body if isinstance(o.body, dict) else {}
    if ctx.maintenance_token:
        s = ctx.get("/v1/sim", token=ctx.maintenance_token)
        listed = (s.data or {}).get("modules", []) if s.status == 200 and isinstance(s.data, dict) else []
        for mod in listed:
            info_ = ctx.get(f"/v1/sim/{mod}", token=ctx.maintenance_token)
            acts = info_.data.get("actions") if isinstance(info_.data, dict) else None
            if isinstance(acts, dict):
                ctx.sim_actions[str(mod)] = acts


def certify_terminal(target: str, token: str, *, maintenance_token: str | None = None, ca: Path | None = None,
                     modules: list[str] | None = None, only: list[str] | None = None, interactive: bool = False,
                     ask: Callable[[str], bool] | None = None,
                     progress: Callable[[CheckResult], None] | None = None) -> Report:
    from gtsdk import __version__

    if interactive and ask is None:
        import click

        def ask(q: str) -> bool:
            return click.confirm(q, default=True)

    ctx = TerminalContext(target.rstrip("/"), token, maintenance_token, ca, interactive, ask)
    report = Report(kind="terminal", target=target, tool=f"gtsdk {__version__}",
                    options={"interactive": interactive, "modules": modules, "simulator_control":
                             bool(maintenance_token)})
    try:
        discover(ctx, modules)
        report.environment = {"modules": ctx.modules, "simulated": sorted(ctx.sim_actions)}
        ordered = Registry()
        # the rate-limit check drains the token's budget: run it last
        ordered.checks = [c for c in checks.checks if c.id != "security.rate_limit"] + \
            [c for c in checks.checks if c.id == "security.rate_limit"]
        run(ordered, ctx, report, ctx.modules, only=only, progress=progress)
    finally:
        ctx.close()
    return report
