"""The fleet platform's throughput and dashboards, in one run on this machine.

    .venv/bin/python -m benchmarks.fleet [--messages 20000] [--terminals 10] [--dash-terminals 1000] [--dash-days 90]

1. **Ingest rate** (records/s) through Mosquitto (TLS, QoS 1, per-terminal certificates) into SQLite and into
   PostgreSQL, next to a **bare subscriber** that only counts the same messages from the same broker on the same
   shared subscription — the broker's and client library's limit here.  Goal: PostgreSQL ≥ 0.5× the bare rate.
2. **1 vs 2 ingest workers** on one shared subscription (PostgreSQL).
3. **End-to-end latency** p50/p99 from a terminal's publish to the committed row, at a steady 200 records/s.
4. **Dashboard queries** over ``--dash-terminals`` × ``--dash-days`` of rollups (what the queries read; raw
   transactions are not generated for this part) on both databases, as a province and as a city user; goal
   p95 < 500 ms.

Publishers run in a separate process (``--publisher``), so the consumer side is what is measured.  The machine is
shared: rates are ratios against the bare subscriber measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from gtsdk.fleet import topics
from gtsdk.fleet.ingest import IngestWorker
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.localpg import LocalPostgres
from gtsdk.fleet.mqtt import Identity, connect_properties, make_client, publish_properties
from gtsdk.fleet.store import db
from gtsdk.fleet.store import queries as q
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import Applier
from gtsdk.fleet.store.db import writer
from gtsdk.records.schema import RecordEnvelope, RecordKind


# ---- the publisher process ---------------------------------------------------------------------------------
def publisher(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    n, rate = int(spec["messages"]), float(spec.get("rate") or 0)
    terms = spec["terminals"]
    clients = []
    for t in terms:
        c = make_client(t["id"], Identity(Path(t["ca"]), Path(t["cert"]), Path(t["key"])), inflight=500)
        done = threading.Event()
        c.on_connect = lambda *_a, done=done: done.set()
        c.connect(spec["host"], spec["port"], clean_start=True, properties=connect_properties(60))
        c.loop_start()
        done.wait(10)
        clients.append((c, t))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    per = n // len(clients)

    def payload(i: int, tid: str) -> bytes:
        env = RecordEnvelope(id=uuid.uuid4().hex, kind=RecordKind.TRANSACTION, terminal_id=tid, time=datetime.now(UTC),
                             body={"serviceCode": f"S{i % 8}", "started": (t0 + timedelta(seconds=i)).isoformat(),
                                   "ended": (t0 + timedelta(seconds=i + 60)).isoformat(), "duration": 60.0,
                                   "result": "completed"})
        return env.model_dump_json(by_alias=True).encode()

    # at full speed the records are serialised beforehand, so the publisher is not the bottleneck it measures;
    # at a set rate each is made when sent, so its time is the moment of the terminal's event
    ready = {(i, t["id"]): payload(i, t["id"]) for i in range(per) for _c, t in clients} if not rate else {}
    infos = []
    start = time.monotonic()
    for i in range(per):
        for c, t in clients:
            body = ready.pop((i, t["id"])) if not rate else payload(i, t["id"])
            infos.append(c.publish(topics.topic(t["region"], t["id"], "rec"), body,
                                   qos=1, properties=publish_properties(seq=str(i + 1))))
        if rate:
            target = start + (i + 1) * len(clients) / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while len(infos) > 2000 and infos[0].is_published():
            infos.pop(0)
    for info in infos:
        info.wait_for_publish(60)
    print(json.dumps({"published": per * len(clients), "seconds": time.monotonic() - start}), flush=True)
    for c, _ in clients:
        c.disconnect()
        c.loop_stop()


def run_publisher(fleet: LocalFleet, terms: list[dict[str, Any]], messages: int, rate: float = 0) -> None:
    b = fleet.brokers["province"]
    spec = Path(tempfile.mktemp(suffix=".json"))
    spec.write_text(json.dumps({"host": "127.0.0.1", "port": b.spec.port, "messages": messages, "rate": rate,
                                "terminals": terms}))
    import subprocess
    subprocess.run([sys.executable, "-m", "benchmarks.fleet", "--publisher", str(spec)], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)


# ---- consumers ------------------------------------------------------------------------------------------------
def bare_rate(fleet: LocalFleet, terms: list[dict[str, Any]], messages: int) -> float:
    ident = fleet.platform_identity(8)
    c = make_client("gtsdk.platform.8", ident, manual_ack=True, inflight=1000)
    times: list[float] = []
    ready = threading.Event()

    def on_message(cl: Any, _u: Any, m: Any) -> None:
        times.append(time.monotonic())
        cl.ack(m.mid, m.qos)

    c.on_message = on_message
    c.on_connect = lambda cl, *_a: (cl.subscribe(topics.subscription("rec", "bench-bare"), qos=1), ready.set())
    # (a clean session that expires on disconnect: nothing of it stays queued for later scenarios)
    c.connect("127.0.0.1", fleet.brokers["province"].spec.port, clean_start=True, properties=connect_properties(0))
    c.loop_start()
    ready.wait(10)
    time.sleep(0.5)
    run_publisher(fleet, terms, messages)
    end = time.monotonic() + 120
    while len(times) < messages and time.monotonic() < end:
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return len(times) / (times[-1] - times[0])


def ingest_rate(fleet: LocalFleet, engine: Engine, terms: list[dict[str, Any]], messages: int, workers: int,
                group: str) -> float:
    committed: list[float] = []
    first: list[float] = []
    lock = threading.Lock()

    def on_commit(applied: Any, recs: list[Any]) -> None:
        now = time.monotonic()
        with lock:
            if not first:
                first.append(min(m.received for m in recs))
            committed.extend([now] * len(recs))

    ws = []
    for i in range(workers):
        ident = fleet.platform_identity(2 + i)
        w = IngestWorker(Applier(engine), ident, fleet.brokers["province"].url, client_id=ident.cert.parent.name,
                         group=group, on_commit=on_commit)
        ws.append(w.start())
        w.connected.wait(10)
    time.sleep(0.5)
    run_publisher(fleet, terms, messages)
    end = time.monotonic() + 300
    while len(committed) < messages and time.monotonic() < end:
        time.sleep(0.05)
    for w in ws:
        w.stop()
        discard_session(fleet, w.client_id)
    return len(committed) / (committed[-1] - first[0])


def discard_session(fleet: LocalFleet, client_id: str) -> None:
    """End a worker's persistent session, so the next scenario does not inherit its subscriptions and queue."""
    n = int(client_id.rsplit(".", 1)[1])
    c = make_client(client_id, fleet.platform_identity(n))
    done = threading.Event()
    c.on_connect = lambda *_a: done.set()
    c.connect("127.0.0.1", fleet.brokers["province"].spec.port, clean_start=True, properties=connect_properties(0))
    c.loop_start()
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def latency(fleet: LocalFleet, engine: Engine, terms: list[dict[str, Any]], seconds: float, rate: float,
            group: str) -> list[float]:
    lat: list[float] = []

    def on_commit(applied: Any, recs: list[Any]) -> None:
        wall = datetime.now(UTC)
        for m in recs:
            t = json.loads(m.payload)["time"]
            lat.append((wall - datetime.fromisoformat(t.replace("Z", "+00:00"))).total_seconds())

    ident = fleet.platform_identity(2)
    w = IngestWorker(Applier(engine), ident, fleet.brokers["province"].url, client_id=ident.cert.parent.name,
                     group=group, on_commit=on_commit, batch_wait=0.02).start()
    w.connected.wait(10)
    time.sleep(0.5)
    run_publisher(fleet, terms, int(seconds * rate), rate=rate)
    time.sleep(1.0)
    w.stop()
    discard_session(fleet, w.client_id)
    return lat


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else float("nan")


# ---- dashboards -------------------------------------------------------------------------------------------
def fill_dashboard(engine: Engine, terminals: int, days: int, seed: int = 1) -> int:
    """Terminals with rollups, availability and faults as ``days`` of ingest would have left them."""
    rng = random.Random(seed)
    cities = [("330100", ["330102", "330105", "330106", "330108", "330109", "330110"]),
              ("330200", ["330203", "330205", "330206", "330212"]), ("330300", ["330302", "330303", "330304"]),
              ("330400", ["330402", "330411"]), ("330500", ["330502", "330503"])]
    today = date.today()
    now = datetime.now(UTC).replace(tzinfo=None)
    term_rows, usage, hourly, rated, avail, faults = [], [], [], [], [], []
    hw = [0, 0, 0, 0, 0, 0, 0.1, 0.4, 1.2, 2.4, 2.6, 1.8, 0.8, 1.1, 2.2, 2.5, 2.0, 1.2, 0.6, 0.4, 0.3, 0.1, 0, 0]
    for i in range(terminals):
        _city, counties = cities[i % len(cities)]
        region = counties[i % len(counties)]
        tid = f"B-{region}-{i:05d}"
        term_rows.append({"id": tid, "region": region, "name": f"终端 {i}", "address": "",
                          "latitude": 30 + rng.random(), "longitude": 120 + rng.random(), "vendor": "", "model": "",
                          "software_version": "",
                          "modules": {}, "profile_version": 0, "low_use_exempt": False, "online": rng.random() > .05,
                          "session": 0, "enrolled": now - timedelta(days=days + 10), "last_seen": now})
        per_day = 0.5 if i % 10 == 0 else rng.lognormvariate(3.5, 0.5)
        services = rng.sample(range(20), 8)
        for d in range(days):
            day = today - timedelta(days=d)
            n_day = max(0, int(rng.gauss(per_day, per_day ** 0.5)))
            if n_day == 0:
                continue
            split = [max(0, int(n_day * w)) for w in (0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05)]
            for code, n in zip(services, split, strict=True):
                if n:
                    usage.append({"day": day, "terminal_id": tid, "service_code": f"SVC{code:02d}", "region": region,
                                  "n": n, "completed": int(n * .9), "failed": n - int(n * .9), "abandoned": 0,
                                  "timed_out": 0, "duration_sum": 120.0 * n})
            for h, w in enumerate(hw):
                nh = int(n_day * w / sum(hw) + rng.random())
                if nh:
                    hourly.append({"day": day, "hour": h, "terminal_id": tid, "region": region, "n": nh})
            nr = n_day // 3
            if nr:
                lv = [0, nr // 30, nr // 10, nr // 3]
                rated.append({"day": day, "terminal_id": tid, "service_code": f"SVC{services[0]:02d}", "region": region,
                              "n": nr, "n1": lv[1], "n2": lv[1], "n3": lv[2], "n4": lv[3],
                              "n5": nr - 2 * lv[1] - lv[2] - lv[3]})
            down = rng.choice([0.0] * 20 + [rng.uniform(60, 7200)])
            avail.append({"id": f"av-{tid}-{day:%Y%m%d}", "day": day, "version": 1, "terminal_id": tid,
                          "region": region, "module": "", "up": 86400 - down, "down": down, "unknown": 0.0})
            if rng.random() < 0.15:
                opened = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.uniform(8, 18))
                level = rng.choice([1, 2, 3, 3, 3])
                closed = opened + timedelta(hours=rng.uniform(0.2, 30))
                faults.append({"id": uuid.uuid4().hex, "version": 2, "terminal_id": tid, "region": region,
                               "module": "receipt_printer", "level": level, "kind": "state", "reason": "",
                               "source": "terminal", "terminal_state": "resolved", "opened": opened,
                               "dispatch_state": "resolved" if closed < now else "open",
                               "acknowledged": opened + timedelta(minutes=20),
                               "on_site": opened + timedelta(hours=1) if level == 1 else None,
                               "closed": closed if closed < now else None,
                               "deadline": opened + timedelta(hours={1: 2, 2: 4, 3: 24}[level])})
    # the second-level rollups, summed from the first as ingest maintains them
    r_usage: dict[tuple[Any, ...], dict[str, float]] = {}
    t_usage: dict[tuple[Any, ...], dict[str, float]] = {}
    r_hourly: dict[tuple[Any, ...], dict[str, float]] = {}
    r_rated: dict[tuple[Any, ...], dict[str, float]] = {}

    def add(target: dict[tuple[Any, ...], dict[str, float]], key: tuple[Any, ...], row: dict[str, Any],
            cols: tuple[str, ...]) -> None:
        acc = target.setdefault(key, dict.fromkeys(cols, 0))
        for col in cols:
            acc[col] += row[col]
    ucols = ("n", "completed", "failed", "abandoned", "timed_out", "duration_sum")
    for row in usage:
        add(r_usage, (row["region"], row["day"], row["service_code"]), row, ucols)
        add(t_usage, (row["day"], row["terminal_id"], row["region"]), row, ("n", "completed"))
    for row in hourly:
        add(r_hourly, (row["region"], row["day"], row["hour"]), row, ("n",))
    for row in rated:
        add(r_rated, (row["region"], row["day"], row["service_code"]), row, ("n", "n1", "n2", "n3", "n4", "n5"))
    t_monthly: dict[tuple[Any, ...], dict[str, float]] = {}
    for (d, t, r), v in t_usage.items():
        add(t_monthly, (d.replace(day=1), t, r), v, ("n", "completed"))
    r_avail: dict[tuple[Any, ...], dict[str, float]] = {}
    for row in avail:
        add(r_avail, (row["region"], row["day"]), row, ("up", "down", "unknown"))
    second = [
        (s.region_usage_daily, [{"region": r, "day": d, "service_code": c, **v} for (r, d, c), v in r_usage.items()]),
        (s.terminal_usage_daily, [{"day": d, "terminal_id": t, "region": r, **v} for (d, t, r), v in t_usage.items()]),
        (s.terminal_usage_monthly, [{"month": m, "terminal_id": t, "region": r, **v}
                                    for (m, t, r), v in t_monthly.items()]),
        (s.region_usage_hourly, [{"region": r, "day": d, "hour": h, **v} for (r, d, h), v in r_hourly.items()]),
        (s.region_availability_daily, [{"region": r, "day": d, **v} for (r, d), v in r_avail.items()]),
        (s.region_ratings_daily, [{"region": r, "day": d, "service_code": c, **v} for (r, d, c), v in r_rated.items()]),
    ]
    if db.is_postgres(engine):
        from gtsdk.fleet.store.db import Partitions
        Partitions(engine).ensure("availability", [r["day"] for r in avail])
    rows = 0
    with writer(engine).begin() as c:
        for table, data in ((s.terminals, term_rows), (s.usage_daily, usage), (s.usage_hourly, hourly),
                            (s.ratings_daily, rated), (s.availability, avail), (s.faults, faults), *second):
            for k in range(0, len(data), 20_000):
                c.execute(insert(table), data[k:k + 20_000])
            rows += len(data)
    if db.is_postgres(engine):
        with engine.connect() as c:
            c.exec_driver_sql("COMMIT")
            c.exec_driver_sql("ANALYZE")
    return rows


def dashboard(engine: Engine, repeat: int) -> dict[str, tuple[float, float]]:
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Asia/Shanghai")
    start, end = q.window(tz, 90)
    out: dict[str, tuple[float, float]] = {}
    for who, scope in (("province", q.Scope("33")), ("city", q.Scope("3301"))):
        calls = {
            "overview": lambda c, sc=scope: q.overview(c, sc, tz, 90),
            "services": lambda c, sc=scope: q.service_ranking(c, sc, start, end),
            "terminals": lambda c, sc=scope: q.terminal_ranking(c, sc, start, end),
            "hourly": lambda c, sc=scope: q.hourly(c, sc, start, end),
            "usage-day": lambda c, sc=scope: q.usage(c, sc, start, end, "day"),
            "usage-month": lambda c, sc=scope: q.usage(c, sc, start, end, "month"),
            "availability": lambda c, sc=scope: q.availability(c, sc, start, end, "region"),
            "satisfaction": lambda c, sc=scope: q.satisfaction(c, sc, start, end, "region"),
            "low-use": lambda c, sc=scope: q.low_use(c, sc, tz, 28),
            "faults": lambda c, sc=scope: q.faults(c, sc, state="active"),
            "map": lambda c, sc=scope: q.terminals(c, sc),
        }
        for name, fn in calls.items():
            ts = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                with engine.connect() as c:
                    fn(c)
                ts.append(time.perf_counter() - t0)
            out[f"{who}:{name}"] = (statistics.median(ts), pct(ts, 95))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--publisher")
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--terminals", type=int, default=10)
    ap.add_argument("--dash-terminals", type=int, default=1000)
    ap.add_argument("--dash-days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--dashboards-only", action="store_true", help="skip the ingest and latency parts")
    ap.add_argument("--rank-terminals", type=int, default=10_000)
    ap.add_argument("--rank-days", type=int, default=180)
    ap.add_argument("--ranking-only", action="store_true", help="only the terminal ranking: months vs days")
    a = ap.parse_args()
    if a.publisher:
        publisher(a.publisher)
        return
    base = Path(tempfile.mkdtemp(prefix="gtsdk-bench-fleet-"))
    fleet = LocalFleet(base)
    fleet.start_broker("province")
    pg = LocalPostgres().start()
    try:
        engines = {"sqlite": db.open_engine(str(base / "fleet.sqlite")),
                   "postgresql": db.open_engine(pg.create_database("bench"))}
        for e in engines.values():
            db.create_schema(e)
        if a.ranking_only:
            ranking_part(engines, a.rank_terminals, a.rank_days, a.repeat)
            return
        if not a.dashboards_only:
            ingest_part(fleet, engines, base, a.messages, a.terminals)
        dashboards_part(engines, a.dash_terminals, a.dash_days, a.repeat)
        for e in engines.values():
            e.dispose()
    finally:
        fleet.stop()
        pg.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def ingest_part(fleet: LocalFleet, engines: dict[str, Engine], base: Path, n: int, terminals: int) -> None:
    terms = []
    for i in range(terminals):
        tid, region = f"BENCH-{i:03d}", f"3301{2 + (i % 8):02d}"
        cfg = fleet.enrol_terminal(engines["sqlite"], tid, region, base / tid, "province")
        terms.append({"id": tid, "region": region, "ca": str(cfg.identity.ca), "cert": str(cfg.identity.cert),
                      "key": str(cfg.identity.key)})
        with writer(engines["postgresql"]).begin() as c:
            c.execute(insert(s.terminals).values(id=tid, region=region, name="", address="", vendor="", model="",
                                                 software_version="", modules={}, profile_version=0,
                                                 low_use_exempt=False, online=False, session=0))
    print(f"ingest: {n} records from {terminals} terminals, QoS 1 over TLS, one Mosquitto on loopback")
    bare = bare_rate(fleet, terms, n)
    print(f"  bare counting subscriber       {bare:10.0f} records/s   1.00x")
    results = {}
    for name, workers in (("sqlite", 1), ("postgresql", 1), ("postgresql", 2)):
        r = ingest_rate(fleet, engines[name], terms, n, workers, f"bench-{name}-{workers}")
        results[(name, workers)] = r
        print(f"  ingest {name:<10} {workers} worker(s) {r:10.0f} records/s   {r / bare:.2f}x")
    print(f"  2 vs 1 workers (postgresql): {results[('postgresql', 2)] / results[('postgresql', 1)]:.2f}x")
    for name, e in engines.items():
        lat = latency(fleet, e, terms, 10.0, 200.0, f"bench-lat-{name}")
        print(f"latency {name:<10} at 200 records/s: p50 {pct(lat, 50) * 1000:.0f} ms, "
              f"p99 {pct(lat, 99) * 1000:.0f} ms ({len(lat)} records)")


def dashboards_part(engines: dict[str, Engine], terminals: int, days: int, repeat: int) -> None:
    print(f"dashboards: {terminals} terminals x {days} days, {repeat} runs per query (median / p95 ms)")
    for name, e in engines.items():
        t0 = time.perf_counter()
        rows = fill_dashboard(e, terminals, days)
        print(f"  {name}: {rows} rollup/availability/fault rows loaded in {time.perf_counter() - t0:.0f} s")
        res = dashboard(e, repeat)
        worst = max(p95 for _, p95 in res.values())
        for k, (med, p95) in res.items():
            print(f"    {k:<24} {med * 1000:7.1f} / {p95 * 1000:7.1f}")
        print(f"  {name}: worst p95 {worst * 1000:.0f} ms (goal < 500 ms)")


# ---- the province-wide terminal ranking: terminal × month rollup vs terminal × day ------------------------------
def daily_ranking(conn: Any, scope: q.Scope, start: date, end: date, limit: int = 50) -> list[tuple[str, int]]:
    """The baseline: the ranking as it was before the monthly rollup — the total, then the sum per terminal over
    terminal × day, then the names of the first ``limit``."""
    from sqlalchemy import func, select
    u = s.terminal_usage_daily
    conn.execute(select(func.coalesce(func.sum(u.c.n), 0)).where(
        scope.where(u), u.c.day >= start, u.c.day <= end)).scalar_one()
    rows = [(r[0], int(r[1])) for r in conn.execute(
        select(u.c.terminal_id, func.sum(u.c.n)).where(scope.where(u), u.c.day >= start, u.c.day <= end)
        .group_by(u.c.terminal_id).order_by(func.sum(u.c.n).desc(), u.c.terminal_id).limit(limit))]
    conn.execute(select(s.terminals.c.id, s.terminals.c.name).where(s.terminals.c.id.in_([r[0] for r in rows])))
    return rows


def fill_ranking(engine: Engine, terminals: int, days: int, seed: int = 2) -> int:
    """Terminals with their terminal × day and terminal × month rollups only (what the ranking reads)."""
    rng = random.Random(seed)
    today = date.today()
    counties = [f"33{c:02d}{k:02d}" for c in range(1, 12) for k in range(2, 10)]
    terms: list[dict[str, Any]] = []
    daily: list[dict[str, Any]] = []
    monthly: dict[tuple[date, str], dict[str, Any]] = {}
    for i in range(terminals):
        region, tid = counties[i % len(counties)], f"R-{i:06d}"
        terms.append({"id": tid, "region": region, "name": "", "address": "", "vendor": "", "model": "",
                      "software_version": "", "modules": {}, "profile_version": 0, "low_use_exempt": False,
                      "online": True, "session": 0})
        per_day = rng.lognormvariate(3.5, 0.5)
        for d in range(days):
            day = today - timedelta(days=d)
            n = max(0, int(rng.gauss(per_day, per_day ** 0.5)))
            if n:
                daily.append({"day": day, "terminal_id": tid, "region": region, "n": n, "completed": n})
                m = monthly.setdefault((day.replace(day=1), tid), {"month": day.replace(day=1), "terminal_id": tid,
                                                                   "region": region, "n": 0, "completed": 0})
                m["n"] += n
                m["completed"] += n
    with writer(engine).begin() as c:
        for table, data in ((s.terminals, terms), (s.terminal_usage_daily, daily),
                            (s.terminal_usage_monthly, list(monthly.values()))):
            for k in range(0, len(data), 20_000):
                c.execute(insert(table), data[k:k + 20_000])
    if db.is_postgres(engine):
        with engine.connect() as c:
            c.exec_driver_sql("COMMIT")
            c.exec_driver_sql("ANALYZE")
    return len(daily) + len(monthly)


def ranking_part(engines: dict[str, Engine], terminals: int, days: int, repeat: int) -> None:
    print(f"terminal ranking, province scope: {terminals} terminals x {days} days, {repeat} runs (median / p95 ms)")
    scope = q.Scope("33")
    today = date.today()
    for name, e in engines.items():
        t0 = time.perf_counter()
        rows = fill_ranking(e, terminals, days)
        print(f"  {name}: {rows} rollup rows loaded in {time.perf_counter() - t0:.0f} s")
        for window in (30, 90, days):
            start = today - timedelta(days=window - 1)
            res = {}
            for label, fn in (("days (baseline)", lambda c, st=start: daily_ranking(c, scope, st, today)),
                              ("months + edge days", lambda c, st=start: q.terminal_ranking(c, scope, st, today))):
                ts = []
                for _ in range(repeat):
                    t1 = time.perf_counter()
                    with e.connect() as c:
                        fn(c)
                    ts.append(time.perf_counter() - t1)
                res[label] = (statistics.median(ts), pct(ts, 95))
            with e.connect() as c:
                same = [r[1] for r in daily_ranking(c, scope, start, today)] == [
                    r["count"] for r in q.terminal_ranking(c, scope, start, today)]
            base, new = res["days (baseline)"], res["months + edge days"]
            print(f"    last {window:>3} days: days {base[0] * 1000:7.1f} / {base[1] * 1000:7.1f}   months "
                  f"{new[0] * 1000:7.1f} / {new[1] * 1000:7.1f}   ratio {new[0] / base[0]:.2f}x   same counts: {same}")


if __name__ == "__main__":
    main()
