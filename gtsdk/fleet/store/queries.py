"""The management view's queries (10.1.2, 10.2.2), every one limited to the caller's scope.

They read the rollups (``usage_daily``, ``usage_hourly``, ``ratings_daily``), the terminal registry and the fault
and availability tables — never raw transactions — so their cost grows with terminals × days, not with volume.
Days are local days of the platform's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select, true, union_all
from sqlalchemy.engine import Connection

from gtsdk.fleet import certifications
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import SLA

#: 10.2.2 i: availability target; 10.2.2 j: satisfaction target; 10.2.2 g: low-use thresholds
AVAILABILITY_TARGET = 0.995
SATISFACTION_TARGET = 0.90
LOW_USE_PER_DAY = 1.0
LOW_USE_PER_WEEK = 3.0


@dataclass(frozen=True)
class Scope:
    """What a user may see: a division (code prefix) and/or a maintenance company's terminals."""

    region: str | None = None  # "33", "3301", "330102"; None = everything
    maintainer: str | None = None

    def where(self, table: Table) -> ColumnElement[bool]:
        conds: list[ColumnElement[bool]] = []
        if self.region:
            lo = self.region.ljust(6, "0")
            hi = str(int(self.region) + 1).ljust(6, "0")
            conds += [table.c.region >= lo, table.c.region < hi]
        if self.maintainer is not None:
            if table is s.terminals:
                conds.append(s.terminals.c.maintainer == self.maintainer)
            else:
                conds.append(table.c.terminal_id.in_(
                    select(s.terminals.c.id).where(s.terminals.c.maintainer == self.maintainer)))
        return and_(true(), *conds)

    def covers_region(self, region: str) -> bool:
        return self.region is None or region.startswith(self.region)


def local_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(tz).date()


def window(tz: ZoneInfo, days: int, now: datetime | None = None) -> tuple[date, date]:
    end = local_today(tz, now)
    return end - timedelta(days=days - 1), end


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


# ---- 10.1.2.2 a: terminals and their distribution ---------------------------------------------------------
def terminals(conn: Connection, scope: Scope, *, region: str | None = None, limit: int = 5000) -> list[dict[str, Any]]:
    t, cat = s.terminals, s.catalogues
    # the catalogue in force: the newest catalogue record, else what the profile said
    q = select(t.c.id, t.c.region, t.c.name, t.c.address, t.c.latitude, t.c.longitude, t.c.online, t.c.last_seen,
               t.c.state_changed, t.c.maintainer, t.c.revoked, t.c.software_version, t.c.vendor, t.c.model,
               func.coalesce(cat.c.version, t.c.catalogue_version).label("catalogue_version")
               ).select_from(t.outerjoin(cat, cat.c.terminal_id == t.c.id)
                             ).where(scope.where(t)).order_by(t.c.region, t.c.id).limit(limit)
    if region:
        q = q.where(Scope(region).where(t))
    open_faults = dict(conn.execute(
        select(s.faults.c.terminal_id, func.min(s.faults.c.level)).where(
            scope.where(s.faults), s.faults.c.dispatch_state != "resolved").group_by(s.faults.c.terminal_id)).all())
    out = []
    for r in conn.execute(q).mappings():
        d = dict(r)
        d["worst_open_fault"] = open_faults.get(r["id"])
        d["revoked"] = r["revoked"] is not None
        out.append(d)
    certified = certifications.latest(conn, [d["id"] for d in out])  # 7.4.4: tier and date of the newest report
    for d in out:
        c = certified.get(d["id"])
        d["certification"] = None if c is None else {k: c[k] for k in ("tier", "generated", "verified", "passed",
                                                                        "commandId")}
    return out


# ---- 10.1.2.2 b, c: heat rankings with share ---------------------------------------------------------------
def _by_region(scope: Scope) -> bool:
    """Region rollups answer any scope that is a division; a maintenance company's scope needs per-terminal rows."""
    return scope.maintainer is None


def service_ranking(conn: Connection, scope: Scope, start: date, end: date, limit: int = 50) -> list[dict[str, Any]]:
    u = s.region_usage_daily if _by_region(scope) else s.usage_daily
    total = conn.execute(select(func.coalesce(func.sum(u.c.n), 0)).where(
        scope.where(u), u.c.day >= start, u.c.day <= end)).scalar_one()
    rows = conn.execute(select(u.c.service_code, func.sum(u.c.n).label("n"), func.sum(u.c.completed).label("ok"))
                        .where(scope.where(u), u.c.day >= start, u.c.day <= end)
                        .group_by(u.c.service_code).order_by(func.sum(u.c.n).desc(), u.c.service_code)
                        .limit(limit)).all()
    names = dict(conn.execute(select(s.services.c.code, s.services.c.name_zh).where(
        s.services.c.code.in_([r.service_code for r in rows]))).all()) if rows else {}
    return [{"rank": i + 1, "code": r.service_code, "name": names.get(r.service_code, r.service_code),
             "count": int(r.n), "completed": int(r.ok), "share": _ratio(float(r.n), float(total))}
            for i, r in enumerate(rows)]


DayRange = tuple[date, date]


def month_plan(start: date, end: date, last: date | None) -> tuple[list[date], list[DayRange], list[DayRange]]:
    """How to sum [start, end] cheaply from whole months and days: (months, days to add, days to take away).

    A month the window covers entirely is one row per terminal of ``terminal_usage_monthly``.  A month it covers
    in part is either its days in the window (``terminal_usage_daily``) or the whole month minus the days outside
    the window — whichever reads fewer days; days after *last* (the newest day with data) cost nothing.  So a
    window reads at most about 15 days per terminal besides its months, whatever its length."""
    months: list[date] = []
    plus: list[DayRange] = []
    minus: list[DayRange] = []
    m = start.replace(day=1)
    while m <= end:
        nxt = (m + timedelta(days=32)).replace(day=1)
        first, final = m, nxt - timedelta(days=1)
        lo, hi = max(start, first), min(end, final)
        if (lo, hi) == (first, final):
            months.append(m)
        else:
            outside = [(a, min(b, last)) for a, b in ((first, lo - timedelta(days=1)), (hi + timedelta(days=1), final))
                       if a <= b and last is not None and a <= last]
            if sum((b - a).days + 1 for a, b in outside) < (hi - lo).days + 1:
                months.append(m)
                minus += outside
            else:
                plus.append((lo, hi))
        m = nxt
    return months, plus, minus


def _terminal_counts(conn: Connection, scope: Scope, start: date, end: date) -> Any:
    """Per terminal (terminal_id, n) over [start, end], from the monthly and daily rollups (:func:`month_plan`)."""
    d, mo = s.terminal_usage_daily, s.terminal_usage_monthly
    last = conn.execute(select(func.max(d.c.day))).scalar()
    months, plus, minus = month_plan(start, end, last)
    parts = []
    if months:
        parts.append(select(mo.c.terminal_id, mo.c.n.label("n")).where(scope.where(mo), mo.c.month.in_(months)))
    if plus:
        parts.append(select(d.c.terminal_id, d.c.n.label("n")).where(
            scope.where(d), or_(*(and_(d.c.day >= a, d.c.day <= b) for a, b in plus))))
    if minus:
        parts.append(select(d.c.terminal_id, (-d.c.n).label("n")).where(
            scope.where(d), or_(*(and_(d.c.day >= a, d.c.day <= b) for a, b in minus))))
    if not parts:
        return None
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


def terminal_ranking(conn: Connection, scope: Scope, start: date, end: date, limit: int = 50,
                     ascending: bool = False) -> list[dict[str, Any]]:
    u = _terminal_counts(conn, scope, start, end)
    if u is None:
        return []
    order = func.sum(u.c.n).asc() if ascending else func.sum(u.c.n).desc()
    # one pass: the share's denominator is a window over the same groups
    rows = conn.execute(select(u.c.terminal_id, func.sum(u.c.n).label("n"),
                               func.sum(func.sum(u.c.n)).over().label("total"))
                        .group_by(u.c.terminal_id).having(func.sum(u.c.n) != 0)
                        .order_by(order, u.c.terminal_id).limit(limit)).all()
    total = int(rows[0].total) if rows else 0
    names = {r.id: (r.name, r.region) for r in conn.execute(select(s.terminals.c.id, s.terminals.c.name,
                                                                   s.terminals.c.region).where(
        s.terminals.c.id.in_([r.terminal_id for r in rows])))} if rows else {}
    return [{"rank": i + 1, "terminalId": r.terminal_id, "name": names.get(r.terminal_id, ("", ""))[0] or r.terminal_id,
             "region": names.get(r.terminal_id, ("", ""))[1], "count": int(r.n),
             "share": _ratio(float(r.n), float(total))} for i, r in enumerate(rows)]


# ---- 10.1.2.3: 0–24 h peaks; 10.1.2.3 b: daily/monthly/yearly usage ------------------------------------------
def hourly(conn: Connection, scope: Scope, start: date, end: date, terminal_id: str | None = None) -> list[int]:
    h = s.region_usage_hourly if _by_region(scope) and terminal_id is None else s.usage_hourly
    q = select(h.c.hour, func.sum(h.c.n)).where(scope.where(h), h.c.day >= start, h.c.day <= end)
    if terminal_id:
        q = q.where(h.c.terminal_id == terminal_id)
    counts = [0] * 24
    for hour, n in conn.execute(q.group_by(h.c.hour)).all():
        counts[int(hour)] = int(n)
    return counts


def usage(conn: Connection, scope: Scope, start: date, end: date, period: str = "day",
          terminal_id: str | None = None, service_code: str | None = None) -> list[dict[str, Any]]:
    if terminal_id is None and _by_region(scope):
        u = s.region_usage_daily
    elif service_code is None:
        u = s.terminal_usage_daily
    else:
        u = s.usage_daily
    q = select(u.c.day, func.sum(u.c.n), func.sum(u.c.completed)).where(scope.where(u), u.c.day >= start,
                                                                         u.c.day <= end)
    if terminal_id:
        q = q.where(u.c.terminal_id == terminal_id)
    if service_code:
        q = q.where(u.c.service_code == service_code)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day, n, ok in conn.execute(q.group_by(u.c.day)).all():
        key = {"day": day.isoformat(), "month": f"{day:%Y-%m}", "year": f"{day:%Y}"}[period]
        per[key][0] += int(n)
        per[key][1] += int(ok)
    return [{"period": k, "count": v[0], "completed": v[1]} for k, v in sorted(per.items())]


# ---- 10.2.2 i, j: availability and satisfaction -----------------------------------------------------------
def availability(conn: Connection, scope: Scope, start: date, end: date,
                 by: str = "terminal") -> list[dict[str, Any]]:
    if by != "terminal" and _by_region(scope):
        ra = s.region_availability_daily
        q = select(ra.c.region.label("key"), func.sum(ra.c.up), func.sum(ra.c.down), func.sum(ra.c.unknown)).where(
            scope.where(ra), ra.c.day >= start, ra.c.day <= end).group_by(ra.c.region).order_by(ra.c.region)
    else:
        a = s.availability
        key = a.c.terminal_id if by == "terminal" else a.c.region
        q = select(key.label("key"), func.sum(a.c.up), func.sum(a.c.down), func.sum(a.c.unknown)).where(
            scope.where(a), a.c.module == "", a.c.day >= start, a.c.day <= end).group_by(key).order_by(key)
    rows = conn.execute(q).all()
    out = []
    for k, up, down, unknown in rows:
        ratio = _ratio(float(up), float(up) + float(down))
        out.append({"key": k, "up": float(up), "down": float(down), "unknown": float(unknown),
                    "availability": ratio, "meetsTarget": ratio is not None and ratio >= AVAILABILITY_TARGET})
    return out


def satisfaction(conn: Connection, scope: Scope, start: date, end: date, by: str = "region",
                 ) -> list[dict[str, Any]]:
    r = s.region_ratings_daily if by != "terminal" and _by_region(scope) else s.ratings_daily
    key = {"region": r.c.region, "terminal": r.c.get("terminal_id"), "service": r.c.service_code}[by]
    assert key is not None
    rows = conn.execute(select(key.label("key"), func.sum(r.c.n), func.sum(r.c.n1), func.sum(r.c.n2),
                               func.sum(r.c.n3), func.sum(r.c.n4), func.sum(r.c.n5))
                        .where(scope.where(r), r.c.day >= start, r.c.day <= end).group_by(key).order_by(key)).all()
    out = []
    for k, n, *levels in rows:
        good = int(levels[2]) + int(levels[3]) + int(levels[4])
        ratio = _ratio(good, float(n))
        out.append({"key": k, "count": int(n), "levels": [int(x) for x in levels], "satisfaction": ratio,
                    "meetsTarget": ratio is not None and ratio >= SATISFACTION_TARGET})
    return out


# ---- 10.2.2 b: the fault board with response-time targets --------------------------------------------------
def fault_view(r: Any, now: datetime) -> dict[str, Any]:
    target_s, target = SLA[int(r.level)]
    reached = {"acknowledged": r.acknowledged or r.on_site or r.closed, "onSite": r.on_site or r.closed,
               "resolved": r.closed}[target]
    deadline = r.deadline
    met = None if reached is None and now <= deadline else (reached is not None and reached <= deadline)
    return {"id": r.id, "terminalId": r.terminal_id, "region": r.region, "module": r.module, "level": r.level,
            "kind": r.kind, "code": r.code, "reason": r.reason, "source": r.source, "state": r.dispatch_state,
            "terminalState": r.terminal_state, "opened": r.opened, "acknowledged": r.acknowledged,
            "onSite": r.on_site, "closed": r.closed, "resolution": r.resolution, "assignee": r.assignee,
            "target": target, "targetSeconds": target_s, "deadline": deadline,
            "remaining": None if reached is not None else (deadline - now).total_seconds(), "slaMet": met}


def faults(conn: Connection, scope: Scope, *, state: str | None = None, terminal_id: str | None = None,
           since: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    f = s.faults
    q = select(f).where(scope.where(f))
    if state == "active":
        q = q.where(f.c.dispatch_state != "resolved")
    elif state:
        q = q.where(f.c.dispatch_state == state)
    if terminal_id:
        q = q.where(f.c.terminal_id == terminal_id)
    if since:
        q = q.where(f.c.opened >= since)
    now = utcnow()
    return [fault_view(r, now) for r in conn.execute(q.order_by(f.c.level, f.c.opened.desc()).limit(limit))]


def fault_kpis(conn: Connection, scope: Scope, since: datetime) -> dict[str, Any]:
    """Per level: count, targets met and breached (level 1: on site within 2 h — 10.2.2 i asks 100 %)."""
    f = s.faults
    now = utcnow()
    reached = case((f.c.level == 1, func.coalesce(f.c.on_site, f.c.closed)),
                   (f.c.level == 2, func.coalesce(f.c.acknowledged, f.c.on_site, f.c.closed)), else_=f.c.closed)
    met = case((reached <= f.c.deadline, 1), else_=0)
    breached = case((reached > f.c.deadline, 1), (and_(reached.is_(None), f.c.deadline < now), 1), else_=0)
    rows = conn.execute(select(f.c.level, func.count(), func.sum(met), func.sum(breached))
                        .where(scope.where(f), f.c.opened >= since).group_by(f.c.level)).all()
    per = {int(lv): (int(n), int(m or 0), int(b or 0)) for lv, n, m, b in rows}
    out = {}
    for lv in (1, 2, 3):
        n, m, b = per.get(lv, (0, 0, 0))
        out[str(lv)] = {"count": n, "met": m, "breached": b, "metShare": _ratio(m, m + b)}
    return out


# ---- 10.2.2 g: low use -------------------------------------------------------------------------------------
def low_use(conn: Connection, scope: Scope, tz: ZoneInfo, days: int = 28) -> list[dict[str, Any]]:
    start, end = window(tz, days)
    u, t = s.terminal_usage_daily, s.terminals
    used = dict(conn.execute(select(u.c.terminal_id, func.sum(u.c.n)).where(
        scope.where(u), u.c.day >= start, u.c.day <= end).group_by(u.c.terminal_id)).all())
    out = []
    today = local_today(tz)
    for r in conn.execute(select(t.c.id, t.c.name, t.c.region, t.c.enrolled, t.c.low_use_exempt)
                          .where(scope.where(t), t.c.revoked.is_(None))):
        active = days
        if r.enrolled is not None:
            active = max(1, min(days, (today - r.enrolled.replace(tzinfo=UTC).astimezone(tz).date()).days + 1))
        n = int(used.get(r.id, 0))
        per_day, per_week = n / active, n / active * 7
        if per_day <= LOW_USE_PER_DAY or per_week <= LOW_USE_PER_WEEK:
            out.append({"terminalId": r.id, "name": r.name, "region": r.region, "count": n, "days": active,
                        "perDay": per_day, "perWeek": per_week, "exempt": bool(r.low_use_exempt)})
    return sorted(out, key=lambda d: (d["exempt"], d["perDay"], d["terminalId"]))


# ---- 10.1.1.2, 10.2.2 f: consumables and their forecast ----------------------------------------------------
def consumables(conn: Connection, scope: Scope, days: int = 30) -> list[dict[str, Any]]:
    c = s.consumables
    since = utcnow() - timedelta(days=days)
    series: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in conn.execute(select(c).where(scope.where(c), c.c.time >= since).order_by(c.c.time)):
        series[(r.terminal_id, r.module, r.name)].append(r)
    # items whose last change is older than the window still have a current state
    latest_old = conn.execute(select(c).where(scope.where(c), c.c.time < since).order_by(c.c.time)).all()
    for r in latest_old:
        k = (r.terminal_id, r.module, r.name)
        if k not in series:
            series[k] = [r]
    out = []
    for (tid, module, name), rows in sorted(series.items()):
        last = rows[-1]
        out.append({"terminalId": tid, "region": last.region, "module": module, "name": name, "state": last.state,
                    "level": last.level, "time": last.time, "daysLeft": _forecast(rows)})
    return out


def _forecast(rows: list[Any]) -> float | None:
    """Days until empty from a least-squares line through the level samples since the last refill."""
    pts = [(r.time.timestamp() / 86400, float(r.level)) for r in rows if r.level is not None]
    for i in range(len(pts) - 1, 0, -1):  # keep the run after the last refill (a rise in level)
        if pts[i][1] > pts[i - 1][1]:
            pts = pts[i:]
            break
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    den = sum((p[0] - mx) ** 2 for p in pts)
    if den == 0:
        return None
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / den
    if slope >= 0:
        return None
    return float(max(0.0, pts[-1][1] / -slope))


# ---- 10.2.2 k: cost records --------------------------------------------------------------------------------
def costs(conn: Connection, scope: Scope, since: datetime) -> list[dict[str, Any]]:
    c, f = s.costs, s.faults
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in conn.execute(select(c.c.terminal_id, c.c.kind, func.sum(c.c.amount), func.sum(c.c.hours))
                          .where(scope.where(c), c.c.time >= since).group_by(c.c.terminal_id, c.c.kind)):
        per[r[0]][r[1]] += float(r[2])
        per[r[0]]["hours"] += float(r[3])
        per[r[0]]["total"] += float(r[2])
    repairs: dict[str, int] = dict(conn.execute(select(f.c.terminal_id, func.count()).where(
        scope.where(f), f.c.opened >= since, f.c.on_site.is_not(None)).group_by(f.c.terminal_id)).all())
    faults_n: dict[str, int] = dict(conn.execute(select(f.c.terminal_id, func.count()).where(
        scope.where(f), f.c.opened >= since).group_by(f.c.terminal_id)).all())
    ids = sorted(set(per) | set(faults_n))
    return [{"terminalId": tid, "consumable": per[tid]["consumable"], "repair": per[tid]["repair"],
             "labour": per[tid]["labour"], "travel": per[tid]["travel"], "other": per[tid]["other"],
             "hours": per[tid]["hours"], "total": per[tid]["total"], "faults": int(faults_n.get(tid, 0)),
             "visits": int(repairs.get(tid, 0))} for tid in ids]


# ---- the overview -------------------------------------------------------------------------------------------
def overview(conn: Connection, scope: Scope, tz: ZoneInfo, days: int = 30) -> dict[str, Any]:
    start, end = window(tz, days)
    t, a, f = s.terminals, s.availability, s.faults
    u = s.region_usage_daily if _by_region(scope) else s.terminal_usage_daily
    r = s.region_ratings_daily if _by_region(scope) else s.ratings_daily
    counts = conn.execute(select(func.count(), func.coalesce(func.sum(case((t.c.online, 1), else_=0)), 0))
                          .where(scope.where(t), t.c.revoked.is_(None))).one()
    tx = conn.execute(select(func.coalesce(func.sum(u.c.n), 0), func.coalesce(func.sum(u.c.completed), 0))
                      .where(scope.where(u), u.c.day >= start, u.c.day <= end)).one()
    if _by_region(scope):
        ra = s.region_availability_daily
        av = conn.execute(select(func.coalesce(func.sum(ra.c.up), 0), func.coalesce(func.sum(ra.c.down), 0))
                          .where(scope.where(ra), ra.c.day >= start, ra.c.day <= end)).one()
    else:
        av = conn.execute(select(func.coalesce(func.sum(a.c.up), 0), func.coalesce(func.sum(a.c.down), 0))
                          .where(scope.where(a), a.c.module == "", a.c.day >= start, a.c.day <= end)).one()
    rt = conn.execute(select(func.coalesce(func.sum(r.c.n), 0),
                             func.coalesce(func.sum(r.c.n3 + r.c.n4 + r.c.n5), 0))
                      .where(scope.where(r), r.c.day >= start, r.c.day <= end)).one()
    open_by_level: dict[int, int] = dict(conn.execute(select(f.c.level, func.count()).where(
        scope.where(f), f.c.dispatch_state != "resolved").group_by(f.c.level)).all())
    availability_ratio = _ratio(float(av[0]), float(av[0]) + float(av[1]))
    satisfaction_ratio = _ratio(float(rt[1]), float(rt[0]))
    return {
        "days": days, "from": start, "to": end,
        "terminals": int(counts[0]), "online": int(counts[1]),
        "transactions": int(tx[0]), "completed": int(tx[1]),
        "availability": availability_ratio, "availabilityTarget": AVAILABILITY_TARGET,
        "ratings": int(rt[0]), "satisfaction": satisfaction_ratio, "satisfactionTarget": SATISFACTION_TARGET,
        "openFaults": {str(k): int(open_by_level.get(k, 0)) for k in (1, 2, 3)},
        "faultKpis": fault_kpis(conn, scope, datetime.combine(start, datetime.min.time())),
    }


def terminal_detail(conn: Connection, scope: Scope, terminal_id: str, tz: ZoneInfo, days: int = 30,
                    ) -> dict[str, Any] | None:
    t = s.terminals
    row = conn.execute(select(t).where(scope.where(t), t.c.id == terminal_id)).mappings().first()
    if row is None:
        return None
    start, end = window(tz, days)
    h = s.host_samples
    host = [dict(x) for x in conn.execute(
        select(h.c.time, h.c.cpu_percent, h.c.memory_percent, h.c.disk_percent, h.c.temperature, h.c.latency,
               h.c.success_rate_1h, h.c.success_rate_24h).where(h.c.terminal_id == terminal_id)
        .order_by(h.c.time.desc()).limit(288)).mappings()]
    cat = conn.execute(select(s.catalogues.c.version, s.catalogues.c.entries)
                       .where(s.catalogues.c.terminal_id == terminal_id)).first()
    cm = s.commands
    cmds = [dict(x) for x in conn.execute(select(cm.c.id, cm.c.op, cm.c.state, cm.c.code, cm.c.message, cm.c.issued,
                                                 cm.c.finished, cm.c.issued_by, cm.c.result)
                                          .where(cm.c.terminal_id == terminal_id)
                                          .order_by(cm.c.issued.desc()).limit(20)).mappings()]
    ev = s.events
    events = [dict(x) for x in conn.execute(select(ev.c.time, ev.c.type, ev.c.module, ev.c.data)
                                            .where(ev.c.terminal_id == terminal_id)
                                            .order_by(ev.c.time.desc()).limit(50)).mappings()]
    insp = s.inspections
    inspections = [dict(x) for x in conn.execute(select(insp.c.id, insp.c.trigger, insp.c.started, insp.c.ok,
                                                        insp.c.findings).where(insp.c.terminal_id == terminal_id)
                                                 .order_by(insp.c.started.desc()).limit(10)).mappings()]
    one = Scope(row["region"])
    avail = [x for x in availability(conn, one, start, end) if x["key"] == terminal_id]
    sat = [x for x in satisfaction(conn, one, start, end, by="terminal") if x["key"] == terminal_id]
    d = dict(row)
    d.pop("cert_serial", None)
    return {
        "terminal": d | {"revoked": row["revoked"] is not None},
        "usage": usage(conn, one, start, end, terminal_id=terminal_id),
        "hourly": hourly(conn, one, start, end, terminal_id=terminal_id),
        "services": [x for x in _services_of(conn, terminal_id, start, end)],
        "availability": avail[0] if avail else None,
        "satisfaction": sat[0] if sat else None,
        "faults": faults(conn, one, terminal_id=terminal_id, limit=50),
        "host": host,
        "catalogue": {"version": cat.version, "entries": cat.entries} if cat else None,
        "commands": cmds, "events": events, "inspections": inspections,
        "certifications": certifications.history(conn, terminal_id),
        "consumables": [c for c in consumables(conn, one) if c["terminalId"] == terminal_id],
    }


def _services_of(conn: Connection, terminal_id: str, start: date, end: date) -> list[dict[str, Any]]:
    u = s.usage_daily
    rows = conn.execute(select(u.c.service_code, func.sum(u.c.n)).where(
        u.c.terminal_id == terminal_id, u.c.day >= start, u.c.day <= end).group_by(u.c.service_code)
        .order_by(func.sum(u.c.n).desc())).all()
    return [{"code": c, "count": int(n)} for c, n in rows]


