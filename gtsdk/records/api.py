"""Wire models of the record routes (docs/records.md), shared by the service and :mod:`gtsdk.client`.

camelCase on the wire like every gtsdk model; times are UTC ISO 8601, durations seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from gtsdk.driver import Model
from gtsdk.records.schema import (
    RECORD_ID,
    SERVICE_CODE,
    FaultState,
    InspectionFinding,
    RatingLevel,
    TransactionResult,
)

#: reason codes are identifiers (a catalogue code or the app's own), never free text
REASON_CODE = r"^[A-Za-z0-9_.:-]{1,64}$"
TRANSACTION_HEADER = "X-Transaction-Id"


class BeginTransaction(Model):
    service_code: str = Field(pattern=SERVICE_CODE, description="事项编码 from GET /v1/catalogue")


class EndTransaction(Model):
    transaction_id: str = Field(pattern=RECORD_ID)
    result: TransactionResult
    reason_code: str | None = Field(None, pattern=REASON_CODE,
                                    description="why it failed or was abandoned: an error catalogue code or the "
                                                "app's own identifier (no free text)")


class TransactionView(Model):
    id: str = Field(pattern=RECORD_ID, description="send it as X-Transaction-Id with the device operations")
    service_code: str
    app: str | None = None
    state: Literal["open", "ended"]
    started: datetime
    ended: datetime | None = None
    duration: float | None = Field(None, description="seconds (monotonic; a wall-clock jump does not change it)")
    result: TransactionResult | None = None
    reason_code: str | None = None
    operations: int = 0
    failed_operations: int = 0
    holder_key: str | None = None


class HolderKeyRequest(Model):
    transaction_id: str = Field(pattern=RECORD_ID)
    module: Literal["idcard", "travel_doc"] = Field(
        "idcard", description="whose last successful read within this transaction names the holder")


class HolderKey(Model):
    holder_key: str = Field(pattern=r"^[0-9a-f]{64}$",
                            description="HMAC-SM3 of the document number under a key that never leaves the "
                                        "terminal, separate per app")


class RateRequest(Model):
    transaction_id: str | None = Field(None, pattern=RECORD_ID)
    service_code: str | None = Field(None, pattern=SERVICE_CODE, description="when there is no transaction")
    level: RatingLevel = Field(description="GB/T 39734: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(default_factory=list, max_length=8)
    comment: str | None = Field(None, max_length=500,
                                description="free text; ID-number, phone, e-mail and similar patterns are masked "
                                            "before it is stored, and it is never logged")


class RatingView(Model):
    id: str
    transaction_id: str | None = None
    service_code: str | None = None
    level: RatingLevel
    tags: list[str] = Field(default_factory=list)
    comment: str | None = Field(None, description="as stored (masked)")
    time: datetime


class FaultView(Model):
    id: str
    version: int
    module: str | None = None
    level: Literal[1, 2, 3]
    kind: str
    code: str | None = None
    reason: str = ""
    state: FaultState
    opened: datetime
    acknowledged: datetime | None = None
    resolved: datetime | None = None
    resolution: str | None = None
    duration: float | None = Field(None, description="seconds from opened to resolved (or to now while open)")
    target: float = Field(description="response target of the level in seconds (10.2.2 b: 2 h, 4 h, 24 h)")
    overdue: bool = Field(description="open longer than the target, or resolved after it")


class FaultAction(Model):
    resolution: str | None = Field(None, pattern=REASON_CODE,
                                   description="for resolve: maintenance (default), remote, replaced, ...")


class InspectionRequest(Model):
    wait: float | None = Field(None, ge=0, le=3600,
                               description="seconds to wait for open transactions to end (default: the config's)")


class InspectionView(Model):
    id: str
    trigger: Literal["schedule", "manual", "remote"]
    started: datetime
    ended: datetime
    ok: bool
    findings: list[InspectionFinding]
