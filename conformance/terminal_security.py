"""Terminal tier, security: TLS, certificate, port, authentication, scopes, input filtering, rate limits
(clauses 8.3, 9.2.1, 9.2.2 b)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

from gtsdk.modules import MODULES

from . import samples
from .framework import Fail, NotApplicable, NotRun, clock, require
from .model import Tier
from .terminal_base import (
    Broken,
    Reply,
    TerminalContext,
    check,
    envelope_ok,
    host_port,
    is_loopback_target,
    require_envelope,
    require_no_5xx,
)

INJECTIONS = ["' OR '1'='1' --", "<script>alert(1)</script>", "../../../../etc/passwd", "${jndi:ldap://x/a}",
              "\u0000\u202e", "A" * 100_000, "; rm -rf / #", "{{7*7}}"]


@check("security.tls_versions", "TLS 1.2+ only: TLS 1.0/1.1 handshakes are refused", Tier.GOLD,
       refs={"9.2.1 a": "TLS/SSL"}, budget=20)
def security_tls(ctx: TerminalContext) -> dict[str, Any]:
    host, port = host_port(ctx.target)
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
        with socket.create_connection((host, port), timeout=clock().cap(5)) as s, old.wrap_socket(s) as t:
            accepted = t.version()
    except (ssl.SSLError, OSError):
        pass
    require(accepted is None, f"the service accepted a {accepted} handshake")
    with socket.create_connection((host, port), timeout=clock().cap(5)) as s, ctx.ssl_context().wrap_socket(
            s, server_hostname=host) as t:
        version = t.version()
    return {"negotiated": version}


@check("security.certificate", "The certificate chains to the terminal's own CA and names the loopback address",
       Tier.GOLD, refs={"9.2.1 b": "证书宜为自签证"}, budget=20)
def security_certificate(ctx: TerminalContext) -> dict[str, Any]:
    if ctx.ca is None:
        raise NotRun("the terminal's CA certificate was not given", "--ca (the terminal's CA certificate)")
    from cryptography import x509

    host, port = host_port(ctx.target)
    with socket.create_connection((host, port), timeout=clock().cap(5)) as s, ctx.ssl_context().wrap_socket(
            s, server_hostname=host) as t:
        der = t.getpeercert(binary_form=True)
    require(der is not None, "no peer certificate")
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    require("127.0.0.1" in ips, f"certificate SAN has no 127.0.0.1: {ips}")
    return {"subject": cert.subject.rfc4514_string(), "san_ips": ips,
            "not_after": cert.not_valid_after_utc.isoformat()}


@check("security.plain_http_refused", "Plain HTTP on the service port is refused, not answered or redirected",
       Tier.GOLD, refs={"9.2.1 a": "HTTPS", "8.1": "基于HTTPS协议"}, budget=20)
def security_plain_http(ctx: TerminalContext) -> dict[str, Any]:
    host, port = host_port(ctx.target)
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=clock().cap(5)) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
            s.settimeout(clock().cap(3))
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


@check("security.loopback_only", "The service listens on loopback only (no access from the LAN)", Tier.GOLD,
       refs={"8.3": "禁止局域网内其他计算机的访问"}, budget=10)
def security_loopback(ctx: TerminalContext) -> dict[str, Any]:
    if not is_loopback_target(ctx.target):
        raise NotRun("the target is not on this machine", "running the suite on the terminal itself "
                     "(target https://127.0.0.1:8801)")
    _, port = host_port(ctx.target)
    addrs = _listening(port)
    if not addrs:
        raise NotRun("cannot see the listening sockets", "/proc/net/tcp readable in the terminal's network "
                     "namespace")
    wide = [a for a in addrs if a not in ("127.0.0.1", "::1") and not a.startswith("127.")]
    require(not wide, f"listening on non-loopback addresses {wide} (reachable from the LAN)")
    return {"listening": addrs}


@check("security.auth_required", "Every route but /v1/health needs a valid bearer token (401)", Tier.BRONZE,
       refs={"9.2.2 b": "实施鉴权"}, budget=20)
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


@check("security.scopes", "An app token cannot use maintenance routes (403)", Tier.GOLD,
       refs={"9.2.2 b": "越权访问"}, budget=15)
def security_scopes(ctx: TerminalContext) -> dict[str, Any]:
    m = ctx.modules[0] if ctx.modules else "idcard"
    r = ctx.post(f"/v1/sim/{m}", {"action": "noop", "params": {}})
    r2 = ctx.get("/v1/audit")
    r3 = ctx.post(f"/v1/{m}/statistics/reset", {})
    for rr in (r, r2, r3):
        require(rr.status in (403, 404), f"a maintenance route answered an app token with HTTP {rr.status}",
                reply=rr.evidence())
    require(403 in (r.status, r2.status, r3.status), "no maintenance route found that says 403 to an app token")
    return {"sim": r.status, "audit": r2.status, "statistics_reset": r3.status}


@check("security.oversized_body", "Oversized bodies are rejected with a catalogue code, no 5xx", Tier.BRONZE,
       refs={"9.2.2 b": "参数过滤"}, budget=30)
def security_oversized(ctx: TerminalContext) -> dict[str, Any]:
    m = ctx.modules[0]
    op = next(iter(MODULES[m].operations))
    big = b'{"x":"' + b"A" * (8 * 1024 * 1024) + b'"}'
    try:
        r = ctx.request("POST", f"/v1/{m}/{op}", raw=big, wait=20)
    except Broken as e:  # closing the connection on a huge body is a refusal too
        return {"closed": e.reason}
    require(r.status in (400, 413), f"8 MiB body gave HTTP {r.status}", reply=r.evidence())
    require_envelope(r, "oversized body")
    return {"reply": r.evidence()}


@check("security.injection", "Injection-style and malformed inputs are rejected without 5xx", Tier.SILVER,
       refs={"9.2.2 b": "防范 SQL 注入"}, budget=45)
def security_injection(ctx: TerminalContext) -> dict[str, Any]:
    seen: dict[str, int] = {}
    targets = [(m, op) for m in ctx.modules if m not in ctx.stalled for op in MODULES[m].operations][:6]
    for m, op in targets:
        for i, s in enumerate(INJECTIONS):
            body = {**samples.sample(m, op), "noSuchField": s}
            r = ctx.post(f"/v1/{m}/{op}", body, module=m)
            require_no_5xx(r, f"{m}.{op} injection #{i}")
            require(envelope_ok(r), f"{m}.{op} injection #{i}: no envelope", reply=r.evidence())
            seen[f"{m}.{op}#{i}"] = r.status
        for raw in (b"{", b"[]", b"\xff\xfe", b'{"a":1,"a":2}', b"null", b'{"timeout": 1e999}'):
            r = ctx.request("POST", f"/v1/{m}/{op}", raw=raw, module=m)
            require(r.status == 400 and envelope_ok(r), f"{m}.{op} malformed body {raw!r} gave HTTP {r.status}",
                    reply=r.evidence())
        for path in (f"/v1/{m}/../../etc/passwd", f"/v1/{m}/%00", f"/v1/{m}/" + "x" * 5000):
            r = ctx.get(path)
            require_no_5xx(r, path[:60])
    return {"statuses": seen}


@check("security.rate_limit", "Per-token rate limiting answers 429 with Retry-After", Tier.GOLD,
       refs={"9.2.2 b": "限流"}, budget=40)
def security_rate_limit(ctx: TerminalContext) -> dict[str, Any]:
    if not ctx.modules:
        raise NotApplicable("no module to query")
    m = ctx.modules[0]
    hit: list[Reply] = []
    sent = [0]
    stop = threading.Event()
    end = time.monotonic() + clock().cap(20)

    def hammer() -> None:
        with httpx.Client(base_url=ctx.target, verify=ctx.ssl_context(), timeout=10) as c:
            while not stop.is_set() and sent[0] < 3000 and time.monotonic() < end:
                sent[0] += 1
                try:
                    r = ctx.request("GET", f"/v1/{m}/status", client=c, wait=10)
                except Fail:
                    return
                if r.status == 429:
                    hit.append(r)
                    stop.set()

    ctx.respect_rate_limit = False
    try:
        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(0.1, end - time.monotonic() + 10))
    finally:
        ctx.respect_rate_limit = True
    if not hit:
        raise Fail(f"{sent[0]} requests in a burst from 8 connections were never rate limited")
    last = hit[0]
    require_envelope(last, "429")
    retry = last.headers.get("retry-after")
    require(retry is not None and retry.isdigit(), "429 without a Retry-After header", reply=last.evidence())
    clock().sleep(min(int(retry or 1), 5) + 0.5)  # let the bucket refill
    return {"requests_before_429": sent[0], "retry_after": retry}
