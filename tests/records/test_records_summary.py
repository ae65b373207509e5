"""The summary's usage (10.1.2.3 b) and utilisation (10.2.2 g) sections, grouped in SQL, equal what a plain count
of the ended transactions gives — by day, month and year, per service, over the window since installation and
the last seven days — for generated histories (hypothesis), future-dated days (a clock set back) included."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.records import rollups, summary
from gtsdk.records.store import RecordStore

NOW = time.mktime((2026, 3, 15, 12, 0, 0, 0, 0, -1))  # local noon, mid-March: the usage spans two years
TODAY = date(2026, 3, 15)


def store(tmp: Path) -> RecordStore:
    return RecordStore(tmp / f"records-{time.monotonic_ns()}.sqlite", "T-1")


def seed(s: RecordStore, txns: list[tuple[int, str, str]]) -> None:
    def write(conn: sqlite3.Connection) -> None:
        for ago, code, state in txns:
            day = (TODAY - timedelta(days=ago)).isoformat()
            conn.execute("INSERT INTO transactions (id, service_code, state, result, started, started_t, last_t, "
                         "ended, duration, day, hour) VALUES (?, ?, ?, 'completed', 0, 0, 0, 0, 1.0, ?, 10)",
                         (uuid.uuid4().hex, code, state, day))
        rollups.rebuild(conn)

    s.write(write)


def expected(txns: list[tuple[int, str, str]], days: int, installed_ago: int) -> dict[str, Any]:
    ended = [(TODAY - timedelta(days=ago), code) for ago, code, state in txns if state == "ended"]
    by_day = Counter((d.isoformat(), c) for d, c in ended)
    by_month = Counter((d.isoformat()[:7], c) for d, c in ended)
    by_year = Counter((str(d.year), c) for d, c in ended)

    def per(counter: Counter[tuple[str, str]], key: str) -> dict[str, int]:
        return {c: n for (k, c), n in sorted(counter.items()) if k == key}

    shown = [(TODAY - timedelta(days=i)).isoformat() for i in range(min(days, 31) - 1, -1, -1)]
    months: list[str] = []
    y, m = TODAY.year, TODAY.month
    for _ in range(12):
        months.insert(0, f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    used = max(1, min(days, installed_ago + 1))
    in_window = sum(1 for d, _ in ended if 0 <= (TODAY - d).days < used)
    return {"daily": [(k, per(by_day, k)) for k in shown], "monthly": [(k, per(by_month, k)) for k in months],
            "yearly": [(k, per(by_year, k)) for k in ("2025", "2026")], "windowDays": used,
            "perDay": round(in_window / used, 3), "lastWeek": sum(1 for d, _ in ended if 0 <= (TODAY - d).days < 7)}


HISTORY = st.lists(st.tuples(st.integers(-3, 10) | st.integers(0, 500), st.sampled_from(["social", "tax", "housing"]),
                             st.sampled_from(["ended", "ended", "ended", "open"])), max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(HISTORY, st.sampled_from([1, 7, 30, 31, 90, 366]), st.integers(0, 800))
def test_usage_and_utilisation_count_the_ended_transactions(tmp_path: Path, txns: list[tuple[int, str, str]],
                                                           days: int, installed_ago: int) -> None:
    s = store(tmp_path)
    try:
        seed(s, txns)
        installed = NOW - installed_ago * 86400
        with s.reader() as db:
            rows = summary.run_queries(db, NOW, days, installed)
        got = summary.aggregate(rows, NOW, days, {}, installed)
    finally:
        s.close()
    want = expected(txns, days, installed_ago)
    u = got["usage"]
    assert [(x["day"], x["services"]) for x in u["daily"]] == want["daily"]
    assert [(x["month"], x["services"]) for x in u["monthly"]] == want["monthly"]
    assert [(x["year"], x["services"]) for x in u["yearly"]] == want["yearly"]
    assert all(x["count"] == sum(x["services"].values()) for part in u.values() for x in part)
    util = got["utilisation"]
    assert (util["windowDays"], util["perDay"], util["lastWeek"]) == (want["windowDays"], want["perDay"],
                                                                      want["lastWeek"])


def test_host_figures_are_sampled_ahead_only_while_a_page_reads_them(tmp_path: Path) -> None:
    from gtsdk.records.host import HostProbe

    probe = HostProbe(tmp_path, None, 1.0)
    probe.keep_fresh(0, 0.0)
    assert probe._cached is None  # nobody reads the summary: nothing is sampled
    figures = probe.quick_json(0)
    assert figures["serviceRestarts"] == 0 and "serviceUptime" in figures
    sample = probe._cached[1] if probe._cached else None
    assert probe.quick_json(0)["memoryPercent"] == figures["memoryPercent"]  # within 2 s: the same sample
    assert probe._cached is not None and probe._cached[1] is sample
    probe.keep_fresh(0, 0.0)  # a page reads it: the periodic work samples ahead of the next request
    assert probe._cached is not None and probe._cached[1] is not sample


def test_the_shaping_is_reused_only_while_the_rows_are_the_same(tmp_path: Path) -> None:
    s = store(tmp_path)
    try:
        seed(s, [(0, "tax", "ended"), (3, "social", "ended")])
        shaped = summary.Shaped({"tax": ("税务", "Tax")})
        installed = NOW - 100 * 86400

        def stats(days: int) -> dict[str, Any]:
            with s.reader() as db:
                return shaped(summary.run_queries(db, NOW, days, installed), NOW, days, installed)

        first = stats(30)
        assert stats(30) is first and stats(7) is not first and stats(30) is first  # per window
        assert [x["code"] for x in first["services"]] == ["social", "tax"] and first["services"][1]["nameZh"] == "税务"
        seed(s, [(1, "tax", "ended")])  # a transaction ends: new rows, shaped anew
        again = stats(30)
        assert again is not first and again["transactions"]["total"] == 3
        later = shaped(summary.run_queries(s._reader, NOW + 86400, 30, installed), NOW + 86400, 30, installed)
        assert later is not again  # the next day: same rows, another window
    finally:
        s.close()
