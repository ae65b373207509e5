"""The conformance report: a versioned, machine-readable record of every check.

Each check names the clause of the standard it tests, the tier it belongs to
(bronze: schemas and errors; silver: faults and recovery; gold: security and
performance budgets — in the spirit of Home Assistant's quality scale), its
outcome and the evidence (requests, responses, timings) a lab can inspect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = "gtsdk.conformance/1"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_RUN = "notRun"
    ERROR = "error"


class Tier(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


TIER_ORDER = [Tier.BRONZE, Tier.SILVER, Tier.GOLD]


class CheckResult(BaseModel):
    id: str
    title: str
    clause: str
    tier: Tier
    module: str | None = None
    outcome: Outcome
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float = 0.0
    interactive: bool = False


class Signature(BaseModel):
    algorithm: str = "SM2-with-SM3"
    uid: str
    signer_public_key: str = Field(description="PEM of the signing key")
    value: str = Field(description="base64 DER SEQUENCE{r,s} over the canonical JSON without 'signature'")


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
    signature: Signature | None = None

    def finish(self) -> None:
        self.finished = datetime.now(UTC)
        counts = {o.value: 0 for o in Outcome}
        for r in self.results:
            counts[r.outcome.value] += 1
        per_module: dict[str, dict[str, int]] = {}
        for r in self.results:
            m = per_module.setdefault(r.module or "service", {o.value: 0 for o in Outcome})
            m[r.outcome.value] += 1
        self.summary = {"counts": counts, "modules": per_module, "total": len(self.results)}
        self.tier_reached = tier_reached(self.results)

    @property
    def passed(self) -> bool:
        return all(r.outcome in (Outcome.PASS, Outcome.NOT_RUN) for r in self.results)

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]


def tier_reached(results: list[CheckResult]) -> Tier | None:
    """The highest tier whose checks (and all lower tiers' checks) have no failure.

    A check not run because it needs a person does not block a tier, but it is
    never counted as passed: the report lists it as notRun.
    """
    reached: Tier | None = None
    for tier in TIER_ORDER:
        mine = [r for r in results if r.tier == tier]
        if any(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in mine):
            break
        if not any(r.outcome == Outcome.PASS for r in mine):
            break
        reached = tier
    return reached
