"""Example pages served by the service, their data routes and the Prometheus endpoint.

* ``/demo/`` — the kiosk demo page (``gtsdk/server/web/demo``): the whole 实名认证 flow on the JS client.
* ``/ops/`` — the operations dashboard (``gtsdk/server/web/ops``), maintenance scope.
* ``GET /v1/ops/summary`` (maintenance) — the statistics of clause 10.1.2 from the audit log (operations per
  module, 0–24 h hourly counts, share per service, daily and monthly usage), live module status with the
  last error, fault records with level 1–3 and time to recovery (10.2.2 b, d), consumables and
  availability against the 99.5 % target; ``?format=csv`` for spreadsheets.
* ``GET /metrics`` — Prometheus text format (module state, operations by code, latency, event seq) for a
  maintenance token or the scrape token configured as ``[service] metrics_token_sha256``.

The pages are served only when ``[service] demo = true`` or ``gtsdk serve --demo``; the data routes are always
there (they need a maintenance token).  The pages come from ``[service] demo_dir`` when set, else from the
package's own data (``gtsdk/server/web``).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from gtsdk.driver import DeviceState
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.runtime.device import OperationRecord
from gtsdk.runtime.events import Event

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp, _Call

log = logging.getLogger("gtsdk.server.pages")

#: availability target of the operations dashboard (10.2.2)
AVAILABILITY_TARGET = 0.995
#: fault levels (10.2.2 b): 1 down, 2 partly failing, 3 minor
LEVEL_DOWN, LEVEL_PARTIAL, LEVEL_MINOR = 1, 2, 3
DOWN_STATES = {DeviceState.NO_DEVICE.value, DeviceState.POWER_OFF.value, DeviceState.HARDWARE_ERROR.value,
               DeviceState.OFFLINE.value}
PARTIAL_STATES = {DeviceState.USER_ERROR.value, DeviceState.FRAUD_ATTEMPT.value, DeviceState.POTENTIAL_FRAUD.value}
DEMO_TOKEN_HOURS = 8
DEMO_TOKEN_LABEL = "demo page (gtsdk serve --demo)"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".json": "application/json"}
TOKEN_PLACEHOLDER = "__GTSDK_DEMO_TOKEN__"
#: the pages load nothing from elsewhere; the keyboard component styles its shadow root inline
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' wss: ws:; "
       "object-src 'none'; frame-ancestors 'none'")

Handler = Callable[["_Call"], Awaitable[Response]]


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds") if t is not None else None


# ---- fault records and availability (from the event stream) ----------------------------------------------
@dataclass
class Fault:
    module: str
    level: int
    kind: str  # "state" or a consumable name
    reason: str
    start: datetime
    end: datetime | None = None

    def as_dict(self, now: datetime) -> dict[str, Any]:
        end = self.end or now
        return {"module": self.module, "level": self.level, "kind": self.kind, "reason": self.reason,
                "start": _iso(self.start), "end": _iso(self.end), "open": self.end is None,
                "recoverySeconds": round((self.end - self.start).total_seconds(), 3) if self.end else None,
                "durationSeconds": round((end - self.start).total_seconds(), 3)}


def consumable_states(module: str, detail: dict[str, Any]) -> dict[str, str]:
    """``{"receiptPaper": "ok"|"low"|"empty"}`` etc. from a printer's status detail or status event."""
    out: dict[str, str] = {}
    if module == "receipt_printer" and "paper" in detail:
        out["receiptPaper"] = {"out": "empty", "nearEnd": "low"}.get(str(detail["paper"]), "ok")
    elif module == "a4_printer" and ("reasons" in detail or "warnings" in detail):
        keys = {str(r).rsplit("-", 1)[0] if str(r).endswith(("-error", "-warning", "-report")) else str(r)
                for r in list(detail.get("reasons") or []) + list(detail.get("warnings") or [])}
        out["a4Paper"] = "empty" if "media-empty" in keys or "media-needed" in keys else (
            "low" if "media-low" in keys else "ok")
        out["toner"] = "empty" if keys & {"toner-empty", "marker-supply-empty"} else (
            "low" if keys & {"toner-low", "marker-supply-low"} else "ok")
    return out


class OpsTracker:
    """Follows ``statusChanged`` and printer status events: fault records, consumables, per-module downtime."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self.started = datetime.now(UTC)
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self._open: dict[tuple[str, str], Fault] = {}
        self.consumables: dict[str, tuple[str, str]] = {}  # name → (module, state)
        t = app.terminal
        for mod_id, dev in t.devices.items():
            if dev.disabled_reason:
                continue
            lvl = self._state_level(dev.state.value)
            if lvl is not None:
                self._begin(mod_id, "state", lvl, dev.reason or dev.state.value, dev.since)
        self.unsubscribe = t.events.subscribe(self.on_event)

    @staticmethod
    def _state_level(state: str) -> int | None:
        return LEVEL_DOWN if state in DOWN_STATES else LEVEL_PARTIAL if state in PARTIAL_STATES else None

    def _begin(self, module: str, kind: str, level: int, reason: str, when: datetime) -> None:
        key = (module, kind)
        cur = self._open.get(key)
        if cur is not None and cur.level == level:
            return
        if cur is not None:
            cur.end = when
        f = Fault(module, level, kind, reason, when)
        self._open[key] = f
        self.faults.append(f)
        del self.faults[:-1000]

    def _end(self, module: str, kind: str, when: datetime) -> None:
        f = self._open.pop((module, kind), None)
        if f is not None:
            f.end = when

    def on_event(self, ev: Event) -> None:
        with self._lock:
            if ev.type == "statusChanged":
                state = str(ev.data.get("state", ""))
                lvl = self._state_level(state)
                if lvl is None:
                    if state != DeviceState.STARTING.value:
                        self._end(ev.module, "state", ev.time)
                else:
                    self._begin(ev.module, "state", lvl, str(ev.data.get("reason") or state), ev.time)
            elif ev.type == "printerStatusChanged":
                self._consumables(ev.module, ev.data, ev.time)

    def _consumables(self, module: str, detail: dict[str, Any], when: datetime) -> None:
        for name, state in consumable_states(module, detail).items():
            self.consumables[name] = (module, state)
            if state == "empty":
                self._begin(module, name, LEVEL_PARTIAL, f"{name} empty", when)
            elif state == "low":
                self._begin(module, name, LEVEL_MINOR, f"{name} low", when)
            else:
                self._end(module, name, when)

    def refresh(self) -> None:
        """Read consumables from the printers' current status detail (no device I/O: cached by the drivers)."""
        now = datetime.now(UTC)
        for mod_id in ("receipt_printer", "a4_printer"):
            dev = self.app.terminal.devices.get(mod_id)
            if dev is None or dev.disabled_reason:
                continue
            detail = dev.status().detail
            with self._lock:
                if consumable_states(mod_id, detail):
                    self._consumables(mod_id, detail, now)

    def snapshot(self) -> tuple[list[dict[str, Any]], dict[str, float], list[dict[str, Any]]]:
        """(fault records newest first, availability per module, consumables)."""
        self.refresh()
        now = datetime.now(UTC)
        window = max(1e-3, (now - self.started).total_seconds())
        down: dict[str, float] = {}
        with self._lock:
            faults = [f.as_dict(now) for f in reversed(self.faults)]
            for f in self.faults:
                if f.level <= LEVEL_PARTIAL:
                    start = max(f.start, self.started)
                    down[f.module] = down.get(f.module, 0.0) + max(0.0, ((f.end or now) - start).total_seconds())
            cons = [{"name": n, "module": m, "state": s} for n, (m, s) in sorted(self.consumables.items())]
        avail = {m: max(0.0, 1.0 - down.get(m, 0.0) / window) for m, d in self.app.terminal.devices.items()
                 if not d.disabled_reason}
        return faults, avail, cons


# ---- operation metrics (Terminal.on_complete) ---------------------------------------------------------------
class OpMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count: dict[tuple[str, str, str], int] = {}
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: dict[tuple[str, str], int] = {}

    def __call__(self, rec: OperationRecord) -> None:
        with self._lock:
            k = (rec.module, rec.operation, rec.code)
            self.count[k] = self.count.get(k, 0) + 1
            k2 = (rec.module, rec.operation)
            self.seconds[k2] = self.seconds.get(k2, 0.0) + rec.duration_ms / 1000.0
            self.calls[k2] = self.calls.get(k2, 0) + 1


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# ---- audit aggregation ------------------------------------------------------------------------------------
def audit_stats(path: Path, days: int, now: datetime) -> dict[str, Any]:
    """Clause 10.1.2 statistics from the audit database (read-only connection; the writer keeps its own).

    Two grouped scans (the window by module/operation/code/UTC hour; the last year by UTC hour); local hours,
    days and months are computed from the hour buckets, so the terminal's time zone applies."""
    since = (now - timedelta(days=days)).astimezone(UTC).isoformat(timespec="milliseconds")
    year = (now - timedelta(days=366)).astimezone(UTC).isoformat(timespec="milliseconds")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        window = db.execute("SELECT module, operation, code, substr(time, 1, 13), count(*) FROM records "
                            "WHERE time >= ? GROUP BY 1, 2, 3, 4", (since,)).fetchall()
        yearly = db.execute("SELECT substr(time, 1, 13), count(*) FROM records WHERE time >= ? GROUP BY 1",
                            (year,)).fetchall()
    finally:
        db.close()
    local_of: dict[str, datetime] = {}

    def local(bucket: str) -> datetime:
        t = local_of.get(bucket)
        if t is None:
            t = local_of[bucket] = datetime.fromisoformat(bucket + ":00:00+00:00").astimezone()
        return t

    per_module: dict[str, dict[str, int]] = {}
    services: dict[str, int] = {}
    errors: dict[str, int] = {}
    hourly = [0] * 24
    daily: dict[str, int] = {}
    for mod, op, code, bucket, n in window:
        pm = per_module.setdefault(mod, {"operations": 0, "failures": 0})
        pm["operations"] += n
        if code != "success":
            pm["failures"] += n
            errors[code] = errors.get(code, 0) + n
        key = f"{mod}.{op}"
        services[key] = services.get(key, 0) + n
        t = local(bucket)
        hourly[t.hour] += n
        d = t.strftime("%Y-%m-%d")
        daily[d] = daily.get(d, 0) + n
    monthly: dict[str, int] = {}
    for bucket, n in yearly:
        m = local(bucket).strftime("%Y-%m")
        monthly[m] = monthly.get(m, 0) + n
    total = sum(services.values()) or 1
    share = [{"service": k, "count": n, "share": round(n / total, 4)}
             for k, n in sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))]
    loc = now.astimezone()
    day_keys = [(loc - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(min(days, 31) - 1, -1, -1)]
    month_keys: list[str] = []
    y, mo = loc.year, loc.month
    for _ in range(12):
        month_keys.insert(0, f"{y:04d}-{mo:02d}")
        y, mo = (y, mo - 1) if mo > 1 else (y - 1, 12)
    return {"operationsPerModule": dict(sorted(per_module.items())), "share": share, "hourly": hourly,
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
            "daily": [{"day": d, "count": daily.get(d, 0)} for d in day_keys],
            "monthly": [{"month": k, "count": monthly.get(k, 0)} for k in month_keys]}


def summary_csv(s: dict[str, Any], table: str | None) -> str:
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {
        "modules": (["module", "state", "reason", "lastError", "operations", "failures", "availability"],
                    [[m["module"], m["state"], m["reason"], m["lastError"] or "", m["operations"], m["failures"],
                      m["availability"]] for m in s["modules"]]),
        "hourly": (["hour", "count"], [[h, n] for h, n in enumerate(s["hourly"])]),
        "share": (["service", "count", "share"], [[x["service"], x["count"], x["share"]] for x in s["share"]]),
        "daily": (["day", "count"], [[x["day"], x["count"]] for x in s["daily"]]),
        "monthly": (["month", "count"], [[x["month"], x["count"]] for x in s["monthly"]]),
        "faults": (["module", "level", "kind", "reason", "start", "end", "recoverySeconds"],
                   [[f["module"], f["level"], f["kind"], f["reason"], f["start"], f["end"] or "",
                     "" if f["recoverySeconds"] is None else f["recoverySeconds"]] for f in s["faults"]]),
        "consumables": (["name", "module", "state"], [[c["name"], c["module"], c["state"]] for c in s["consumables"]]),
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


# ---- the pages --------------------------------------------------------------------------------------------
def pages_dir(app: ServiceApp) -> Path | None:
    """``[service] demo_dir`` (relative to the config file), else the pages shipped in the package."""
    cfg = app.config
    if cfg.demo_dir:
        p = Path(cfg.demo_dir)
        return p if p.is_absolute() else Path(cfg.base_dir) / p
    shipped = Path(str(resources.files("gtsdk.server").joinpath("web")))
    return shipped if (shipped / "demo" / "index.html").is_file() else None


class Pages:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self.tracker = OpsTracker(app)
        self.metrics = OpMetrics()
        app.terminal.on_complete(self.metrics)
        self._demo_token: tuple[str, datetime] | None = None
        self._token_lock = threading.Lock()
        sim = app.terminal.simulations.get("camera") if app.simulate else None
        photo = getattr(sim, "photo", None)
        #: the simulated card holder's face, fixed at start (a stand-in for a licensed WLT decoder)
        self.card_photo: Path | None = Path(photo) if photo and Path(photo).is_file() else None

    def close(self) -> None:
        self.tracker.unsubscribe()
        listeners = getattr(self.app.terminal, "_listeners", None)
        if isinstance(listeners, list) and self.metrics in listeners:
            listeners.remove(self.metrics)

    # ---- ops data ---------------------------------------------------------------------------------------
    def summary(self, days: int) -> dict[str, Any]:
        app = self.app
        now = datetime.now(UTC)
        faults, avail, cons = self.tracker.snapshot()
        if app.audit is not None:
            app.audit.flush()
            stats = audit_stats(app.audit.path, days, now)
        else:
            stats = {"operationsPerModule": {}, "share": [], "hourly": [0] * 24, "errors": {}, "daily": [],
                     "monthly": []}
        per = stats["operationsPerModule"]
        modules = []
        for mod_id, spec in MODULES.items():
            dev = app.terminal.device(mod_id)
            st = dev.status()
            modules.append({"module": mod_id, "titleZh": spec.title_zh, "titleEn": spec.title_en,
                            "state": st.state.value, "reason": st.reason, "busy": st.busy,
                            "lastError": st.last_error, "since": _iso(st.since),
                            "enabled": not dev.disabled_reason,
                            "operations": per.get(mod_id, {}).get("operations", 0),
                            "failures": per.get(mod_id, {}).get("failures", 0),
                            "availability": round(avail[mod_id], 6) if mod_id in avail else None})
        vals = [a for a in avail.values()]
        overall = sum(vals) / len(vals) if vals else 1.0
        tid = app.terminal.config.terminal.get("id")
        return {"generatedAt": _iso(now), "terminalId": str(tid) if tid else None, "days": days,
                "trackingSince": _iso(self.tracker.started), "eventSeq": app.terminal.events.last_seq,
                "modules": modules, "faults": faults, "consumables": cons,
                "availability": {"target": AVAILABILITY_TARGET, "overall": round(overall, 6),
                                 "met": overall >= AVAILABILITY_TARGET,
                                 "modules": {m: round(a, 6) for m, a in avail.items()}},
                **stats}

    async def summary_route(self, call: _Call) -> Response:
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
        data = await asyncio.to_thread(self.summary, days)
        if fmt == "csv":
            text = summary_csv(data, q.get("table"))
            return Response(text.encode("utf-8-sig"), 200, media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="gtsdk-ops.csv"'})
        return self.app.ok(call, data)

    # ---- Prometheus ---------------------------------------------------------------------------------------
    def _scrape_allowed(self, header: str | None) -> bool:
        kind, _, value = (header or "").partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            return False
        value = value.strip()
        want = self.app.config.metrics_token_sha256
        if want and hmac.compare_digest(hashlib.sha256(value.encode()).hexdigest(), want):
            return True
        tok = self.app.tokens.verify(value)
        return tok is not None and "maintenance" in tok.scopes

    def metrics_text(self) -> str:
        t = self.app.terminal
        lines = ["# HELP gtsdk_module_state Current device state of each module (1 = in this state).",
                 "# TYPE gtsdk_module_state gauge"]
        states = [s.value for s in DeviceState]
        for mod_id in MODULES:
            cur = t.device(mod_id).state.value
            for s in states:
                lines.append(f'gtsdk_module_state{{module="{mod_id}",state="{s}"}} {1 if s == cur else 0}')
        m = self.metrics
        with m._lock:
            count = dict(m.count)
            secs = dict(m.seconds)
            calls = dict(m.calls)
        lines += ["# HELP gtsdk_operations_total Completed operations by result code.",
                  "# TYPE gtsdk_operations_total counter"]
        for (mod, op, code), n in sorted(count.items()):
            lines.append(f'gtsdk_operations_total{{module="{_label(mod)}",operation="{_label(op)}",'
                         f'code="{_label(code)}"}} {n}')
        lines += ["# HELP gtsdk_operation_duration_seconds Time from start to completion of operations.",
                  "# TYPE gtsdk_operation_duration_seconds summary"]
        for (mod, op), total in sorted(secs.items()):
            lbl = f'module="{_label(mod)}",operation="{_label(op)}"'
            lines.append(f"gtsdk_operation_duration_seconds_sum{{{lbl}}} {total:.6f}")
            lines.append(f"gtsdk_operation_duration_seconds_count{{{lbl}}} {calls[(mod, op)]}")
        faults, avail, cons = self.tracker.snapshot()
        lines += ["# HELP gtsdk_availability_ratio Share of time since start without a level 1 or 2 fault.",
                  "# TYPE gtsdk_availability_ratio gauge"]
        lines += [f'gtsdk_availability_ratio{{module="{mod}"}} {a:.6f}' for mod, a in sorted(avail.items())]
        lines += ["# HELP gtsdk_faults_open Open fault records by level (1 down, 2 partly failing, 3 minor).",
                  "# TYPE gtsdk_faults_open gauge"]
        open_by: dict[int, int] = {1: 0, 2: 0, 3: 0}
        for f in faults:
            if f["open"]:
                open_by[f["level"]] = open_by.get(f["level"], 0) + 1
        lines += [f'gtsdk_faults_open{{level="{lvl}"}} {n}' for lvl, n in sorted(open_by.items())]
        lines += ["# HELP gtsdk_consumable_ok Consumable state (1 ok, 0.5 low, 0 empty).",
                  "# TYPE gtsdk_consumable_ok gauge"]
        lines += [f'gtsdk_consumable_ok{{name="{c["name"]}",module="{c["module"]}"}} '
                  f'{ {"ok": 1, "low": 0.5}.get(c["state"], 0)}' for c in cons]
        lines += ["# HELP gtsdk_event_seq Sequence number of the last event.", "# TYPE gtsdk_event_seq counter",
                  f"gtsdk_event_seq {t.events.last_seq}"]
        return "\n".join(lines) + "\n"

    async def metrics_route(self, call: _Call) -> Response:
        if not self._scrape_allowed(call.request.headers.get("authorization")):
            raise GtsdkError(ErrorCode.UNAUTHORIZED, "needs a maintenance token or the scrape token",
                             field="Authorization")
        text = await asyncio.to_thread(self.metrics_text)
        return Response(text, 200, media_type="text/plain; version=0.0.4; charset=utf-8")

    # ---- static pages ---------------------------------------------------------------------------------------
    def demo_token(self) -> str:
        """One short-lived app token for the demo page (app ``demo``), made on first use, renewed when old."""
        now = datetime.now(UTC)
        with self._token_lock:
            if self._demo_token is None or self._demo_token[1] - now < timedelta(hours=1):
                exp = now + timedelta(hours=DEMO_TOKEN_HOURS)
                if self._demo_token is None:  # earlier runs' demo tokens: revoke, one demo token at a time
                    for old in self.app.tokens.list():
                        if old.app == "demo" and old.label == DEMO_TOKEN_LABEL and old.active():
                            self.app.tokens.revoke(old.id)
                tok = self.app.tokens.create(["app"], app="demo", label=DEMO_TOKEN_LABEL, expires=exp)
                self._demo_token = (tok, exp)
            return self._demo_token[0]

    def file_handler(self, path: Path, *, inject: bool = False) -> Handler:
        ctype = CONTENT_TYPES.get(path.suffix, "application/octet-stream")

        async def handler(call: _Call) -> Response:
            try:
                body = await asyncio.to_thread(path.read_bytes)
            except OSError:
                raise GtsdkError(ErrorCode.NOT_FOUND, "page file missing") from None
            if inject:
                body = body.replace(TOKEN_PLACEHOLDER.encode(), self.demo_token().encode())
            return Response(body, 200, media_type=ctype, headers={
                "Content-Security-Policy": CSP,
                "Referrer-Policy": "no-referrer"})
        return handler

    def redirect(self, to: str) -> Handler:
        async def handler(call: _Call) -> Response:
            return Response(b"", 308, headers={"Location": to})
        return handler

    async def card_photo_route(self, call: _Call) -> Response:
        if self.card_photo is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no simulated card holder photo (only with --simulate)")
        data = await asyncio.to_thread(_card_sized, self.card_photo)
        return self.app.ok(call, {"image": base64.b64encode(data).decode(), "format": "jpeg",
                                  "note": "simulated card holder (stands in for the WLT photo a licensed decoder "
                                          "would give)"})


async def _no_icon(call: _Call) -> Response:
    return Response(b"", 204)


def _card_sized(path: Path, box: int = 480) -> bytes:
    """The photo as a JPEG no larger than *box* pixels (a decoded card photo is small; requests have a size cap)."""
    data = path.read_bytes()
    try:
        from PIL import Image
    except ImportError:
        return data
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        rgb.thumbnail((box, box))
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=90)
    return out.getvalue()


def add_routes(app: ServiceApp) -> None:
    """Register the example routes on *app* (called by :meth:`ServiceApp._build_routes`)."""
    p = Pages(app)
    app.pages = p  # type: ignore[attr-defined]  # for tests and embedding apps
    r = app._routes
    r[("GET", "/v1/ops/summary")] = ("maintenance", p.summary_route)
    r[("GET", "/metrics")] = (None, p.metrics_route)
    if not app.config.demo:
        return
    root = pages_dir(app)
    if root is None or not root.is_dir():
        log.warning("demo pages not found (set [service] demo_dir); /demo/ and /ops/ are not served")
        return
    for name in ("demo", "ops"):
        folder = root / name
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix in CONTENT_TYPES:
                inject = name == "demo" and f.name == "index.html"
                r[("GET", f"/{name}/{f.name}")] = (None, p.file_handler(f, inject=inject))
        if (folder / "index.html").is_file():
            r[("GET", f"/{name}/")] = (None, p.file_handler(folder / "index.html", inject=name == "demo"))
            r[("GET", f"/{name}")] = (None, p.redirect(f"/{name}/"))
    if ("GET", "/sdk/keyboard.js") not in r:
        kb = Path(__file__).resolve().parent / "static" / "keyboard.js"
        if kb.is_file():
            r[("GET", "/sdk/keyboard.js")] = (None, p.file_handler(kb))
    r[("GET", "/v1/demo/card-photo")] = ("app", p.card_photo_route)
    r.setdefault(("GET", "/favicon.ico"), (None, _no_icon))
    # the pages' own origin (https://127.0.0.1:<port> …) is allowed by gtsdk.server.cors from the configuration
