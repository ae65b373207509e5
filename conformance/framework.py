"""Checks and the runner that turns them into a report.

A check is a function decorated with :func:`check`; it receives a context
object (tier-specific) and, for module-scoped checks, a module id.  It passes
by returning evidence, fails by raising :class:`Fail`, and is skipped by
raising :class:`NotRun` (e.g. it needs a person and ``--interactive`` is off).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .model import CheckResult, Outcome, Report, Tier


class Fail(Exception):
    def __init__(self, reason: str, **evidence: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


class NotRun(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require(cond: bool, reason: str, **evidence: Any) -> None:
    if not cond:
        raise Fail(reason, **evidence)


CheckFn = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    clause: str
    tier: Tier
    fn: CheckFn
    per_module: bool = False
    interactive: bool = False
    modules: tuple[str, ...] | None = None  # None: every module


class Registry:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def check(self, id: str, title: str, clause: str, tier: Tier, *, per_module: bool = False,
              interactive: bool = False, modules: Iterable[str] | None = None) -> Callable[[CheckFn], CheckFn]:
        def deco(fn: CheckFn) -> CheckFn:
            if any(c.id == id for c in self.checks):
                raise ValueError(f"duplicate check id {id}")
            self.checks.append(Check(id, title, clause, tier, fn, per_module, interactive,
                                     tuple(modules) if modules is not None else None))
            return fn

        return deco


def run_one(c: Check, ctx: Any, module: str | None) -> CheckResult:
    t0 = time.perf_counter()
    outcome, reason, evidence = Outcome.PASS, "", {}
    try:
        out = c.fn(ctx, module) if c.per_module else c.fn(ctx)
        evidence = out or {}
    except Fail as e:
        outcome, reason, evidence = Outcome.FAIL, e.reason, e.evidence
    except NotRun as e:
        outcome, reason = Outcome.NOT_RUN, e.reason
    except Exception as e:  # a crash in the check itself is reported, not hidden
        outcome, reason = Outcome.ERROR, f"{type(e).__name__}: {e}"
        evidence = {"traceback": traceback.format_exc(limit=4)}
    return CheckResult(id=c.id, title=c.title, clause=c.clause, tier=c.tier, module=module, outcome=outcome,
                       reason=reason, evidence=_jsonable(evidence), duration_ms=(time.perf_counter() - t0) * 1000,
                       interactive=c.interactive)


def run(registry: Registry, ctx: Any, report: Report, modules: list[str], *,
        only: Iterable[str] | None = None, progress: Callable[[CheckResult], None] | None = None) -> Report:
    wanted = set(only) if only else None
    for c in registry.checks:
        if wanted is not None and c.id not in wanted and not any(c.id.startswith(w) for w in wanted):
            continue
        targets: list[str | None] = (
            [m for m in modules if c.modules is None or m in c.modules] if c.per_module else [None])
        for m in targets:
            res = run_one(c, ctx, m)
            report.results.append(res)
            if progress is not None:
                progress(res)
    report.finish()
    return report


def _jsonable(v: Any, depth: int = 0) -> Any:
    """Evidence must serialise; long bytes/strings are trimmed so reports stay readable."""
    if depth > 6:
        return repr(v)[:200]
    if isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x, depth + 1) for x in list(v)[:50]]
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, str):
        return v if len(v) <= 2000 else v[:2000] + f"... ({len(v)} chars)"
    if v is None or isinstance(v, bool | int | float):
        return v
    return repr(v)[:500]
