"""The terminal's records: write cost per business transaction, and /v1/ops/summary over a busy year.

    .venv/bin/python -m benchmarks.records [--per-day 300] [--days 365] [--rounds 7]

1. Writing: begin + end of a transaction (two acknowledged commits, WAL, synchronous=FULL, each end with its
   outbox envelope) and a rating, in µs, next to the bare SQLite statements (same file system, same pragmas,
   no envelope, no validation) measured in the same run.
2. Reading: ``GET /v1/ops/summary`` over a year of a busy terminal, next to a bare SQLite run of the same
   aggregation statements on its own connection — rounds interleaved, medians reported.  The route is timed at
   the service's ASGI interface (the request handed to the app until its last response byte: routing, token,
   the statistics, faults, availability since installation, host figures, module states, JSON, the thread the
   work runs on) — what the service spends — and also through an in-process httpx client (ASGITransport),
   which adds that client's own work (building the request, parsing the response: about a millisecond).
   Goal (issue 15): at most 1.5x the bare query and under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx

from gtsdk.records import rollups, summary
from gtsdk.records.api import RateRequest
from gtsdk.records.faults import COLUMNS
from gtsdk.records.schema import RatingLevel, TransactionResult
from gtsdk.records.store import local_day_hour
from gtsdk.runtime import Terminal
from gtsdk.runtime.config import parse_config
from gtsdk.server import ops
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import parse_service
from gtsdk.server.tokens import TokenStore

CODES = ["social", "residence", "housing", "tax"]
HOURLY = [1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 12, 6, 8, 12, 13, 11, 8, 4, 3, 2, 1, 1, 1]


def median_us(fn: Callable[[], object], n: int) -> float:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(out)


def bench_writes(base: Path, n: int) -> None:
    app = ServiceApp(Terminal(parse_config({"records": {"inspections": []}})), parse_service({}), base / "home")
    rec = app.records  # type: ignore[attr-defined]
    book, ratings = rec.transactions, rec.ratings

    def ours() -> None:
        v = book.begin("social", "kiosk")
        book.end(v.id, "kiosk", TransactionResult.COMPLETED, None)

    def rate() -> None:
        v = book.begin("social", "kiosk")
        ratings.add(RateRequest(transaction_id=v.id, level=RatingLevel.SATISFIED, tags=["fast"],
                                comment="请回电 13800138000"), "kiosk")

    bare_db = sqlite3.connect(base / "bare.sqlite", isolation_level=None)
    bare_db.execute("PRAGMA journal_mode=WAL")
    bare_db.execute("PRAGMA synchronous=FULL")
    bare_db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT, state TEXT, started REAL, ended REAL)")

    def bare() -> None:
        tid = uuid.uuid4().hex
        bare_db.execute("BEGIN IMMEDIATE")
        bare_db.execute("INSERT INTO t VALUES (?, 'social', 'open', ?, NULL)", (tid, time.time()))
        bare_db.execute("COMMIT")
        bare_db.execute("BEGIN IMMEDIATE")
        bare_db.execute("UPDATE t SET state = 'ended', ended = ? WHERE id = ?", (time.time(), tid))
        bare_db.execute("COMMIT")

    a, b = [], []
    for _ in range(3):  # interleaved rounds under the same machine load
        a.append(median_us(ours, n))
        b.append(median_us(bare, n))
    ours_us, bare_us = statistics.median(a), statistics.median(b)
    rate_us = median_us(rate, n)
    print(f"write  begin+end of a transaction: {ours_us:8.0f} µs   bare SQLite (2 commits): {bare_us:8.0f} µs   "
          f"ratio {ours_us / bare_us:.2f}x")
    print(f"write  begin + rating (with masking): {rate_us:8.0f} µs")
    bare_db.close()
    app.pages.close()  # type: ignore[attr-defined]


def seed(app: ServiceApp, days: int, per_day: int) -> int:
    """A busy year: per_day transactions a day in an office-hours profile, a third of them rated."""
    rec = app.records  # type: ignore[attr-defined]
    rnd = random.Random(15)
    now = time.time()
    weights = [h / sum(HOURLY) for h in HOURLY]
    txns, rates = [], []
    for d in range(days, -1, -1):
        day0 = now - d * 86400
        for _ in range(per_day):
            hour = rnd.choices(range(24), weights)[0]
            t = day0 - (day0 % 86400) + hour * 3600 + rnd.random() * 3600
            day, hr = local_day_hour(t)
            tid = uuid.uuid4().hex
            code = rnd.choice(CODES)
            result = rnd.choices(["completed", "failed", "abandoned", "timedOut"], [85, 7, 6, 2])[0]
            txns.append((tid, code, result, t, t + 120, 120.0, day, hr))
            if rnd.random() < 0.33:
                rates.append((uuid.uuid4().hex, tid, code, rnd.choices([5, 4, 3, 2, 1], [60, 25, 8, 4, 3])[0], t, day))

    def write(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO transactions (id, service_code, app, state, result, started, started_t, last_t, "
                         "ended, duration, operations, day, hour) VALUES (?, ?, 'kiosk', 'ended', ?, ?, 0, 0, ?, ?, "
                         "5, ?, ?)", txns)
        conn.executemany("INSERT INTO ratings (id, transaction_id, service_code, level, tags, time, day) "
                         "VALUES (?, ?, ?, ?, '[]', ?, ?)", rates)
        for _ in range(400):  # faults over the year
            t = now - rnd.random() * days * 86400
            conn.execute(f"INSERT INTO faults ({COLUMNS}) VALUES (?, 2, ?, ?, 'state', NULL, '', 'resolved', ?, ?, "
                         "NULL, ?, ?, 'automatic')", (uuid.uuid4().hex, rnd.choice(["idcard", "receipt_printer"]),
                                                     rnd.choice([1, 2, 3]), t, 0.0, t + 600, 600.0))
        rollups.rebuild(conn)  # what the writes would have maintained

    rec.store.write(write)
    return len(txns)


async def asgi_get(app: ServiceApp, path: str, query: str, token: str) -> tuple[int, bytes]:
    """One GET handed straight to the ASGI app; the status and the body it sends."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8801)}
    status, body = 0, []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: MutableMapping[str, Any]) -> None:
        nonlocal status
        if msg["type"] == "http.response.start":
            status = msg["status"]
        elif msg["type"] == "http.response.body":
            body.append(msg.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


def bench_summary(base: Path, days_of_data: int, per_day: int, rounds: int) -> None:
    home = base / "busy"
    # the rounds ask faster than a kiosk page would: no rate limit in the way
    app = ServiceApp(Terminal(parse_config({"records": {"inspections": []}})),
                     parse_service({"rate_limit": 10_000, "rate_burst": 10_000}), home)
    n = seed(app, days_of_data, per_day)
    token = TokenStore(home).create(["maintenance"])
    rec = app.records  # type: ignore[attr-defined]
    print(f"data   {n} transactions over {days_of_data} days ({per_day}/day), "
          f"{(home / 'records.sqlite').stat().st_size / 1e6:.1f} MB")

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1",
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            installed = rec.timeline.installed
            for window in (30, 366):
                bare_db = sqlite3.connect(f"file:{home / 'records.sqlite'}?mode=ro", uri=True)

                def bare(bare_db: sqlite3.Connection = bare_db, window: int = window) -> None:
                    now = time.time()
                    summary.run_queries(bare_db, now, window, installed)  # the statistics' statements
                    since = now - window * 86400
                    bare_db.execute(ops.RECENT, (since, ops.RECENT_FAULTS)).fetchall()
                    bare_db.execute(ops.FAULT_LEVELS, (0.0, since)).fetchall()
                    bare_db.execute("SELECT count(*) FROM runs").fetchall()
                    bare_db.execute("SELECT id, trigger, started, ended, ok, findings FROM inspections "
                                    "ORDER BY started DESC LIMIT 1").fetchall()
                    bare_db.execute("SELECT module, level, opened_t, resolved_t FROM faults "
                                    "WHERE level <= 2").fetchall()  # availability since installation
                    bare_db.execute("SELECT start_t, gap FROM runs WHERE gap > 0").fetchall()
                    for span in (3600, 86400):  # success rates
                        bare_db.execute("SELECT service_code, sum(result = 'completed'), count(*) FROM transactions "
                                        "WHERE started >= ? AND state = 'ended' GROUP BY service_code",
                                        (now - span,)).fetchall()

                route, client, b, route_cpu, bare_cpu = [], [], [], [], []
                query = f"days={window}"
                await c.get(f"/v1/ops/summary?{query}")  # warm
                for _ in range(rounds):
                    t0, c0 = time.perf_counter(), time.process_time()
                    status, body = await asgi_get(app, "/v1/ops/summary", query, token)
                    route.append((time.perf_counter() - t0) * 1000)
                    route_cpu.append((time.process_time() - c0) * 1000)
                    assert status == 200 and json.loads(body)["code"] == "success"
                    t0, c0 = time.perf_counter(), time.process_time()
                    bare()
                    b.append((time.perf_counter() - t0) * 1000)
                    bare_cpu.append((time.process_time() - c0) * 1000)
                    t0 = time.perf_counter()
                    r = await c.get(f"/v1/ops/summary?{query}")
                    client.append((time.perf_counter() - t0) * 1000)
                    assert r.json()["code"] == "success"
                ours, base_ms, via = statistics.median(route), statistics.median(b), statistics.median(client)
                verdict = "ok" if ours <= 1.5 * base_ms and ours < 200 else "OVER GOAL"
                print(f"read   /v1/ops/summary?days={window:<3}: {ours:7.1f} ms   bare SQLite, same statements: "
                      f"{base_ms:7.1f} ms   ratio {ours / base_ms:.2f}x   (goal <= 1.5x, < 200 ms: {verdict})")
                print(f"       through an httpx client (its own work included): {via:7.1f} ms   "
                      f"ratio {via / base_ms:.2f}x")
                cpu, bare_c = statistics.median(route_cpu), statistics.median(bare_cpu)
                print(f"       CPU time (all threads of this process): route {cpu:7.1f} ms   bare {bare_c:7.1f} ms   "
                      f"ratio {cpu / bare_c:.2f}x")
                bare_db.close()

    asyncio.run(run())
    rec.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=int, default=300)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--writes", type=int, default=200)
    args, _ = ap.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="gtsdk-bench-records-") as d:
        base = Path(d)
        bench_writes(base, args.writes)
        bench_summary(base, args.days, args.per_day, args.rounds)


if __name__ == "__main__":
    main()
