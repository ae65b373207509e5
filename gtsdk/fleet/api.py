"""The platform's HTTPS API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``) and the ``/fleet/`` pages
(package data in ``gtsdk/server/web/fleet``, beside the terminal's own pages).

Every response is ``{"code", "message", "data"}`` (errors: a catalogue code, zh/en message, ``retryable``,
``detail``/``field``).  Callers authenticate with a bearer token (:mod:`gtsdk.fleet.users`); every query is cut
to the caller's scope, and a terminal outside it is ``notFound`` (its existence is not revealed).  Request bodies
are limited to 64 KiB, list results are bounded, database statements time out (PostgreSQL ``statement_timeout``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from sqlalchemy.engine import Connection
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import export, provision, topics
from gtsdk.fleet.platform import COST_KINDS, DISPATCH, Platform
from gtsdk.fleet.pushes import Pushes, parse_catalogue
from gtsdk.fleet.store import queries as q
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import Authenticator, User

log = logging.getLogger("gtsdk.fleet.api")
MAX_BODY = 64 * 1024
MAX_DAYS = 3660
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}


# ---- request bodies -----------------------------------------------------------------------------------------
class CommandRequest(Model):
    op: cmds.CommandOp
    params: dict[str, Any] = Field(default_factory=dict)
    lifetime: float = Field(cmds.DEFAULT_LIFETIME, gt=0, le=cmds.MAX_LIFETIME, description="seconds")


class TransitionRequest(Model):
    to: str = Field(pattern="^(acknowledged|onSite|resolved)$")
    note: str | None = Field(None, max_length=500)
    assignee: str | None = Field(None, max_length=64)


class CostRequest(Model):
    terminal_id: str = Field(pattern=topics.TERMINAL_ID.pattern)
    kind: str = Field(pattern=f"^({'|'.join(COST_KINDS)})$")
    amount: float = Field(ge=0, le=1e7, description="yuan")
    hours: float = Field(0, ge=0, le=1000)
    fault_id: str | None = Field(None, max_length=64)
    note: str = Field("", max_length=256)


class CodeRequest(Model):
    terminal_id: str = Field(pattern=topics.TERMINAL_ID.pattern)
    region: str = Field(pattern=topics.REGION.pattern)
    maintainer: str | None = Field(None, max_length=64)
    hours: float = Field(provision.CODE_HOURS, gt=0, le=720)


class EnrolRequest(Model):
    code: str = Field(max_length=40)
    csr: str = Field(max_length=8192, description="PEM certificate signing request (P-256 key made on the terminal)")
    sm2_public_key: str | None = Field(None, max_length=1024, description="the terminal's SM2 public key (PEM)")
    sm2_proof: str | None = Field(None, max_length=400, description="SM2 signature over the CSR (base64)")


class CataloguePushRequest(Model):
    """A 事项 catalogue for terminals: as JSON (``catalogue``) or as the catalogue file's TOML text (``toml``)."""

    catalogue: dict[str, Any] | None = Field(None, description="version and entries (gtsdk.records.schema.Catalogue)")
    toml: str | None = Field(None, max_length=2 * 1024 * 1024, description="the text of a catalogue.toml")
    terminals: list[str] | None = Field(None, max_length=1000, description="terminal ids")
    region: str | None = Field(None, pattern=r"^[0-9]{2,6}$", description="every terminal under this code prefix")
    all: bool = Field(False, description="every terminal in the caller's scope")
    lifetime: float = Field(3600.0, gt=0, le=cmds.MAX_LIFETIME,
                            description="seconds the commands stay valid (an offline terminal gets it on return)")


class TerminalPatch(Model):
    low_use_exempt: bool | None = None
    maintainer: str | None = Field(None, max_length=64)


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    action: str  # read | manage | dispatch | costs | command | audit | enrol
    body: type[Model] | None = None
    params: tuple[str, ...] = ()


DOCS: list[RouteDoc] = []


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return (o if o.tzinfo else o.replace(tzinfo=UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def ok(data: Any, status: int = 200) -> Response:
    body = json.dumps({"code": "success", "message": "成功", "data": data}, default=_json_default,
                      ensure_ascii=False, separators=(",", ":"))
    return Response(body, status, media_type="application/json")


def fail(e: GtsdkError, lang: str = "zh") -> Response:
    return JSONResponse(e.to_dict(lang), status_code=e.http_status)


def _lang(req: Request) -> str:
    return "en" if req.headers.get("accept-language", "").lower().startswith("en") else "zh"


class FleetApi:
    def __init__(self, platform: Platform, *, echarts: Path | None = None, web_dir: Path | None = None) -> None:
        self.p = platform
        self.auth = Authenticator(platform.engine)
        self.echarts = echarts
        self.web_dir = web_dir
        self.pushes = Pushes(platform)

    # ---- plumbing -----------------------------------------------------------------------------------
    def _user(self, req: Request) -> User:
        h = req.headers.get("authorization", "")
        token = h[7:].strip() if h.lower().startswith("bearer ") else ""
        u = self.auth.user(token) if token else None
        if u is None:
            raise GtsdkError(ErrorCode.UNAUTHORIZED)
        return u

    async def _body(self, req: Request, model: type[Model], max_body: int = MAX_BODY) -> Any:
        raw = b""
        async for chunk in req.stream():
            raw += chunk
            if len(raw) > max_body:
                raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {max_body} bytes")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as e:
            err = e.errors()[0]
            raise GtsdkError(ErrorCode.INVALID_DATA, str(err.get("msg", ""))[:200],
                             field=".".join(str(x) for x in err.get("loc", ()))) from None

    @staticmethod
    def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
        v = req.query_params.get(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"{name} must be an integer", field=name) from None
        if not lo <= n <= hi:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"{name} must be in [{lo}, {hi}]", field=name)
        return n

    def _period(self, req: Request, default_days: int = 30) -> tuple[date, date]:
        f, t = req.query_params.get("from"), req.query_params.get("to")
        if f or t:
            try:
                start = date.fromisoformat(f) if f else q.local_today(self.p.tz) - timedelta(days=default_days - 1)
                end = date.fromisoformat(t) if t else q.local_today(self.p.tz)
            except ValueError:
                raise GtsdkError(ErrorCode.INVALID_DATA, "from/to must be YYYY-MM-DD", field="from") from None
            if end < start or (end - start).days > MAX_DAYS:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"from..to must be 0..{MAX_DAYS} days", field="to")
            return start, end
        return q.window(self.p.tz, self._int(req, "days", default_days, 1, MAX_DAYS))

    def route(self, method: str, path: str, summary: str, action: str, *, body: type[Model] | None = None,
              params: tuple[str, ...] = (), max_body: int = MAX_BODY) -> Callable[[Callable[..., Any]], Route]:
        DOCS.append(RouteDoc(method, path, summary, action, body, params))

        def deco(fn: Callable[..., Any]) -> Route:
            async def endpoint(req: Request) -> Response:
                lang = _lang(req)
                try:
                    user = None
                    if action != "enrol":
                        user = self._user(req)
                        if not user.can(action):
                            raise GtsdkError(ErrorCode.FORBIDDEN, f"{user.role} may not {action}")
                    data = await run_in_threadpool(_call, fn, req, user) if body is None else None
                    if body is not None:
                        parsed = await self._body(req, body, max_body)
                        data = await run_in_threadpool(fn, req, user, parsed)
                    if isinstance(data, Response):
                        return data
                    return ok(data)
                except GtsdkError as e:
                    return fail(e, lang)
                except Exception as e:  # noqa: BLE001 - logged by type and place
                    swallowed("fleet api", f"{method} {path}", e, logger=log)
                    return fail(GtsdkError(ErrorCode.INTERNAL_ERROR), lang)
            return Route(path, endpoint, methods=[method])
        return deco

    # ---- the routes ---------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        p = self.p
        r = self.route
        out: list[Route] = []

        def conn() -> Connection:
            return p.engine.connect()

        @r("GET", "/api/v1/me", "the caller: name, role and scope", "read")
        def me(req: Request, u: User) -> Any:
            return {"name": u.name, "role": u.role, "region": u.region, "maintainer": u.maintainer,
                    "scope": u.scope.region}
        out.append(me)

        @r("GET", "/api/v1/overview", "KPIs: terminals, online, volume, availability, satisfaction, faults",
           "read", params=("days",))
        def overview(req: Request, u: User) -> Any:
            with conn() as c:
                return q.overview(c, u.scope, p.tz, self._int(req, "days", 30, 1, MAX_DAYS))
        out.append(overview)

        @r("GET", "/api/v1/terminals", "terminal list and coordinates (10.1.2.2 a)", "read", params=("region",))
        def terminals(req: Request, u: User) -> Any:
            region = req.query_params.get("region")
            if region and not region.isdigit():
                raise GtsdkError(ErrorCode.INVALID_DATA, "region must be a code prefix", field="region")
            with conn() as c:
                return q.terminals(c, u.scope, region=region)
        out.append(terminals)

        @r("GET", "/api/v1/terminals/{id}", "one terminal: usage, faults, diagnosis, commands", "read",
           params=("days",))
        def terminal(req: Request, u: User) -> Any:
            with conn() as c:
                d = q.terminal_detail(c, u.scope, req.path_params["id"], p.tz,
                                      self._int(req, "days", 30, 1, MAX_DAYS))
            if d is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, "terminal")
            return d
        out.append(terminal)

        @r("PATCH", "/api/v1/terminals/{id}", "low-use exemption (10.2.2 g), maintenance company", "manage",
           body=TerminalPatch)
        def patch_terminal(req: Request, u: User, b: TerminalPatch) -> Any:
            from sqlalchemy import update

            from gtsdk.fleet.store.db import writer
            values = {k: v for k, v in (("low_use_exempt", b.low_use_exempt), ("maintainer", b.maintainer))
                      if v is not None}
            with writer(p.engine).begin() as c:
                n = c.execute(update(s.terminals).where(u.scope.where(s.terminals),
                                                        s.terminals.c.id == req.path_params["id"]).values(**values))
                if not n.rowcount:
                    raise GtsdkError(ErrorCode.NOT_FOUND, "terminal")
            p.registry.invalidate()
            return {"updated": True}
        out.append(patch_terminal)

        @r("POST", "/api/v1/terminals/{id}/commands", "send a signed command (SM2) to a terminal", "command",
           body=CommandRequest)
        def command(req: Request, u: User, b: CommandRequest) -> Any:
            return p.send_command(u, req.path_params["id"], b.op.value, b.params, b.lifetime)
        out.append(command)

        @r("GET", "/api/v1/commands/{id}", "a command and its result", "read")
        def get_command(req: Request, u: User) -> Any:
            from sqlalchemy import select
            with conn() as c:
                row = c.execute(select(s.commands).where(u.scope.where(s.commands),
                                                         s.commands.c.id == req.path_params["id"])).mappings().first()
            if row is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, "command")
            return dict(row)
        out.append(get_command)

        @r("POST", "/api/v1/catalogue-pushes", "push a 事项 catalogue to terminals, a region or all (6.3)", "manage",
           body=CataloguePushRequest, max_body=3 * 1024 * 1024)
        def push_catalogue(req: Request, u: User, b: CataloguePushRequest) -> Any:
            cat = parse_catalogue(b.catalogue, b.toml)
            return self.pushes.push(u, cat, terminals=b.terminals, region=b.region, everywhere=b.all,
                                    lifetime=b.lifetime)
        out.append(push_catalogue)

        @r("GET", "/api/v1/catalogue-pushes", "catalogue pushes that reached the caller's terminals", "read",
           params=("limit",))
        def catalogue_pushes(req: Request, u: User) -> Any:
            return self.pushes.list(u, self._int(req, "limit", 50, 1, 500))
        out.append(catalogue_pushes)

        @r("GET", "/api/v1/catalogue-pushes/{id}", "one push: the result per terminal", "read")
        def catalogue_push(req: Request, u: User) -> Any:
            return self.pushes.get(u, req.path_params["id"])
        out.append(catalogue_push)

        @r("GET", "/api/v1/certifications", "newest self-certification per terminal: tier and date (7.4.4)",
           "read", params=("region",))
        def certification_list(req: Request, u: User) -> Any:
            region = req.query_params.get("region")
            if region and not region.isdigit():
                raise GtsdkError(ErrorCode.INVALID_DATA, "region must be a code prefix", field="region")
            with conn() as c:
                return [{"terminalId": t["id"], "region": t["region"], "name": t["name"], **t["certification"]}
                        for t in q.terminals(c, u.scope, region=region) if t["certification"] is not None]
        out.append(certification_list)

        @r("GET", "/api/v1/certifications/{id}", "one signed conformance report as the terminal uploaded it", "read")
        def certification(req: Request, u: User) -> Any:
            from sqlalchemy import select

            from gtsdk.fleet import certifications
            cid = req.path_params["id"]
            with conn() as c:
                row = c.execute(select(s.certifications).where(u.scope.where(s.certifications),
                                                               s.certifications.c.command_id == cid)).first()
                if row is None:
                    raise GtsdkError(ErrorCode.NOT_FOUND, "certification")
                return {**certifications.view(row), "report": certifications.report(c, row.terminal_id, cid)}
        out.append(certification)

        @r("POST", "/api/v1/terminals/{id}/revoke", "revoke the terminal's certificate", "manage")
        def revoke(req: Request, u: User) -> Any:
            from sqlalchemy import select
            tid = req.path_params["id"]
            with conn() as c:
                if c.execute(select(s.terminals.c.id).where(u.scope.where(s.terminals),
                                                            s.terminals.c.id == tid)).first() is None:
                    raise GtsdkError(ErrorCode.NOT_FOUND, "terminal")
            provision.revoke(p.engine, p.home, tid, actor=u.name)
            p.registry.invalidate()
            return {"revoked": tid, "crl": str(p.home.ca.crl_path)}
        out.append(revoke)

        for path, summary, fn in (
            ("/api/v1/stats/services", "service heat ranking with share (10.1.2.2 b)",
             lambda c, req, u, a, b: q.service_ranking(c, u.scope, a, b, self._int(req, "limit", 50, 1, 500))),
            ("/api/v1/stats/terminals", "terminal heat ranking with share (10.1.2.2 c)",
             lambda c, req, u, a, b: q.terminal_ranking(c, u.scope, a, b, self._int(req, "limit", 50, 1, 5000),
                                                        ascending=req.query_params.get("order") == "asc")),
            ("/api/v1/stats/hourly", "0–24 h visits (10.1.2.3)", lambda c, req, u, a, b: q.hourly(c, u.scope, a, b)),
            ("/api/v1/stats/usage", "daily / monthly / yearly usage (10.1.2.3 b)",
             lambda c, req, u, a, b: q.usage(c, u.scope, a, b, _choice(req, "period", ("day", "month", "year")),
                                             service_code=req.query_params.get("service"))),
            ("/api/v1/stats/availability", "availability per terminal or region vs 99.5 % (10.2.2 i)",
             lambda c, req, u, a, b: q.availability(c, u.scope, a, b, _choice(req, "by", ("terminal", "region")))),
            ("/api/v1/stats/satisfaction", "好差评 satisfaction vs 90 % (10.2.2 j)",
             lambda c, req, u, a, b: q.satisfaction(c, u.scope, a, b,
                                                    _choice(req, "by", ("region", "terminal", "service")))),
        ):
            def make(fn: Callable[..., Any]) -> Callable[[Request, User], Any]:
                def h(req: Request, u: User) -> Any:
                    a, b = self._period(req)
                    with conn() as c:
                        return fn(c, req, u, a, b)
                return h
            out.append(r("GET", path, summary, "read", params=("days", "from", "to"))(make(fn)))

        @r("GET", "/api/v1/faults", "fault board with response-time targets (10.2.2 b)", "read",
           params=("state", "terminal"))
        def faults(req: Request, u: User) -> Any:
            state = req.query_params.get("state")
            if state and state not in (*DISPATCH, "active"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "unknown state", field="state")
            with conn() as c:
                return q.faults(c, u.scope, state=state, terminal_id=req.query_params.get("terminal"),
                                limit=self._int(req, "limit", 500, 1, 5000))
        out.append(faults)

        @r("POST", "/api/v1/faults/{id}/transition", "dispatch: acknowledged → onSite → resolved", "dispatch",
           body=TransitionRequest)
        def transition(req: Request, u: User, b: TransitionRequest) -> Any:
            p.transition(u, req.path_params["id"], b.to, note=b.note, assignee=b.assignee)
            return {"state": b.to}
        out.append(transition)

        @r("GET", "/api/v1/lowuse", "low-use terminals: ≤ 1/day or ≤ 3/week (10.2.2 g)", "read", params=("days",))
        def lowuse(req: Request, u: User) -> Any:
            with conn() as c:
                return q.low_use(c, u.scope, p.tz, self._int(req, "days", 28, 7, 366))
        out.append(lowuse)

        @r("GET", "/api/v1/consumables", "consumables and days until empty (10.1.1.2)", "read")
        def consumables(req: Request, u: User) -> Any:
            with conn() as c:
                return q.consumables(c, u.scope)
        out.append(consumables)

        @r("GET", "/api/v1/costs", "cost record per terminal (10.2.2 k)", "read", params=("days",))
        def costs(req: Request, u: User) -> Any:
            days = self._int(req, "days", 365, 1, MAX_DAYS)
            with conn() as c:
                return q.costs(c, u.scope, q.utcnow() - timedelta(days=days))
        out.append(costs)

        @r("POST", "/api/v1/costs", "enter a cost (consumables, repair, labour hours, travel)", "costs",
           body=CostRequest)
        def add_cost(req: Request, u: User, b: CostRequest) -> Any:
            p.add_cost(u, b.terminal_id, b.kind, b.amount, b.hours, b.fault_id, b.note)
            return {"added": True}
        out.append(add_cost)

        @r("POST", "/api/v1/enrolment-codes", "a one-time enrolment code for a terminal", "manage", body=CodeRequest)
        def new_code(req: Request, u: User, b: CodeRequest) -> Any:
            if not u.scope.covers_region(b.region):
                raise GtsdkError(ErrorCode.FORBIDDEN, "region outside your scope")
            code = provision.new_code(p.engine, b.terminal_id, b.region, created_by=u.name,
                                      maintainer=b.maintainer, hours=b.hours)
            return {"code": code, "terminalId": b.terminal_id, "region": b.region}
        out.append(new_code)

        @r("POST", "/api/v1/enrol", "redeem a one-time code: certificate for the terminal's CSR", "enrol",
           body=EnrolRequest)
        def enrol(req: Request, u: None, b: EnrolRequest) -> Any:
            e = provision.enrol(p.engine, p.home, b.code, b.csr.encode(),
                                sm2_public_pem=b.sm2_public_key.encode() if b.sm2_public_key else None,
                                sm2_proof=b.sm2_proof)
            return {"terminalId": e.terminal_id, "region": e.region, "certificate": e.cert_pem.decode(),
                    "ca": e.ca_pem.decode(), "commandKey": e.command_key_pem.decode(), "broker": p.cfg.broker}
        out.append(enrol)

        @r("GET", "/api/v1/export/national", "export to 一体化政务服务平台 (10.1.1.1): JSON, or CSV per part",
           "manage", params=("from", "to", "days", "format", "part"))
        def national(req: Request, u: User) -> Any:
            a, b = self._period(req)
            with conn() as c:
                data = export.national(c, u.scope, a, b)
            if req.query_params.get("format") == "csv":
                part = _choice(req, "part", export.PARTS)
                return Response(export.to_csv(data, part), media_type="text/csv; charset=utf-8", headers={
                    "Content-Disposition": f'attachment; filename="gtsdk-{part}-{a}-{b}.csv"'})
            return data
        out.append(national)

        @r("GET", "/api/v1/audit", "the platform's audit trail (province users)", "audit", params=("limit",))
        def audit(req: Request, u: User) -> Any:
            from sqlalchemy import select
            with conn() as c:
                return [dict(x) for x in c.execute(select(s.audit).order_by(s.audit.c.seq.desc()).limit(
                    self._int(req, "limit", 200, 1, 5000))).mappings()]
        out.append(audit)

        @r("GET", "/api/v1/workers", "ingest workers of this process", "read")
        def workers(req: Request, u: User) -> Any:
            return p.worker_stats()
        out.append(workers)

        async def openapi(req: Request) -> Response:
            return JSONResponse(openapi_document())
        out.append(Route("/api/v1/openapi.json", openapi, methods=["GET"]))
        from gtsdk.fleet import rollout_api  # update bundles and rollouts (docs/updates.md)

        out += rollout_api.routes(self, p.rollouts)
        out += self.page_routes()
        return out

    # ---- pages --------------------------------------------------------------------------------------
    def page_routes(self) -> list[Route]:
        async def page(req: Request) -> Response:
            name = req.path_params.get("path") or "index.html"
            if "/" in name or name.startswith(".") or Path(name).suffix not in CONTENT_TYPES:
                return Response("not found", 404)
            data = _web_file(self.web_dir, name)
            if data is None:
                return Response("not found", 404)
            return Response(data, media_type=CONTENT_TYPES[Path(name).suffix],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

        async def echarts(req: Request) -> Response:
            path = self.echarts or find_echarts()
            if path is None or not path.exists():
                return Response("// Apache ECharts not fetched: run scripts/fetch-echarts.sh\n", 404,
                                media_type="text/javascript")
            return Response(path.read_bytes(), media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "max-age=86400"})

        async def common(req: Request) -> Response:  # the chart helpers shared with the terminal's /ops/ page
            name = req.path_params["path"]
            if "/" in name or name.startswith(".") or Path(name).suffix not in CONTENT_TYPES:
                return Response("not found", 404)
            f = resources.files("gtsdk.server").joinpath("web", "common", name)
            if not f.is_file():
                return Response("not found", 404)
            return Response(f.read_bytes(), media_type=CONTENT_TYPES[Path(name).suffix],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

        async def to_index(req: Request) -> Response:
            return RedirectResponse("/fleet/")

        return [Route("/", to_index), Route("/fleet", to_index), Route("/fleet/", page),
                Route("/fleet/vendor/echarts.min.js", echarts), Route("/fleet/{path}", page),
                Route("/common/{path}", common)]


def _call(fn: Callable[..., Any], req: Request, user: User | None) -> Any:
    return fn(req, user)


def _choice(req: Request, name: str, allowed: tuple[str, ...]) -> str:
    v = req.query_params.get(name, allowed[0])
    if v not in allowed:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"{name} must be one of {allowed}", field=name)
    return v


def _web_file(web_dir: Path | None, name: str) -> bytes | None:
    if web_dir is not None:
        p = web_dir / name
        return p.read_bytes() if p.is_file() else None
    f = resources.files("gtsdk.server").joinpath("web", "fleet", name)
    return f.read_bytes() if f.is_file() else None


def find_echarts() -> Path | None:
    """``$GTSDK_ECHARTS``, else ``build/vendor/echarts.min.js`` of the source tree (scripts/fetch-echarts.sh)."""
    env = os.environ.get("GTSDK_ECHARTS")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = base / "build" / "vendor" / "echarts.min.js"
        if p.exists():
            return p
    return None


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for d in DOCS:
        op: dict[str, Any] = {
            "summary": d.summary, "tags": [d.path.split("/")[3]],
            "x-gtsdk-permission": d.action,
            "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                           for n in d.params]
                          + [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                             for _ in [0] if "{id}" in d.path],
            "responses": {"200": {"description": "success envelope", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
                          "default": {"description": "error (a code of the catalogue, docs/errors.md)",
                                      "content": {"application/json": {
                                          "schema": {"$ref": "#/components/schemas/Error"}}}}},
        }
        if d.action != "enrol":
            op["security"] = [{"bearer": []}]
        if d.body is not None:
            name = d.body.__name__
            schemas[name] = d.body.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}}
        paths.setdefault(d.path, {})[d.method.lower()] = op
    schemas["Envelope"] = {"type": "object", "required": ["code", "data"], "properties": {
        "code": {"const": "success"}, "message": {"type": "string"}, "data": {}}}
    schemas["Error"] = {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "retryable": {"type": "boolean"},
        "detail": {"type": "string"}, "field": {"type": "string"}}}
    for sub in list(schemas.values()):
        for k, v in sub.pop("$defs", {}).items() if isinstance(sub, dict) else []:
            schemas[k] = v
    return {"openapi": "3.1.0",
            "info": {"title": "gtsdk fleet platform", "version": "1",
                     "description": "集约化管理平台 API (clauses 7.4.1, 10.1, 10.2); see docs/fleet.md"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas},
            "paths": paths}


def build_app(platform: Platform, **kw: Any) -> Starlette:
    DOCS.clear()
    api = FleetApi(platform, **kw)
    if platform.sender is not None:  # a started platform: pushes it left half-sent go on
        api.pushes.resume()
    return Starlette(routes=api.routes())


