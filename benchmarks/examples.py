"""Operations dashboard statistics: SQL aggregation over the audit log (what /v1/ops/summary does) against the
baseline of fetching every row through ``AuditLog.query`` and counting the same numbers in Python.

    .venv/bin/python -m benchmarks.examples [rows]
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gtsdk.audit import AuditLog
from gtsdk.server.pages import audit_stats

MODS = [("idcard", "read"), ("camera", "face_compare"), ("receipt_printer", "print"), ("signature_pad",
        "get_signature"), ("lights", "flash"), ("voice", "speak")]


def best(fn: object, n: int = 5) -> float:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        log = AuditLog(home)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for i in range(rows):
            t = now - timedelta(seconds=i * 365 * 86400 / rows)
            mod, op = MODS[i % len(MODS)]
            log.record(time=t.isoformat(timespec="milliseconds"), module=mod, operation=op,
                       request_id=uuid.uuid4().hex, code="success" if i % 17 else "timeOut", duration_ms=100.0)
        log.flush()
        print(f"audit rows written: {rows} in {time.perf_counter() - t0:.1f} s")

        def baseline(days: int) -> None:
            """The same numbers from every row (window: module, service, hour, day; last year: month)."""
            got = log.query(since=(now - timedelta(days=days)).isoformat(), limit=1_000_000)
            Counter(r["module"] for r in got)
            Counter(f"{r['module']}.{r['operation']}" for r in got)
            local = [datetime.fromisoformat(r["time"]).astimezone() for r in got]
            Counter(t.hour for t in local)
            Counter(t.strftime("%Y-%m-%d") for t in local)
            year = log.query(since=(now - timedelta(days=366)).isoformat(), limit=1_000_000)
            Counter(datetime.fromisoformat(r["time"]).astimezone().strftime("%Y-%m") for r in year)

        for days in (30, 366):
            b = best(lambda: baseline(days))  # noqa: B023
            s = best(lambda: audit_stats(log.path, days, now))  # noqa: B023
            print(f"{days:>3} days: summary SQL {s * 1000:8.1f} ms   baseline rows+Python {b * 1000:8.1f} ms   "
                  f"ratio {b / s:5.1f}x faster")
        log.close()


if __name__ == "__main__":
    main()
