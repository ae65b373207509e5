"""Operations routes (maintenance scope) on the terminal's records (docs/records.md, clause 10).

* ``GET /v1/ops/summary?days=30[&format=csv[&table=…]]`` — everything ``/ops/`` shows: service heat ranking with
  share (10.1.2.2 b), 0–24 h peaks (10.1.2.3), usage by day/month/year (10.1.2.3 b), satisfaction against 90 %
  (10.2.2 j), faults by level against their response targets (10.2.2 b), availability since installation against
  99.5 % (10.2.2 i), host health (10.2.2 d), the low-use flag (10.2.2 g), consumables, module states;
* ``GET /v1/ops/faults?state=open|all`` — the fault database;
  ``POST /v1/ops/faults/acknowledge`` ``{id}``, ``POST /v1/ops/faults/resolve`` ``{id, resolution}``;
* ``POST /v1/ops/inspections`` ``{wait}`` — run an inspection now (10.2.2 a); ``GET /v1/ops/inspections`` — the last.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field
from starlette.responses import Response

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.records import api
from gtsdk.records.availability import TARGET, TERMINAL
from gtsdk.records.catalogue import served
from gtsdk.records.faults import COLUMNS, TARGETS, row_of
from gtsdk.records.schema import RECORD_ID
from gtsdk.records.summary import window_start
from gtsdk.server.records_routes import recorder

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp, _Call

#: the summary lists the newest faults of the window (and every open one); GET /v1/ops/faults has them all
RECENT_FAULTS = 100
#: fault counts by level over the window, with resolution times against each level's target (10.2.2 b)
FAULT_LEVELS = ("SELECT level, count(*), sum(resolved_t IS NULL), "
                "sum(resolved_t IS NOT NULL AND resolved_t - opened_t <= CASE level WHEN 1 THEN 7200.0 "
                "WHEN 2 THEN 14400.0 ELSE 86400.0 END), "
                "sum(resolved_t IS NULL AND ? - opened_t > CASE level WHEN 1 THEN 7200.0 WHEN 2 THEN 14400.0 "
                "ELSE 86400.0 END), avg(resolved_t - opened_t) "
                "FROM faults WHERE opened >= ? OR state != 'resolved' GROUP BY level")
RECENT = (f"SELECT {COLUMNS} FROM faults WHERE state != 'resolved' OR opened >= ? "
          "ORDER BY state = 'resolved', opened DESC LIMIT ?")


class FaultRef(Model):
    id: str = Field(pattern=RECORD_ID)


class FaultResolve(api.FaultAction):
    id: str = Field(pattern=RECORD_ID)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


#: what the modules section says of each module whatever its state (8.4)
_TITLES = {mod_id: (spec.title_zh, spec.title_en) for mod_id, spec in MODULES.items()}
#: the catalogue section of the last summary and what it was made from (it changes when a module comes or goes)
_catalogue_section: tuple[Any, str, frozenset[str], dict[str, Any]] | None = None


def catalogue_section(cat: Any, source: str, usable: set[str]) -> dict[str, Any]:
    global _catalogue_section
    key = frozenset(usable)
    last = _catalogue_section
    if last is not None and last[0] is cat and last[1] == source and last[2] == key:
        return last[3]
    c = served(cat, source, usable)
    section = {"version": c.version, "source": c.source,
               "entries": [{"code": e.code, "nameZh": e.name_zh, "nameEn": e.name_en, "available": e.available,
                            "missingModules": e.missing_modules} for e in c.entries]}
    _catalogue_section = (cat, source, key, section)
    return section


def build_summary(app: ServiceApp, days: int) -> dict[str, Any]:
    rec = recorder(app)
    now = rec.clock.wall()
    now_t = rec.timeline.now()
    restarts = rec.timeline.restarts()
    stats = rec.statistics(days)
    fig = rec.availability()
    since = datetime.fromisoformat(window_start(now, days)).timestamp()
    with rec.store.reader() as db:
        rows = db.execute(RECENT, (since, RECENT_FAULTS)).fetchall()
        levels = {r[0]: r[1:] for r in db.execute(FAULT_LEVELS, (now_t, since)).fetchall()}
    faults = sorted(rec.fault_dicts(rows, now_t), key=lambda f: f["opened"], reverse=True)
    by_level: dict[str, dict[str, Any]] = {}
    for lvl in (1, 2, 3):
        count, unresolved, within, overdue, mean = levels.get(lvl, (0, 0, 0, 0, None))
        by_level[str(lvl)] = {"count": count, "open": unresolved, "resolved": count - unresolved,
                              "withinTarget": within, "overdueOpen": overdue,
                              "meanResolution": round(mean, 1) if mean is not None else None,
                              "target": TARGETS[lvl]}
    per_mod = {m: round(fig.ratio(m), 6) for m in rec.modules()}
    overall = fig.ratio(TERMINAL)
    modules = []
    for mod_id, (title_zh, title_en) in _TITLES.items():
        dev = app.terminal.device(mod_id)
        st = dev.status()
        s = dev.statistics()
        modules.append({"module": mod_id, "titleZh": title_zh, "titleEn": title_en,
                        "state": st.state.value, "reason": st.reason, "busy": st.busy, "lastError": st.last_error,
                        "since": st.since.isoformat(timespec="seconds") if st.since else None,
                        "enabled": not dev.disabled_reason, "operations": s.operations, "failures": s.failures,
                        "availability": per_mod.get(mod_id)})
    rates = rec.success_rates()
    last = rec.last_host
    host_d = rec.host.quick_json(restarts)  # sampled by the records' periodic work, not by this request
    host_d.update({"latency": last.latency if last else None, "latencyHost": rec.config.latency_host,
                   "successRate1h": rates["1h"], "successRate24h": rates["24h"],
                   "successRates": rates["services"]})
    last_insp = rec.inspector.last()
    return {
        "generatedAt": _iso(now), "terminalId": rec.store.terminal_id, "days": days,
        "installedAt": _iso(rec.timeline.installed),
        "catalogue": catalogue_section(rec.catalogue, rec.catalogue_source, rec.usable_modules()),
        **stats,
        "faults": {"targets": {str(k): v for k, v in TARGETS.items()}, "byLevel": by_level,
                   "open": [f for f in faults if "resolved" not in f], "recent": faults},
        "availability": {"target": TARGET, "since": _iso(fig.since), "seconds": round(fig.seconds, 3),
                         "overall": round(overall, 6), "met": overall >= TARGET,
                         "downtime": round(fig.downtime(TERMINAL), 3),
                         "serviceDowntime": round(fig.service_down, 3), "restarts": restarts,
                         "modules": per_mod},
        "host": host_d,
        "consumables": [{"name": n, "module": m, "state": s, "since": _iso(w)}
                        for (m, n), (s, w) in sorted(rec.faults.consumables.items())],
        "modules": modules,
        "inspections": {"schedule": rec.schedule,
                        "last": last_insp.model_dump(mode="json", by_alias=True) if last_insp else None},
    }


def summary_csv(s: dict[str, Any], table: str | None) -> str:
    """The summary's tables as CSV (UTF-8 with BOM when served, for spreadsheets)."""
    f = s["faults"]["recent"]
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {
        "services": (["rank", "code", "nameZh", "nameEn", "count", "share", "completed", "failed", "abandoned",
                      "timedOut", "successRate", "averageDuration", "ratings", "satisfaction"],
                     [[x["rank"], x["code"], x["nameZh"], x["nameEn"], x["count"], x["share"], x["completed"],
                       x["failed"], x["abandoned"], x["timedOut"], _n(x["successRate"]), _n(x["averageDuration"]),
                       x["ratings"], _n(x["satisfaction"])] for x in s["services"]]),
        "hourly": (["hour", "count"], [[h, n] for h, n in enumerate(s["hourly"])]),
        "daily": (["day", "count"], [[x["day"], x["count"]] for x in s["usage"]["daily"]]),
        "monthly": (["month", "count"], [[x["month"], x["count"]] for x in s["usage"]["monthly"]]),
        "yearly": (["year", "count"], [[x["year"], x["count"]] for x in s["usage"]["yearly"]]),
        "satisfaction": (["level", "count"], [[k, v] for k, v in s["satisfaction"]["levels"].items()]),
        "faults": (["id", "level", "module", "kind", "code", "reason", "state", "opened", "acknowledged", "resolved",
                    "resolution", "duration", "overdue"],
                   [[x["id"], x["level"], x.get("module") or "", x["kind"], x.get("code") or "", x.get("reason", ""),
                     x["state"], x["opened"], x.get("acknowledged") or "", x.get("resolved") or "",
                     x.get("resolution") or "", _n(x.get("duration")), x["overdue"]] for x in f]),
        "availability": (["module", "availability"],
                         [["terminal", s["availability"]["overall"]]] +
                         [[m, a] for m, a in sorted(s["availability"]["modules"].items())]),
        "modules": (["module", "state", "reason", "lastError", "operations", "failures", "availability"],
                    [[m["module"], m["state"], m["reason"], m["lastError"] or "", m["operations"], m["failures"],
                      _n(m["availability"])] for m in s["modules"]]),
        "consumables": (["name", "module", "state", "since"],
                        [[c["name"], c["module"], c["state"], c["since"]] for c in s["consumables"]]),
    }
    if table is not None and table not in tables:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"table must be one of {', '.join(tables)}", field="table")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for name, (head, rows) in tables.items():
        if table is not None and name != table:
            continue
        if table is None:
            w.writerow([f"# {name}"])
        w.writerow(head)
        w.writerows(rows)
        if table is None:
            w.writerow([])
    return buf.getvalue()


def _n(v: Any) -> Any:
    return "" if v is None else v


class OpsRoutes:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def summary(self, call: _Call) -> Response:
        q = call.request.query_params
        for k in q:
            if k not in ("format", "days", "table"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown query parameter", field=k)
        try:
            days = int(q.get("days", "30"))
            if not 1 <= days <= 366:
                raise ValueError
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "days must be 1..366", field="days") from None
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv"):
            raise GtsdkError(ErrorCode.INVALID_DATA, "format must be json or csv", field="format")
        if q.get("table") is not None and fmt != "csv":
            raise GtsdkError(ErrorCode.INVALID_DATA, "table needs format=csv", field="table")
        data = await asyncio.to_thread(build_summary, self.app, days)
        if fmt == "csv":
            text = summary_csv(data, q.get("table"))
            return Response(text.encode("utf-8-sig"), 200, media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="gtsdk-ops.csv"'})
        return self.app.ok(call, data)

    async def faults(self, call: _Call) -> Response:
        rec = recorder(self.app)
        q = call.request.query_params
        for k in q:
            if k not in ("state", "limit"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown query parameter", field=k)
        state = q.get("state", "open")
        if state not in ("open", "all"):
            raise GtsdkError(ErrorCode.INVALID_DATA, "state must be open or all", field="state")
        try:
            limit = max(1, min(int(q.get("limit", "1000")), 10_000))
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "limit must be an integer", field="limit") from None
        where = "WHERE state != 'resolved'" if state == "open" else ""

        def read() -> list[dict[str, Any]]:
            now_t = rec.timeline.now()
            with rec.store.reader() as db:
                rows = db.execute(f"SELECT {COLUMNS} FROM faults {where} ORDER BY opened DESC LIMIT ?",
                                  (limit,)).fetchall()
            return [row_of(r).view(now_t).model_dump(mode="json", by_alias=True) for r in rows]

        return self.app.ok(call, {"faults": await asyncio.to_thread(read)})

    async def acknowledge(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, FaultRef)
        assert isinstance(req, FaultRef)
        f = await asyncio.to_thread(rec.faults.acknowledge, req.id)
        return self.app.ok(call, f.view(rec.timeline.now()))

    async def resolve(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, FaultResolve)
        assert isinstance(req, FaultResolve)
        f = await asyncio.to_thread(rec.faults.resolve, req.id, req.resolution or "maintenance")
        return self.app.ok(call, f.view(rec.timeline.now()))

    async def inspect(self, call: _Call) -> Response:
        rec = recorder(self.app)
        req = await self.app._parse(call, api.InspectionRequest)
        assert isinstance(req, api.InspectionRequest)
        wait = rec.config.inspection_wait if req.wait is None else req.wait
        view = await asyncio.to_thread(rec.inspector.run, "manual", wait)
        return self.app.ok(call, view)

    async def last_inspection(self, call: _Call) -> Response:
        rec = recorder(self.app)
        view = await asyncio.to_thread(rec.inspector.last)
        if view is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no inspection yet")
        return self.app.ok(call, view)


def add_routes(app: ServiceApp) -> None:
    o = OpsRoutes(app)
    r = app._routes
    r[("GET", "/v1/ops/summary")] = ("maintenance", o.summary)
    r[("GET", "/v1/ops/faults")] = ("maintenance", o.faults)
    r[("POST", "/v1/ops/faults/acknowledge")] = ("maintenance", o.acknowledge)
    r[("POST", "/v1/ops/faults/resolve")] = ("maintenance", o.resolve)
    r[("POST", "/v1/ops/inspections")] = ("maintenance", o.inspect)
    r[("GET", "/v1/ops/inspections")] = ("maintenance", o.last_inspection)
