"""Export to the national 一体化政务服务平台 (10.1.1.1): terminal count, 事项 list, 办理量 and 好差评 for a period,
as JSON (``GET /api/v1/export/national``) or one CSV per part (``?format=csv&part=terminals|services|volume|
ratings``).  Field names are documented in docs/fleet.md; nothing in them is personal."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.queries import Scope

PARTS = ("terminals", "services", "volume", "ratings")
SCHEMA_VERSION = 1


def national(conn: Connection, scope: Scope, start: date, end: date) -> dict[str, Any]:
    t, u, r = s.terminals, s.region_usage_daily, s.region_ratings_daily  # exports are for divisions
    by_region = conn.execute(select(t.c.region, func.count()).where(scope.where(t), t.c.revoked.is_(None))
                             .group_by(t.c.region).order_by(t.c.region)).all()
    offered: dict[str, int] = defaultdict(int)
    for (entries,) in conn.execute(select(s.catalogues.c.entries).join(t, t.c.id == s.catalogues.c.terminal_id)
                                   .where(scope.where(t), t.c.revoked.is_(None))):
        for e in entries or []:
            if isinstance(e, dict) and e.get("code"):
                offered[str(e["code"])] += 1
    services = [{"code": x.code, "nameZh": x.name_zh, "nameEn": x.name_en, "department": x.department,
                 "category": x.category, "onTerminal": bool(x.on_terminal), "terminals": offered.get(x.code, 0)}
                for x in conn.execute(select(s.services).where(s.services.c.code.in_(list(offered)))
                                      .order_by(s.services.c.code))] if offered else []
    volume = [{"region": x.region, "serviceCode": x.service_code, "count": int(x.n), "completed": int(x.ok)}
              for x in conn.execute(select(u.c.region, u.c.service_code, func.sum(u.c.n).label("n"),
                                           func.sum(u.c.completed).label("ok"))
                                    .where(scope.where(u), u.c.day >= start, u.c.day <= end)
                                    .group_by(u.c.region, u.c.service_code).order_by(u.c.region, u.c.service_code))]
    ratings = []
    for x in conn.execute(select(r.c.region, r.c.service_code, func.sum(r.c.n).label("n"), func.sum(r.c.n1),
                                 func.sum(r.c.n2), func.sum(r.c.n3), func.sum(r.c.n4), func.sum(r.c.n5))
                          .where(scope.where(r), r.c.day >= start, r.c.day <= end)
                          .group_by(r.c.region, r.c.service_code).order_by(r.c.region, r.c.service_code)):
        levels = [int(v) for v in x[3:8]]
        n = int(x.n)
        ratings.append({"region": x.region, "serviceCode": x.service_code, "count": n, "levels": levels,
                        "satisfaction": (levels[2] + levels[3] + levels[4]) / n if n else None})
    return {
        "schemaVersion": SCHEMA_VERSION, "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "from": start.isoformat(), "to": end.isoformat(), "scope": scope.region or "",
        "terminals": {"total": sum(int(n) for _, n in by_region),
                      "byRegion": [{"region": reg, "count": int(n)} for reg, n in by_region]},
        "services": services, "volume": volume, "ratings": ratings,
    }


def to_csv(data: dict[str, Any], part: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if part == "terminals":
        w.writerow(["region", "count"])
        for x in data["terminals"]["byRegion"]:
            w.writerow([x["region"], x["count"]])
    elif part == "services":
        w.writerow(["code", "nameZh", "nameEn", "department", "category", "onTerminal", "terminals"])
        for x in data["services"]:
            w.writerow([x["code"], x["nameZh"], x["nameEn"], x["department"], x["category"],
                        int(x["onTerminal"]), x["terminals"]])
    elif part == "volume":
        w.writerow(["region", "serviceCode", "count", "completed", "from", "to"])
        for x in data["volume"]:
            w.writerow([x["region"], x["serviceCode"], x["count"], x["completed"], data["from"], data["to"]])
    elif part == "ratings":
        w.writerow(["region", "serviceCode", "count", "level1", "level2", "level3", "level4", "level5",
                    "satisfaction", "from", "to"])
        for x in data["ratings"]:
            sat = "" if x["satisfaction"] is None else f"{x['satisfaction']:.4f}"
            w.writerow([x["region"], x["serviceCode"], x["count"], *x["levels"], sat, data["from"], data["to"]])
    else:
        raise ValueError(part)
    return buf.getvalue()
