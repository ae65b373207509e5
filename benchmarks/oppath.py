"""Where an operation's CPU goes inside the service: the ASGI app driven in process (no TLS, no sockets).

Rows, at 1 and 32 concurrent callers, each the service process's CPU time per request (user + system):

* ``GET /v1/lights/status`` — the pieces, the envelope and device status (baseline: no device hop, no audit);
* ``POST /v1/lights/on`` without the audit log — adds body parsing, the runtime's job, the hop to the device's
  worker thread and back, serialisation;
* ``POST /v1/lights/on`` — and the audit row, committed (``synchronous=FULL``) before the answer.

Each row also splits the CPU by thread (the event loop, the device's worker, the audit writer) from
``/proc/self/task``, and gives the ratio to the baseline measured in the same run.  ``benchmarks.server`` measures
the same routes over TLS with wrk; this one shows which thread pays and how much the hop and the audit cost.
Run: ``.venv/bin/python -m benchmarks.oppath [--requests 6000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from benchmarks._instant_lights import InstantLights
from gtsdk.runtime import Terminal, parse_config
from gtsdk.runtime.registry import register
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import parse_service
from gtsdk.server.inflight import DISCONNECTED
from gtsdk.server.run import build
from gtsdk.server.tokens import TokenStore


class BenchLights(InstantLights):
    name = "bench-oppath"


BODY = b'{"light":"status"}'


def _thread_ticks() -> dict[int, tuple[str, int]]:
    """CPU clock ticks (user + system) of each thread of this process, by thread id."""
    out: dict[int, tuple[str, int]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[int(tid)] = ("", int(stat[11]) + int(stat[12]))
    return out


def _thread_names() -> dict[int, str]:
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


async def _one(app: ServiceApp, method: str, path: str, token: str) -> None:
    loop = asyncio.get_running_loop()
    sent: list[MutableMapping[str, Any]] = []
    body = BODY if method == "POST" else b""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # never: the connection stays open
        raise AssertionError

    async def send(msg: MutableMapping[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8801"), (b"authorization", f"Bearer {token}".encode()),
                         (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8801),
             DISCONNECTED: loop.create_future()}  # as GuardedHttpProtocol gives it: no watcher task
    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise SystemExit(f"{method} {path}: {sent[0]['status']} {sent[1:]}")


async def _drive(app: ServiceApp, method: str, path: str, token: str, callers: int, n: int) -> None:
    async def caller(k: int) -> None:
        for _ in range(k):
            await _one(app, method, path, token)
    await asyncio.gather(*(caller(n // callers) for _ in range(callers)))


def measure(app: ServiceApp, method: str, path: str, token: str, callers: int, n: int) -> dict[str, Any]:
    asyncio.run(_drive(app, method, path, token, callers, min(n, 300)))  # warm-up
    n = n // callers * callers
    t0, r0, w0 = _thread_ticks(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    asyncio.run(_drive(app, method, path, token, callers, n))
    t1, r1, w1 = _thread_ticks(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    names, tick = _thread_names(), os.sysconf("SC_CLK_TCK")
    by_thread: dict[str, float] = {}
    for tid, (_, ticks) in t1.items():
        spent = ticks - t0.get(tid, ("", 0))[1]
        if spent:
            name = names.get(tid, "other")
            label = "loop" if name == "MainThread" else "audit" if "audit" in name else \
                "worker" if "lights" in name else "other"
            by_thread[label] = by_thread.get(label, 0.0) + spent / tick / n * 1e6
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n * 1e6
    return {"cpu": cpu, "wall": (w1 - w0) / n * 1e6, "threads": by_thread}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=6000)
    args = ap.parse_args()
    register("lights", BenchLights.name, BenchLights)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for audit in (False, True):
        home = Path(tempfile.mkdtemp(prefix="gtsdk-oppath-"))
        t = Terminal(parse_config({"modules": {"lights": {"driver": BenchLights.name}}}))
        t.start()
        try:
            svc = build(t, parse_service({"rate_limit": 1e9, "rate_burst": 1_000_000_000, "max_pending": 4096}),
                        home, audit=audit)
            token = TokenStore(home).create(["app"], app="bench")
            for callers in (1, 32):
                if not audit:
                    rows.append(("GET /v1/lights/status", callers,
                                 measure(svc, "GET", "/v1/lights/status", token, callers, args.requests)))
                label = "POST /v1/lights/on" + ("" if audit else " (no audit)")
                rows.append((label, callers, measure(svc, "POST", "/v1/lights/on", token, callers, args.requests)))
        finally:
            t.stop()
            if svc.audit is not None:
                svc.audit.close()
            shutil.rmtree(home, ignore_errors=True)  # the audit database and tokens of this run
    base = {c: r["cpu"] for name, c, r in rows if name.startswith("GET")}
    print(f"in process, no TLS; {args.requests} requests per row; CPU µs per request (user + system)")
    print(f"{'route':<34}{'callers':>8}{'cpu µs':>9}{'wall µs':>9}{'vs status':>10}   by thread (cpu µs)")
    for name, callers, r in rows:
        threads = "  ".join(f"{k} {v:.0f}" for k, v in sorted(r["threads"].items()))
        print(f"{name:<34}{callers:>8}{r['cpu']:>9.0f}{r['wall']:>9.0f}{r['cpu'] / base[callers]:>9.1f}x   {threads}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
