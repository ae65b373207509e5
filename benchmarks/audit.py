"""The audit log's cost on the request path: an operation now waits until its row is durably committed.

Measured in the same run, alternately three times (medians):

* ``ack``: one ``record`` + ``wait_committed`` at a time (what one operation pays before its answer), p50/p99;
* ``concurrent``: 8 threads doing the same (group commit batches them), rows/s;
* ``verify``: recomputing the chain of 10,000 rows, rows/s.

Each against the baseline of the previous release's setting, ``synchronous=NORMAL`` (a commit reaches the
OS, not the disk; survives ``kill -9`` but not a power cut), on the same database code.

Run: ``.venv/bin/python -m benchmarks.audit``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from gtsdk.audit import AuditLog


def _open(home: Path, mode: str) -> AuditLog:
    log = AuditLog(home, head_interval=3600)
    with log._lock:
        log._db.execute(f"PRAGMA synchronous={mode}")
    return log


def ack(home: Path, mode: str, n: int = 200) -> list[float]:
    log = _open(home, mode)
    out = []
    try:
        for i in range(n):
            rid = f"a{mode}{i}-{time.monotonic_ns()}"
            t = time.perf_counter()
            log.record(module="lights", operation="on", request_id=rid, code="success", duration_ms=1.0)
            assert log.wait_committed(rid, 30)
            out.append((time.perf_counter() - t) * 1000)
    finally:
        log.close(sign=False)
    return out


def concurrent(home: Path, mode: str, threads: int = 8, each: int = 100) -> float:
    log = _open(home, mode)

    def work(k: int) -> None:
        for i in range(each):
            rid = f"c{mode}{k}-{i}-{time.monotonic_ns()}"
            log.record(module="lights", operation="on", request_id=rid, code="success", duration_ms=1.0)
            log.wait_committed(rid, 30)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for x in ts:
        x.start()
    for x in ts:
        x.join(120)
    rate = threads * each / (time.perf_counter() - t)
    log.close(sign=False)
    return rate


def verify_rate(home: Path) -> float:
    log = AuditLog(home, head_interval=3600)
    for i in range(10_000 - log.verify().rows):
        log.record(module="lights", operation="on", request_id=f"v{i}", code="success", duration_ms=1.0)
    log.close()
    ro = AuditLog(home, readonly=True)
    t = time.perf_counter()
    res = ro.verify()
    rate = res.rows / (time.perf_counter() - t)
    ro.close()
    return rate


def pct(v: list[float], p: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    res: dict[str, dict[str, list[float]]] = {m: {"p50": [], "p99": [], "rate": []} for m in ("FULL", "NORMAL")}
    with tempfile.TemporaryDirectory(prefix="gtsdk-bench-audit-") as d:
        for r in range(3):
            for mode in ("FULL", "NORMAL") if r % 2 == 0 else ("NORMAL", "FULL"):
                home = Path(d) / f"{mode}{r}"
                home.mkdir()
                lat = ack(home, mode)
                res[mode]["p50"].append(pct(lat, 50))
                res[mode]["p99"].append(pct(lat, 99))
                res[mode]["rate"].append(concurrent(home, mode))
        vhome = Path(d) / "verify"
        vhome.mkdir()
        vr = verify_rate(vhome)
    med = {m: {k: statistics.median(v) for k, v in x.items()} for m, x in res.items()}
    f, n = med["FULL"], med["NORMAL"]
    print("| measurement | synchronous=FULL (now) | NORMAL (before) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| ack p50 (record -> committed) | {f['p50']:.2f} ms | {n['p50']:.2f} ms | {f['p50'] / n['p50']:.2f}x |")
    print(f"| ack p99 | {f['p99']:.2f} ms | {n['p99']:.2f} ms | {f['p99'] / n['p99']:.2f}x |")
    print(f"| 8 threads, rows/s | {f['rate']:.0f} | {n['rate']:.0f} | {f['rate'] / n['rate']:.2f}x |")
    print(f"verify: {vr:,.0f} rows/s (10,000 rows)")


if __name__ == "__main__":
    main()
