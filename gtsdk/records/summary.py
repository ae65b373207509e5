"""The statistics of clauses 10.1.2 and 10.2.2 from the records, in a handful of grouped SQL statements.

The statements read the daily rollups (:mod:`~gtsdk.records.rollups`), so a year costs a few thousand rows
whatever the traffic; ``QUERIES`` is what ``benchmarks/records.py`` runs bare to compare.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from gtsdk.records.ratings import SATISFACTION_TARGET, SATISFIED_MIN
from gtsdk.records.schema import TransactionResult

#: 10.2.2 g: used on average at most once a day, or at most three times a week
LOW_USE_PER_DAY, LOW_USE_PER_WEEK = 1.0, 3

QUERIES = {
    # service heat, results and mean duration over the window (10.1.2.2 b, 7.1.3 d)
    "services": "SELECT service_code, result, sum(n), sum(duration) FROM tx_daily WHERE day >= ? "
                "GROUP BY service_code, result",
    # 0–24 h peaks (10.1.2.3)
    "hourly": "SELECT hour, sum(n) FROM tx_hourly WHERE day >= ? GROUP BY hour",
    # per service and day since the start of last year: daily, monthly, yearly usage (10.1.2.3 b)
    "usage": "SELECT day, service_code, sum(n) FROM tx_daily WHERE day >= ? GROUP BY day, service_code",
    # 好差评 over the window (10.2.2 j)
    "ratings": "SELECT service_code, level, sum(n) FROM rating_daily WHERE day >= ? GROUP BY service_code, level",
    # open transactions right now
    "open": "SELECT count(*) FROM transactions WHERE state = 'open'",
}


def local_day(ts: float) -> str:
    lt = time.localtime(ts)
    return f"{lt.tm_year:04d}-{lt.tm_mon:02d}-{lt.tm_mday:02d}"


def window_start(now: float, days: int) -> str:
    return (date.fromisoformat(local_day(now)) - timedelta(days=days - 1)).isoformat()


def usage_start(now: float) -> str:
    """1 January of last year: enough for the yearly comparison and every month of the last 12."""
    return f"{int(local_day(now)[:4]) - 1:04d}-01-01"


def query_params(now: float, days: int) -> dict[str, tuple[Any, ...]]:
    since = window_start(now, days)
    return {"services": (since,), "hourly": (since,), "usage": (usage_start(now),), "ratings": (since,),
            "open": ()}


def run_queries(db: sqlite3.Connection, now: float, days: int) -> dict[str, list[Any]]:
    params = query_params(now, days)
    return {name: db.execute(sql, params[name]).fetchall() for name, sql in QUERIES.items()}


def aggregate(rows: dict[str, list[Any]], now: float, days: int, names: dict[str, tuple[str, str]],
              installed: float) -> dict[str, Any]:
    """Shape the grouped rows into the summary's statistics sections."""
    today = date.fromisoformat(local_day(now))
    per: dict[str, dict[str, Any]] = {}
    for code, result, n, dur in rows["services"]:
        s = per.setdefault(code, {"count": 0, "duration": 0.0, **{r.value: 0 for r in TransactionResult}})
        s["count"] += n
        s[result] = s.get(result, 0) + n
        s["duration"] += dur or 0.0
    ratings: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for code, level, n in rows["ratings"]:
        ratings[code or ""][int(level)] += n
    total = sum(s["count"] for s in per.values())
    services = []
    for code in sorted(set(per) | {c for c in ratings if c}, key=lambda c: (-per.get(c, {}).get("count", 0), c)):
        s = per.get(code, {"count": 0, "duration": 0.0, **{r.value: 0 for r in TransactionResult}})
        r = ratings.get(code, [0] * 6)
        rated = sum(r[1:])
        zh, en = names.get(code, (code, code))
        services.append({
            "code": code, "nameZh": zh, "nameEn": en, "count": s["count"],
            "share": round(s["count"] / total, 4) if total else 0.0,
            "completed": s["completed"], "failed": s["failed"], "abandoned": s["abandoned"],
            "timedOut": s["timedOut"],
            "successRate": round(s["completed"] / s["count"], 4) if s["count"] else None,
            "averageDuration": round(s["duration"] / s["count"], 1) if s["count"] else None,
            "ratings": rated,
            "satisfaction": round(sum(r[SATISFIED_MIN:]) / rated, 4) if rated else None})
    for i, s in enumerate(services, 1):
        s["rank"] = i
    hourly = [0] * 24
    for hour, n in rows["hourly"]:
        hourly[int(hour)] = n
    levels = [0] * 6
    for r in ratings.values():
        for lv in range(1, 6):
            levels[lv] += r[lv]
    rated = sum(levels[1:])
    satisfied = sum(levels[SATISFIED_MIN:])
    # usage by day / month / year
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for day, code, n in rows["usage"]:
        by_day[day][code] = n
    day_keys = [(today - timedelta(days=i)).isoformat() for i in range(min(days, 31) - 1, -1, -1)]
    months: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    years: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, svc in by_day.items():
        for code, n in svc.items():
            months[day[:7]][code] += n
            years[day[:4]][code] += n
    month_keys: list[str] = []
    y, m = today.year, today.month
    for _ in range(12):
        month_keys.insert(0, f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    year_keys = [str(today.year - 1), str(today.year)]

    def series(keys: list[str], src: dict[str, dict[str, int]], label: str) -> list[dict[str, Any]]:
        return [{label: k, "count": sum(src.get(k, {}).values()), "services": dict(sorted(src.get(k, {}).items()))}
                for k in keys]

    # utilisation (10.2.2 g): over the window, but not before installation
    inst_day = date.fromisoformat(local_day(installed))
    window_days = max(1, min(days, (today - inst_day).days + 1))
    in_window = sum(sum(by_day.get((today - timedelta(days=i)).isoformat(), {}).values())
                    for i in range(window_days))
    last_week = sum(sum(by_day.get((today - timedelta(days=i)).isoformat(), {}).values()) for i in range(7))
    per_day = in_window / window_days
    tx = {r.value: sum(s[r.value] for s in per.values()) for r in TransactionResult}
    return {
        "services": services,
        "hourly": hourly,
        "transactions": {"total": total, **tx, "open": rows["open"][0][0],
                         "successRate": round(tx["completed"] / total, 4) if total else None,
                         "averageDuration": round(sum(s["duration"] for s in per.values()) / total, 1)
                         if total else None},
        "satisfaction": {"target": SATISFACTION_TARGET, "ratings": rated, "satisfied": satisfied,
                         "rate": round(satisfied / rated, 4) if rated else None,
                         "met": (satisfied / rated >= SATISFACTION_TARGET) if rated else None,
                         "levels": {str(lv): levels[lv] for lv in range(5, 0, -1)}},
        "usage": {"daily": series(day_keys, by_day, "day"), "monthly": series(month_keys, months, "month"),
                  "yearly": series(year_keys, years, "year")},
        "utilisation": {"windowDays": window_days, "perDay": round(per_day, 3), "lastWeek": last_week,
                        "lowUse": per_day <= LOW_USE_PER_DAY or last_week <= LOW_USE_PER_WEEK,
                        "rule": "10.2.2 g: ≤ 1 per day on average or ≤ 3 per week"},
    }
