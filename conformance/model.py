"""The conformance report: a versioned, machine-readable record of every check.

Each check names the clauses of the standard it tests, the tier it belongs to
(bronze: schemas and errors; silver: faults and recovery; gold: security and
performance budgets — in the spirit of Home Assistant's quality scale), its
outcome, how long it took against its budget, and the evidence (requests,
responses, timings) a lab can inspect.

A tier is earned only by checks that ran: it is reached when every check of
that tier and of every lower tier ran and passed.  A check that could not run
here (it needs a person, a maintenance token or a simulator action) leaves its
tier *incomplete*, and the report names it with what it needs.  A check that
does not apply to a module by its contract (a timeout check for a module with
no operation that waits for a person) is ``notApplicable`` and blocks nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = "gtsdk.conformance/2"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_RUN = "notRun"
    NOT_APPLICABLE = "notApplicable"
    ERROR = "error"


class Tier(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


TIER_ORDER = [Tier.BRONZE, Tier.SILVER, Tier.GOLD]
FAILED = (Outcome.FAIL, Outcome.ERROR)


class CheckResult(BaseModel):
    id: str
    title: str
    clause: str
    #: the cited clauses' text (from the standard), so a reader need not look them up
    clause_text: dict[str, str] = Field(default_factory=dict)
    tier: Tier
    module: str | None = None
    outcome: Outcome
    reason: str = ""
    #: for notRun: what the check needs to run (a person, a maintenance token, a simulator action, ...)
    needs: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float = 0.0
    budget_s: float = 0.0
    interactive: bool = False


class Signature(BaseModel):
    algorithm: str = "SM2-with-SM3"
    uid: str
    signer_public_key: str = Field(description="PEM of the signing key")
    value: str = Field(description="base64 DER SEQUENCE{r,s} over the canonical JSON without 'signature'")


class Missing(BaseModel):
    """A check that did not run, keeping its tier incomplete."""

    tier: Tier
    check: str
    module: str | None = None
    needs: str
    reason: str


class Report(BaseModel):
    schema_version: str = SCHEMA_VERSION
    kind: str = Field(description="terminal | driver")
    target: str
    tool: str
    started: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    results: list[CheckResult] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    tier_reached: Tier | None = None
    #: per tier: "complete", "failed" (a check of it failed) or "incomplete" (a check of it did not run)
    tiers: dict[str, str] = Field(default_factory=dict)
    incomplete: list[Missing] = Field(default_factory=list)
    signature: Signature | None = None

    def finish(self) -> None:
        self.finished = datetime.now(UTC)
        counts = {o.value: 0 for o in Outcome}
        per_module: dict[str, dict[str, int]] = {}
        for r in self.results:
            counts[r.outcome.value] += 1
            m = per_module.setdefault(r.module or "service", {o.value: 0 for o in Outcome})
            m[r.outcome.value] += 1
        slowest = sorted(self.results, key=lambda r: -r.duration_ms)[:10]
        self.summary = {"counts": counts, "modules": per_module, "total": len(self.results),
                        "seconds": round(sum(r.duration_ms for r in self.results) / 1000, 2),
                        "slowest": [{"check": r.id, "module": r.module, "seconds": round(r.duration_ms / 1000, 2)}
                                    for r in slowest]}
        self.tiers = tier_states(self.results)
        self.tier_reached = tier_reached(self.results)
        self.incomplete = [Missing(tier=r.tier, check=r.id, module=r.module, needs=r.needs or "(not stated)",
                                   reason=r.reason)
                           for r in self.results if r.outcome == Outcome.NOT_RUN]

    @property
    def passed(self) -> bool:
        """No check failed (checks that did not run are listed in :attr:`incomplete`)."""
        return not any(r.outcome in FAILED for r in self.results)

    @property
    def certified(self) -> bool:
        """No failure and at least the lowest tier earned."""
        return self.passed and self.tier_reached is not None

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome in FAILED]


def tier_states(results: list[CheckResult]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tier in TIER_ORDER:
        mine = [r for r in results if r.tier == tier]
        if any(r.outcome in FAILED for r in mine):
            out[tier.value] = "failed"
        elif any(r.outcome == Outcome.NOT_RUN for r in mine):
            out[tier.value] = "incomplete"
        elif not any(r.outcome == Outcome.PASS for r in mine):
            out[tier.value] = "empty"
        else:
            out[tier.value] = "complete"
    return out


def tier_reached(results: list[CheckResult]) -> Tier | None:
    """The highest tier that, with every lower tier, is complete: every check ran and passed
    (checks that do not apply by the module's contract aside)."""
    states = tier_states(results)
    reached: Tier | None = None
    for tier in TIER_ORDER:
        if states[tier.value] != "complete":
            break
        reached = tier
    return reached
