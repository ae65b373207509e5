"""The statistics of clauses 10.1.2 and 10.2.2 from the records, in a handful of grouped SQL statements.

The statements read the daily rollups (:mod:`~gtsdk.records.rollups`), so a year costs a few thousand rows
whatever the traffic, and they group as far as the summary needs (usage by day only for the days shown, by
month and year in SQL), so what comes back is a few hundred rows to shape; ``QUERIES`` is what
``benchmarks/records.py`` runs bare to compare.
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
RESULTS = tuple(r.value for r in TransactionResult)

QUERIES = {
    # service heat, results and mean duration over the window (10.1.2.2 b, 7.1.3 d)
    "services": "SELECT service_code, result, sum(n), sum(duration) FROM tx_daily WHERE day >= ? "
                "GROUP BY service_code, result",
    # 0–24 h peaks (10.1.2.3)
    "hourly": "SELECT hour, sum(n) FROM tx_hourly WHERE day >= ? GROUP BY hour",
    # usage per service by day (the days shown) and by month since the start of last year: the last 12 months
    # and the yearly comparison (10.1.2.3 b)
    "daily": "SELECT day, service_code, sum(n) FROM tx_daily WHERE day >= ? GROUP BY day, service_code",
    "monthly": "SELECT substr(day, 1, 7), service_code, sum(n) FROM tx_daily WHERE day >= ? GROUP BY 1, 2",
    # utilisation (10.2.2 g): transactions of the window counted from installation, and of the last 7 days
    "use": "SELECT coalesce(sum(CASE WHEN day >= ? THEN n END), 0), coalesce(sum(CASE WHEN day >= ? THEN n END), 0) "
           "FROM tx_daily WHERE day >= ? AND day <= ?",
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
    """1 January of last year: enough for the yearly comparison."""
    return f"{int(local_day(now)[:4]) - 1:04d}-01-01"


def month_keys(today: date) -> list[str]:
    """The last 12 months, oldest first, as ``YYYY-MM``."""
    keys: list[str] = []
    y, m = today.year, today.month
    for _ in range(12):
        keys.insert(0, f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return keys


def window_days(today: date, days: int, installed: float) -> int:
    """The days of the window the terminal was installed for (10.2.2 g judges use over those)."""
    return max(1, min(days, (today - date.fromisoformat(local_day(installed))).days + 1))


def query_params(now: float, days: int, installed: float) -> dict[str, tuple[Any, ...]]:
    since = window_start(now, days)
    today = date.fromisoformat(local_day(now))
    shown = (today - timedelta(days=min(days, 31) - 1)).isoformat()
    used_since = (today - timedelta(days=window_days(today, days, installed) - 1)).isoformat()
    week = (today - timedelta(days=6)).isoformat()
    return {"services": (since,), "hourly": (since,), "daily": (shown,), "monthly": (usage_start(now),),
            "use": (used_since, week, min(used_since, week), today.isoformat()),
            "ratings": (since,), "open": ()}


def run_queries(db: sqlite3.Connection, now: float, days: int, installed: float) -> dict[str, list[Any]]:
    params = query_params(now, days, installed)
    return {name: db.execute(sql, params[name]).fetchall() for name, sql in QUERIES.items()}


def aggregate(rows: dict[str, list[Any]], now: float, days: int, names: dict[str, tuple[str, str]],
              installed: float) -> dict[str, Any]:
    """Shape the grouped rows into the summary's statistics sections."""
    today = date.fromisoformat(local_day(now))
    per: dict[str, dict[str, Any]] = {}
    for code, result, n, dur in rows["services"]:
        s = per.get(code)
        if s is None:
            s = per[code] = dict.fromkeys(RESULTS, 0) | {"count": 0, "duration": 0.0}
        s["count"] += n
        s[result] = s.get(result, 0) + n
        s["duration"] += dur or 0.0
    ratings: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for code, level, n in rows["ratings"]:
        ratings[code or ""][int(level)] += n
    total = sum(s["count"] for s in per.values())
    services = []
    for code in sorted(set(per) | {c for c in ratings if c}, key=lambda c: (-per.get(c, {}).get("count", 0), c)):
        s = per.get(code) or dict.fromkeys(RESULTS, 0) | {"count": 0, "duration": 0.0}
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
    def grouped(name: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for key, code, n in rows[name]:
            out[key][code] = n
        return out

    months = grouped("monthly")
    years: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for month, svc in months.items():
        for code, n in svc.items():
            years[month[:4]][code] += n

    def series(keys: list[str], src: dict[str, dict[str, int]], label: str) -> list[dict[str, Any]]:
        out = []
        for k in keys:
            svc = src.get(k)
            out.append({label: k, "count": sum(svc.values()), "services": dict(sorted(svc.items()))} if svc else
                       {label: k, "count": 0, "services": {}})
        return out

    day_keys = [(today - timedelta(days=i)).isoformat() for i in range(min(days, 31) - 1, -1, -1)]
    year_keys = [str(today.year - 1), str(today.year)]
    # utilisation (10.2.2 g): over the window, but not before installation
    used_days = window_days(today, days, installed)
    ((in_window, last_week),) = rows["use"]
    per_day = in_window / used_days
    tx = {r: sum(s[r] for s in per.values()) for r in RESULTS}
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
        "usage": {"daily": series(day_keys, grouped("daily"), "day"),
                  "monthly": series(month_keys(today), months, "month"),
                  "yearly": series(year_keys, years, "year")},
        "utilisation": {"windowDays": used_days, "perDay": round(per_day, 3), "lastWeek": last_week,
                        "lowUse": per_day <= LOW_USE_PER_DAY or last_week <= LOW_USE_PER_WEEK,
                        "rule": "10.2.2 g: ≤ 1 per day on average or ≤ 3 per week"},
    }


class Shaped:
    """:func:`aggregate` of the last rows, reused while the rows, the day and the window are the same: a page
    refreshing every few seconds finds the same rollup rows until the next transaction ends or rating comes in.
    The statements still run on every request; only the shaping is spared.  The result is shared: read it only."""

    #: windows remembered at once (the summary's and /metrics' 30 days, a page's choice)
    KEEP = 4

    def __init__(self, names: dict[str, tuple[str, str]]) -> None:
        self.names = names
        self._last: dict[int, tuple[tuple[str, str], dict[str, list[Any]], dict[str, Any]]] = {}

    def __call__(self, rows: dict[str, list[Any]], now: float, days: int, installed: float) -> dict[str, Any]:
        key = (local_day(now), local_day(installed))
        last = self._last.get(days)
        if last is not None and last[0] == key and last[1] == rows:
            return last[2]
        out = aggregate(rows, now, days, self.names, installed)
        kept = {d: v for d, v in self._last.items() if d != days}
        while len(kept) >= self.KEEP:
            kept.pop(next(iter(kept)))
        self._last = {**kept, days: (key, rows, out)}
        return out
