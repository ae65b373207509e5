"""Terminal tier: a running service, black box over HTTPS (clauses 6.4.4, 8, 9.2, 9.3, 10.2.2).

The target need not be gtsdk: everything is learnt from the service itself
(discovery, OpenAPI, per-operation JSON Schemas).  Where a check needs the
physical world to change ("put the card on the reader"), a maintenance token
lets the suite drive a simulated terminal through ``/v1/sim/<module>``;
otherwise ``interactive`` asks an operator, and without either the check is
reported as not run — and its tier as incomplete, never as passed.

The checks live in ``terminal_service``, ``terminal_security``, ``terminal_modules``,
``terminal_events`` and ``terminal_responses``; this module discovers the target and
runs them in order, within a time budget for the whole run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gtsdk.modules import MODULES

from . import terminal_events, terminal_modules, terminal_responses, terminal_security, terminal_service
from .framework import Check, Registry, reset_clock, run
from .model import CheckResult, Report
from .observer import Observer
from .terminal_base import QUERY_WAIT, SLACK, TerminalContext, checks
from .terminal_responses import PII_PROBE

__all__ = ["DEFAULT_BUDGET", "PII_PROBE", "TerminalContext", "certify_terminal", "checks", "ordered"]
_LOADED = (terminal_service, terminal_security, terminal_modules, terminal_events, terminal_responses)

#: seconds for the whole run unless the caller says otherwise
DEFAULT_BUDGET = 180.0


def ordered() -> Registry:
    """Run order: the rate-limit check drains the token's budget, so it runs after everything that
    needs the device; the ``responses.*`` and ``audit.*`` checks report on every reply, so they run last."""
    groups = ("service.", "security.", "module.", "events.", "security.rate_limit", "responses.", "audit.")

    def group(c: Check) -> int:
        return max(i for i, g in enumerate(groups) if c.id.startswith(g))

    return Registry(sorted(checks.checks, key=group))  # stable: registration order within a group


def discover(ctx: TerminalContext, wanted: list[str] | None) -> None:
    r = ctx.get("/v1/services")
    items = r.data if isinstance(r.data, list) else (r.data or {}).get("modules", []) if isinstance(r.data, dict) \
        else []
    ctx.services = [s for s in items if isinstance(s, dict)]
    # a module counts as present when a driver is configured for it (gtsdk says so in "driver"),
    # or, for services that do not say, when it is not reported as noDevice
    present = [s.get("module") or s.get("id") for s in ctx.services
               if (s["driver"] if "driver" in s else s.get("state") != "noDevice")]
    ctx.modules = [m for m in MODULES if m in present and (wanted is None or m in wanted)]
    o = ctx.get("/openapi.json")
    ctx.openapi = o.body if isinstance(o.body, dict) else {}
    ctx.observer.openapi = ctx.openapi
    ctx.observer.personal = ctx.personal
    if ctx.maintenance_token:
        s = ctx.get("/v1/sim", token=ctx.maintenance_token)
        listed = (s.data or {}).get("modules", []) if s.status == 200 and isinstance(s.data, dict) else []
        for mod in listed:
            info_ = ctx.get(f"/v1/sim/{mod}", token=ctx.maintenance_token)
            acts = info_.data.get("actions") if isinstance(info_.data, dict) else None
            if isinstance(acts, dict):
                ctx.sim_actions[str(mod)] = acts


def _skip(ctx: TerminalContext) -> Callable[[Check, str | None], str | None]:
    def skip(c: Check, m: str | None) -> str | None:
        if "*" in ctx.stalled:
            return f"not attempted: the service stopped answering earlier ({ctx.stalled['*']})"
        if m is not None and m in ctx.stalled:
            return f"not attempted: {m} stopped answering earlier ({ctx.stalled[m]})"
        return None
    return skip


def certify_terminal(target: str, token: str, *, maintenance_token: str | None = None, ca: Path | None = None,
                     modules: list[str] | None = None, only: list[str] | None = None, interactive: bool = False,
                     ask: Callable[[str], bool] | None = None, origin: str | None = None,
                     budget: float | None = DEFAULT_BUDGET,
                     progress: Callable[[CheckResult], None] | None = None,
                     query_wait: float = QUERY_WAIT, slack: float = SLACK) -> Report:
    from gtsdk import __version__

    if interactive and ask is None:
        import click

        def ask(q: str) -> bool:
            return click.confirm(q, default=True)

    ctx = TerminalContext(target.rstrip("/"), token, maintenance_token, ca, interactive, ask, origin,
                          observer=Observer(), query_wait=query_wait, slack=slack)
    report = Report(kind="terminal", target=target, tool=f"gtsdk {__version__}",
                    options={"interactive": interactive, "modules": modules, "only": only, "origin": origin,
                             "simulator_control": bool(maintenance_token), "budget_s": budget})
    try:
        reset_clock(60.0)  # discovery: a handful of queries
        discover(ctx, modules)
        report.environment = {"modules": ctx.modules, "simulated": sorted(ctx.sim_actions)}
        run(ordered(), ctx, report, ctx.modules, only=only, progress=progress, budget=budget, skip=_skip(ctx))
        report.environment["stalled"] = dict(ctx.stalled)
    finally:
        ctx.close()
    return report
