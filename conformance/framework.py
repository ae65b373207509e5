"""Checks, their time budgets, and the runner that turns them into a report.

A check is a function decorated with :meth:`Registry.check`; it receives a
context object (tier-specific) and, for module-scoped checks, a module id.  It
passes by returning evidence, fails by raising :class:`Fail`, did not run by
raising :class:`NotRun` (naming what it needs), and does not apply by raising
:class:`NotApplicable` (only for reasons that follow from the module's
contract, never from what the target says about itself).

Every check has a budget.  I/O inside a check asks :func:`clock` for its
deadline (:meth:`Clock.cap`), so a request never waits past the check's budget;
the runner also runs each check in a worker thread and abandons one that
overruns its budget by :data:`GRACE` seconds, reporting it as an error, so one
stalled call cannot hold up the rest of the run.  The whole run has a budget
too: checks that no longer fit are reported as not run.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import clauses, pii
from .model import CheckResult, Outcome, Report, Tier

#: seconds a check may overrun its budget before the runner abandons it
GRACE = 5.0


class Fail(Exception):
    def __init__(self, reason: str, **evidence: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


class NotRun(Exception):
    """The check could not run here; *needs* says what would let it run."""

    def __init__(self, reason: str, needs: str, **evidence: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs = needs
        self.evidence = evidence


class NotApplicable(Exception):
    """The module's contract gives the check nothing to test (e.g. no operation waits for a person)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require(cond: bool, reason: str, **evidence: Any) -> None:
    if not cond:
        raise Fail(reason, **evidence)


class Clock:
    """The deadline of one running check."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.started = time.monotonic()
        self.deadline = self.started + budget
        self.abandoned = False

    def remaining(self) -> float:
        return -1.0 if self.abandoned else self.deadline - time.monotonic()

    def cap(self, seconds: float, what: str = "the next step") -> float:
        """*seconds*, or less if the check's budget ends sooner; Fail once it has ended."""
        left = self.remaining()
        if left <= 0.05:
            raise Fail(f"the check's budget of {self.budget:g} s ran out before {what}")
        return min(seconds, left)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.remaining())))


_local = threading.local()
_current: list[Clock] = [Clock(math.inf)]


def reset_clock(budget: float = math.inf) -> Clock:
    """A fresh clock for work outside any check (discovery before a run)."""
    _current[0] = Clock(budget)
    _local.clock = None
    return _current[0]


def clock() -> Clock:
    """The clock of the check running on this thread (helper threads get the current check's)."""
    c: Clock | None = getattr(_local, "clock", None)
    return c if c is not None else _current[0]


CheckFn = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    #: clause → a phrase quoted from its text (held to the clause table by a test)
    refs: Mapping[str, str]
    tier: Tier
    fn: CheckFn
    budget: float
    per_module: bool = False
    interactive: bool = False
    #: modules the check applies to by their contract (None: every module), with why the others are not
    modules: tuple[str, ...] | None = None
    not_applicable: str = ""

    @property
    def clause(self) -> str:
        return " / ".join(self.refs)


@dataclass
class Registry:
    checks: list[Check] = field(default_factory=list)

    def check(self, id: str, title: str, tier: Tier, *, refs: Mapping[str, str], budget: float,
              per_module: bool = False, interactive: bool = False, modules: Iterable[str] | None = None,
              not_applicable: str = "") -> Callable[[CheckFn], CheckFn]:
        def deco(fn: CheckFn) -> CheckFn:
            if any(c.id == id for c in self.checks):
                raise ValueError(f"duplicate check id {id}")
            self.checks.append(Check(id, title, dict(refs), tier, fn, budget, per_module, interactive,
                                     tuple(modules) if modules is not None else None, not_applicable))
            return fn

        return deco

    def get(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)


def _result(c: Check, module: str | None, outcome: Outcome, reason: str = "", *, needs: str = "",
            evidence: dict[str, Any] | None = None, seconds: float = 0.0, budget: float = 0.0) -> CheckResult:
    return CheckResult(id=c.id, title=c.title, clause=c.clause,
                       clause_text={k: clauses.text(k) or "" for k in c.refs}, tier=c.tier, module=module,
                       outcome=outcome, reason=pii.mask(reason), needs=needs, evidence=_jsonable(evidence or {}),
                       duration_ms=seconds * 1000, budget_s=budget, interactive=c.interactive)


def run_one(c: Check, ctx: Any, module: str | None, budget: float | None = None) -> CheckResult:
    budget = c.budget if budget is None else budget
    box: dict[str, Any] = {}
    ck = Clock(budget)
    _current[0] = ck

    def body() -> None:
        _local.clock = ck
        try:
            box["out"] = c.fn(ctx, module) if c.per_module else c.fn(ctx)
        except BaseException as e:  # noqa: BLE001 - the check's own outcome, reported below whatever it is
            box["exc"] = e
            box["tb"] = traceback.format_exc(limit=4)

    worker = threading.Thread(target=body, name=f"check-{c.id}", daemon=True)
    worker.start()
    worker.join(budget + GRACE)
    took = time.monotonic() - ck.started
    if worker.is_alive():
        ck.abandoned = True  # its remaining I/O fails at once
        return _result(c, module, Outcome.ERROR, f"overran its budget of {budget:g} s by more than {GRACE:g} s "
                       "(a call that did not return); abandoned", seconds=took, budget=budget)
    exc = box.get("exc")
    if exc is None:
        return _result(c, module, Outcome.PASS, evidence=box.get("out") or {}, seconds=took, budget=budget)
    if isinstance(exc, Fail):
        return _result(c, module, Outcome.FAIL, exc.reason, evidence=exc.evidence, seconds=took, budget=budget)
    if isinstance(exc, NotRun):
        return _result(c, module, Outcome.NOT_RUN, exc.reason, needs=exc.needs, evidence=exc.evidence,
                       seconds=took, budget=budget)
    if isinstance(exc, NotApplicable):
        return _result(c, module, Outcome.NOT_APPLICABLE, exc.reason, seconds=took, budget=budget)
    # a crash in the check itself is reported, not hidden
    return _result(c, module, Outcome.ERROR, f"{type(exc).__name__}: {exc}", evidence={"traceback": box["tb"]},
                   seconds=took, budget=budget)


def selected(c: Check, only: Iterable[str] | None) -> bool:
    """*only* names check ids or group prefixes: ``module.status`` is that check, ``module`` every module check."""
    wanted = list(only) if only else None
    return wanted is None or any(c.id == w or c.id.startswith(w.rstrip(".") + ".") for w in wanted)


def run(registry: Registry, ctx: Any, report: Report, modules: list[str], *,
        only: Iterable[str] | None = None, progress: Callable[[CheckResult], None] | None = None,
        budget: float | None = None, skip: Callable[[Check, str | None], str | None] | None = None) -> Report:
    """Run the selected checks in order; *budget* bounds the whole run (seconds).

    *skip* may return a reason to fail a check without running it (e.g. its module stopped
    answering in an earlier check)."""
    t0 = time.monotonic()
    only = list(only) if only else None
    for c in registry.checks:
        if not selected(c, only):
            continue
        targets: list[str | None] = list(modules) if c.per_module else [None]
        for m in targets:
            if c.per_module and c.modules is not None and m not in c.modules:
                res = _result(c, m, Outcome.NOT_APPLICABLE, c.not_applicable.format(module=m))
            else:
                left = math.inf if budget is None else budget - (time.monotonic() - t0)
                why = skip(c, m) if skip is not None else None
                if left < 1.0:
                    res = _result(c, m, Outcome.NOT_RUN, f"the run's time budget ({budget:g} s) was used up",
                                  needs="a larger run budget (--budget)")
                elif why is not None:
                    res = _result(c, m, Outcome.FAIL, why)
                else:
                    res = run_one(c, ctx, m, min(c.budget, left))
            report.results.append(res)
            if progress is not None:
                progress(res)
    reset_clock()
    report.finish()
    return report


def _jsonable(v: Any, depth: int = 0) -> Any:
    """Evidence must serialise, stay readable and carry no personal data: long values are trimmed,
    ID numbers, MRZ lines, passport numbers and known names masked."""
    if depth > 12:
        return pii.mask(repr(v)[:200])
    if isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x, depth + 1) for x in list(v)[:50]]
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, str):
        v = pii.mask(v)
        return v if len(v) <= 1000 else v[:100] + f"... ({len(v)} chars)"
    if v is None or isinstance(v, bool | int | float):
        return v
    return pii.mask(repr(v)[:500])
