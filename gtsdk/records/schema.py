"""The terminal's durable records on the wire (clauses 6.3, 7.1.3, 10.1, 10.2): the one contract between
a terminal that writes them and the fleet platform that aggregates them (7.4.1 分层归集).

Every record is a :class:`RecordEnvelope` — a stable ``id``, its ``kind``, the terminal, a ``version`` and the
record body — serialised as UTF-8 JSON with camelCase names.  A terminal writes a record and its envelope in
the same local database transaction (a transactional outbox), sends it at least once, and the platform applies
it exactly once: ``(id, version)`` is the idempotency key, and a higher ``version`` of the same ``id`` replaces
a lower one (a fault that is acknowledged and later resolved is one id in three versions).

Nothing personal is in any record: no names, ID or document numbers, photos, biometrics or MRZ text.  Where an
app needs to recognise "the same holder" later it gets a keyed hash (:attr:`Transaction.holder_key`) whose key
never leaves the terminal.  Times are UTC; durations are seconds.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import AliasChoices, Field

from gtsdk.driver import Model

#: version of this wire contract (bumped on an incompatible change; additions keep it)
SCHEMA_VERSION = 1
RECORD_ID = r"^[0-9A-Za-z_-]{8,64}$"
#: GB/T 2260 administrative division code (6 digits: province, city, county)
REGION_CODE = r"^[0-9]{6}$"
SERVICE_CODE = r"^[0-9A-Za-z._-]{1,64}$"


class RecordKind(StrEnum):
    PROFILE = "profile"  # the terminal itself: region, address, coordinates, model, software (10.1.2.2 a)
    CATALOGUE = "catalogue"  # the 事项 catalogue in force on the terminal (6.3, 7.1.3 a, 10.1.1.1)
    TRANSACTION = "transaction"  # one 办件 (10.1.1.2, 10.1.2)
    RATING = "rating"  # 好差评 (7.1.3 f, 12.3.2, 10.2.2 j)
    FAULT = "fault"  # fault database entry (10.2.2 b)
    AVAILABILITY = "availability"  # per-day up/down seconds per module and terminal (10.2.2 i)
    INSPECTION = "inspection"  # 巡检 report (10.2.2 a)
    CONSUMABLE = "consumable"  # paper, toner, ribbon level changes (10.1.1.2, 10.2.2 f)
    HOST = "host"  # host health sample (10.2.2 d): CPU, memory, disk, latency, success rate


# ---- bodies -----------------------------------------------------------------------------------------------
class Profile(Model):
    terminal_id: str = Field(max_length=64)
    region: str = Field(pattern=REGION_CODE, description="GB/T 2260 code of the terminal's division")
    name: str = Field("", max_length=128, description="display name, e.g. 'XX 区政务服务中心 1 号机'")
    address: str = Field("", max_length=256)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    vendor: str = ""
    model: str = ""
    software_version: str = ""
    modules: dict[str, str] = Field(default_factory=dict, description="module id → driver name")
    catalogue_version: str | None = None


class CatalogueEntry(Model):
    code: str = Field(pattern=SERVICE_CODE, description="事项编码")
    name_zh: str = Field(max_length=128)
    name_en: str = Field("", max_length=128)
    department: str = Field("", max_length=128)
    category: str = Field("", max_length=64)
    modules: list[str] = Field(default_factory=list, description="module ids the service needs")
    on_terminal: bool = Field(True, description="can be finished on the terminal (全程自助办理)")
    typical_duration: float | None = Field(None, ge=0, description="seconds")


class Catalogue(Model):
    version: str = Field(max_length=64)
    entries: list[CatalogueEntry]


class TransactionResult(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"
    TIMED_OUT = "timedOut"


class Transaction(Model):
    service_code: str = Field(pattern=SERVICE_CODE)
    started: datetime
    ended: datetime
    duration: float = Field(ge=0, description="seconds")
    result: TransactionResult
    reason_code: str | None = Field(None, max_length=64, description="catalogue code or the app's reason code")
    operations: int = Field(0, ge=0, description="device operations made within the transaction")
    failed_operations: int = Field(0, ge=0)
    app: str | None = Field(None, max_length=64, description="the app (token) that ran it")
    holder_key: str | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                                   description="keyed hash of the holder (key kept on the terminal), never the id")


class RatingLevel(IntEnum):
    """GB/T 39734 好差评 levels."""

    VERY_DISSATISFIED = 1  # 非常不满意
    DISSATISFIED = 2  # 不满意
    BASIC = 3  # 基本满意
    SATISFIED = 4  # 满意
    VERY_SATISFIED = 5  # 非常满意


class Rating(Model):
    transaction_id: str | None = Field(None, pattern=RECORD_ID)
    service_code: str | None = Field(None, pattern=SERVICE_CODE)
    level: RatingLevel
    tags: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=8)
    comment: str | None = Field(None, max_length=500,
                                description="free text with ID-number, phone and similar patterns masked")


class FaultState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ON_SITE = "onSite"
    RESOLVED = "resolved"


class Fault(Model):
    """One fault (10.2.2 b); each state change is a new version of the same record id."""

    module: str | None = Field(None, description="module id; None for the terminal or the service as a whole")
    level: Literal[1, 2, 3] = Field(description="1 unusable / a module every service needs is down; 2 a function "
                                                "fails; 3 minor or consumable")
    kind: str = Field(max_length=64, description="state, consumable:<name>, inspection, serviceDown, offline, ...")
    code: str | None = Field(None, max_length=64, description="error catalogue code")
    reason: str = Field("", max_length=256, description="no personal data")
    state: FaultState
    opened: datetime
    acknowledged: datetime | None = None
    resolved: datetime | None = None
    resolution: str | None = Field(None, max_length=64, description="automatic, maintenance, remote, ...")


class Availability(Model):
    """Seconds in a UTC day; up + down + unknown = the part of the day that has passed."""

    day: date
    module: str | None = Field(None, description="None: the terminal as a whole")
    up: float = Field(ge=0)
    down: float = Field(ge=0, description="includes time the service itself was not running")
    unknown: float = Field(0, ge=0)


class InspectionFinding(Model):
    module: str
    ok: bool
    level: Literal[1, 2, 3] | None = None
    code: str | None = None
    text: str = Field("", max_length=256)


class Inspection(Model):
    trigger: Literal["schedule", "manual", "remote"]
    started: datetime
    ended: datetime
    findings: list[InspectionFinding]


class Consumable(Model):
    module: str
    name: str = Field(max_length=32, description="paper, toner, ribbon, ...")
    state: Literal["ok", "low", "empty", "unknown"]
    level: float | None = Field(None, ge=0, le=1, description="fraction left where the device reports it")


class Host(Model):
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_percent: float | None = None
    temperature: float | None = Field(None, description="°C; None where the host does not expose it")
    uptime: float | None = Field(None, description="seconds since boot")
    service_uptime: float | None = Field(None, description="seconds since the service started")
    service_restarts: int | None = None
    latency: float | None = Field(None, description="seconds to the configured host; None when unreachable")
    # spelt successRate1h / successRate24h on the wire (the camelCase generator would write successRate1H); the
    # earlier spelling is still read, so records queued by an older terminal are not refused
    success_rate_1h: float | None = Field(None, ge=0, le=1, serialization_alias="successRate1h",
                                          validation_alias=AliasChoices("successRate1h", "successRate1H",
                                                                        "success_rate_1h"))
    success_rate_24h: float | None = Field(None, ge=0, le=1, serialization_alias="successRate24h",
                                           validation_alias=AliasChoices("successRate24h", "successRate24H",
                                                                         "success_rate_24h"))


RecordBody = Profile | Catalogue | Transaction | Rating | Fault | Availability | Inspection | Consumable | Host

BODY_MODEL: dict[RecordKind, type[Model]] = {
    RecordKind.PROFILE: Profile,
    RecordKind.CATALOGUE: Catalogue,
    RecordKind.TRANSACTION: Transaction,
    RecordKind.RATING: Rating,
    RecordKind.FAULT: Fault,
    RecordKind.AVAILABILITY: Availability,
    RecordKind.INSPECTION: Inspection,
    RecordKind.CONSUMABLE: Consumable,
    RecordKind.HOST: Host,
}


class RecordEnvelope(Model):
    """One record as it travels: idempotent on (id, version)."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(pattern=RECORD_ID, description="stable and globally unique: uuid4 hex for events, deterministic "
                                                   "for rewritten records such as a day's availability")
    kind: RecordKind
    version: int = Field(1, ge=1, description="a higher version of the same id replaces a lower one")
    terminal_id: str = Field(max_length=64)
    time: datetime = Field(description="when this version was written (UTC)")
    body: dict[str, object] = Field(description="the body model of `kind`, camelCase")

    def parsed(self) -> Model:
        """The body validated against the model of its kind."""
        return BODY_MODEL[self.kind].model_validate(self.body)
