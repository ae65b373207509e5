"""The platform's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Records land in one table per kind, keyed by the record id plus — for the high-volume kinds — a time that does not
change between versions of a record (the partition key on PostgreSQL, which declaratively partitions those tables
by month).  Rollups (``usage_daily``, ``usage_hourly``, ``ratings_daily``) are maintained in the same database
transaction as the rows they count, so a dashboard never scans raw transactions.  Times are stored as naive UTC;
``day``/``hour`` columns of rollups are in the platform's local time zone (the 0–24 h peaks of 10.1.2.3 are local
hours).  The ``region`` column (GB/T 2260, 6 digits) is copied into every row so that a user's scope — a
province, a city — is a range condition on an indexed column.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

metadata = MetaData()
ID = String(64)
REGION = String(6)

terminals = Table(
    "terminals", metadata,
    Column("id", ID, primary_key=True),
    Column("region", REGION, nullable=False, index=True),
    Column("name", String(128), nullable=False, default=""),
    Column("address", String(256), nullable=False, default=""),
    Column("latitude", Float), Column("longitude", Float),
    Column("vendor", String(64), nullable=False, default=""),
    Column("model", String(64), nullable=False, default=""),
    Column("software_version", String(64), nullable=False, default=""),
    Column("modules", JSON, nullable=False, default=dict),
    Column("catalogue_version", String(64)),
    Column("profile_id", ID),
    Column("profile_version", Integer, nullable=False, default=0),
    Column("maintainer", String(64), index=True),  # maintenance company (a role scope)
    Column("low_use_exempt", Boolean, nullable=False, default=False),  # 10.2.2 g: remote villages, parks
    Column("enrolled", DateTime),
    Column("cert_serial", String(40)),
    Column("revoked", DateTime),
    Column("online", Boolean, nullable=False, default=False),
    Column("session", BigInteger, nullable=False, default=0),
    Column("state_changed", DateTime),
    Column("last_seen", DateTime),
    Column("heartbeat", JSON),
)

enrol_codes = Table(
    "enrol_codes", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("maintainer", String(64)),
    Column("created", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
    Column("used", DateTime),
    Column("created_by", String(64), nullable=False),
)

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # province | city | maintainer
    Column("region", REGION),
    Column("maintainer", String(64)),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created", DateTime, nullable=False),
)

transactions = Table(
    "transactions", metadata,
    Column("id", ID, nullable=False),
    Column("started", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("service_code", String(64), nullable=False),
    Column("ended", DateTime, nullable=False),
    Column("duration", Float, nullable=False),
    Column("result", String(16), nullable=False),
    Column("reason_code", String(64)),
    Column("operations", Integer, nullable=False, default=0),
    Column("failed_operations", Integer, nullable=False, default=0),
    Column("app", String(64)),
    PrimaryKeyConstraint("id", "started"),
    Index("ix_transactions_terminal_started", "terminal_id", "started"),
    postgresql_partition_by="RANGE (started)",
)

ratings = Table(
    "ratings", metadata,
    Column("id", ID, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("service_code", String(64), nullable=False, default=""),
    Column("transaction_id", ID),
    Column("level", Integer, nullable=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("comment", String(500)),
    PrimaryKeyConstraint("id", "time"),
    Index("ix_ratings_terminal_time", "terminal_id", "time"),
    postgresql_partition_by="RANGE (time)",
)

availability = Table(
    "availability", metadata,
    Column("id", ID, nullable=False),
    Column("day", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("module", String(32), nullable=False, default=""),  # "" = the terminal as a whole
    Column("up", Float, nullable=False),
    Column("down", Float, nullable=False),
    Column("unknown", Float, nullable=False, default=0.0),
    PrimaryKeyConstraint("id", "day"),
    Index("ix_availability_region_day", "region", "day"),
    Index("ix_availability_terminal_day", "terminal_id", "day"),
    postgresql_partition_by="RANGE (day)",
)

host_samples = Table(
    "host_samples", metadata,
    Column("id", ID, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("cpu_percent", Float), Column("memory_percent", Float), Column("disk_percent", Float),
    Column("temperature", Float), Column("uptime", Float), Column("service_uptime", Float),
    Column("service_restarts", Integer), Column("latency", Float),
    Column("success_rate_1h", Float), Column("success_rate_24h", Float),
    PrimaryKeyConstraint("id", "time"),
    Index("ix_host_terminal_time", "terminal_id", "time"),
    postgresql_partition_by="RANGE (time)",
)

faults = Table(
    "faults", metadata,
    Column("id", ID, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False, index=True),
    Column("module", String(32)),
    Column("level", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("code", String(64)),
    Column("reason", String(256), nullable=False, default=""),
    Column("source", String(16), nullable=False, default="terminal"),  # terminal | platform
    Column("terminal_state", String(16), nullable=False),  # as the terminal reports it
    Column("opened", DateTime, nullable=False, index=True),
    Column("resolved", DateTime),  # when the terminal (or the platform) saw it end
    Column("resolution", String(64)),
    # the dispatch workflow of 10.2.2 b: open → acknowledged → onSite → resolved
    Column("dispatch_state", String(16), nullable=False, default="open", index=True),
    Column("acknowledged", DateTime), Column("on_site", DateTime), Column("closed", DateTime),
    Column("deadline", DateTime, nullable=False),  # the response-time target of its level
    Column("assignee", String(64)),
    Column("note", String(500)),
)

inspections = Table(
    "inspections", metadata,
    Column("id", ID, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("started", DateTime, nullable=False), Column("ended", DateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("findings", JSON, nullable=False, default=list),
)

consumables = Table(
    "consumables", metadata,
    Column("id", ID, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("module", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", Float),
    Index("ix_consumables_terminal_item_time", "terminal_id", "module", "name", "time"),
)

catalogues = Table(
    "catalogues", metadata,
    Column("terminal_id", ID, primary_key=True),
    Column("id", ID, nullable=False),
    Column("version_no", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("entries", JSON, nullable=False),
    Column("time", DateTime, nullable=False),
)

catalogue_history = Table(  # every catalogue record received (the current one is in `catalogues`)
    "catalogue_history", metadata,
    Column("id", ID, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False),
    Column("catalogue_version", String(64), nullable=False),
    Column("time", DateTime, nullable=False),
)

services = Table(
    "services", metadata,
    Column("code", String(64), primary_key=True),
    Column("name_zh", String(128), nullable=False),
    Column("name_en", String(128), nullable=False, default=""),
    Column("department", String(128), nullable=False, default=""),
    Column("category", String(64), nullable=False, default=""),
    Column("on_terminal", Boolean, nullable=False, default=True),
    Column("updated", DateTime, nullable=False),
)

events = Table(
    "events", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("type", String(32), nullable=False),
    Column("module", String(32)),
    Column("data", JSON, nullable=False, default=dict),
    Index("ix_events_terminal_time", "terminal_id", "time"),
)

commands = Table(
    "commands", metadata,
    Column("id", String(32), primary_key=True),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False),
    Column("op", String(32), nullable=False),
    Column("params", JSON, nullable=False, default=dict),
    Column("issued_by", String(64), nullable=False),
    Column("issued", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
    Column("state", String(16), nullable=False),  # sent | success | failed | refused
    Column("code", String(64)),
    Column("message", String(256)),
    Column("result", JSON),
    Column("finished", DateTime),
)

# ---- self-certification (the conformance command; gtsdk/fleet/certifications.py) ----------------------------
terminal_keys = Table(  # the terminal's SM2 public key, registered at enrolment with a proof of possession
    "terminal_keys", metadata,
    Column("terminal_id", ID, primary_key=True),
    Column("sm2_public", String(400), nullable=False),  # PEM
    Column("fingerprint", String(64), nullable=False),
    Column("registered", DateTime, nullable=False),
)

certifications = Table(  # one signed conformance report per row, as the terminal uploaded it
    "certifications", metadata,
    Column("command_id", String(32), primary_key=True),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("tier", String(16)),  # bronze | silver | gold | None (not even bronze complete)
    Column("passed", Boolean, nullable=False),  # nothing failed or erred
    Column("generated", DateTime, nullable=False),  # when the suite finished (the report's own time)
    Column("received", DateTime, nullable=False),
    Column("verified", Boolean, nullable=False),  # signature checked against the enrolled SM2 key
    Column("problem", String(128)),  # why it is not verified
    Column("counts", JSON, nullable=False),
    Column("tool", String(64), nullable=False, default=""),
    Column("size", Integer, nullable=False),  # bytes of the report JSON
    Column("report", LargeBinary, nullable=False),  # the report JSON, zlib-compressed as uploaded
    Index("ix_certifications_terminal_generated", "terminal_id", "generated"),
)

report_uploads = Table(  # an upload a command's result announced: what its parts must add up to
    "report_uploads", metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("command_id", String(32), nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("received", DateTime, nullable=False, index=True),
)

report_parts = Table(  # parts of an uploaded report on their way (the command's result names the upload)
    "report_parts", metadata,
    Column("upload_id", String(32), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("received", DateTime, nullable=False, index=True),
    PrimaryKeyConstraint("upload_id", "idx"),
)

# ---- 事项 catalogue pushes (pushCatalogue to a terminal, a region or all; gtsdk/fleet/pushes.py) -------------
catalogue_pushes = Table(
    "catalogue_pushes", metadata,
    Column("id", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("catalogue", JSON, nullable=False),  # as sent (wire form, camelCase)
    Column("entries", Integer, nullable=False),
    Column("target", String(96), nullable=False),  # "terminals", "region:3301", "all"
    Column("issued_by", String(64), nullable=False),
    Column("issued", DateTime, nullable=False, index=True),
    Column("expires", DateTime, nullable=False),
    Column("targets", Integer, nullable=False),
)

catalogue_push_targets = Table(  # one row per terminal; its result is the command's (commands.id)
    "catalogue_push_targets", metadata,
    Column("push_id", String(32), nullable=False),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False),
    Column("command_id", String(32)),  # set once the signed command was published
    Column("error", String(64)),  # the code when it could not be sent (revoked meanwhile, broker unavailable)
    PrimaryKeyConstraint("push_id", "terminal_id"),
)

audit = Table(
    "audit", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False, index=True),
    Column("actor", String(64), nullable=False),  # user name, terminal id or "ingest"
    Column("action", String(48), nullable=False),
    Column("target", String(96), nullable=False, default=""),
    Column("code", String(64), nullable=False, default="success"),
    Column("detail", String(256), nullable=False, default=""),  # never a record body: see ingest
)

costs = Table(
    "costs", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("terminal_id", ID, nullable=False, index=True),
    Column("region", REGION, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # consumable | repair | labour | travel | other
    Column("amount", Float, nullable=False, default=0.0),  # yuan
    Column("hours", Float, nullable=False, default=0.0),
    Column("fault_id", ID),
    Column("note", String(256), nullable=False, default=""),
    Column("entered_by", String(64), nullable=False),
)

# ---- rollups (10.1.2): maintained at ingest, in the same transaction --------------------------------------
def _counts(*names: str) -> list[Column[int]]:
    return [Column(n, Integer, nullable=False, default=0) for n in names]


def _sum(name: str) -> Column[float]:
    return Column(name, Float, nullable=False, default=0.0)


usage_daily = Table(
    "usage_daily", metadata,
    Column("day", Date, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("service_code", String(64), nullable=False),
    Column("region", REGION, nullable=False),
    *_counts("n", "completed", "failed", "abandoned", "timed_out"), _sum("duration_sum"),
    PrimaryKeyConstraint("day", "terminal_id", "service_code"),
    Index("ix_usage_daily_region_day", "region", "day"),
)

usage_hourly = Table(
    "usage_hourly", metadata,
    Column("day", Date, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("day", "hour", "terminal_id"),
    Index("ix_usage_hourly_region_day", "region", "day"),
)

ratings_daily = Table(
    "ratings_daily", metadata,
    Column("day", Date, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("service_code", String(64), nullable=False),
    Column("region", REGION, nullable=False),
    *_counts("n", "n1", "n2", "n3", "n4", "n5"),  # ratings, and how many at each of the five levels
    PrimaryKeyConstraint("day", "terminal_id", "service_code"),
    Index("ix_ratings_daily_region_day", "region", "day"),
)

# second-level rollups: what province and city pages read (tens of thousands of rows for 90 days, whatever the
# number of terminals); the per-terminal ones above serve drill-downs and maintenance companies' scopes
region_usage_daily = Table(
    "region_usage_daily", metadata,
    Column("day", Date, nullable=False),
    Column("region", REGION, nullable=False),
    Column("service_code", String(64), nullable=False),
    *_counts("n", "completed", "failed", "abandoned", "timed_out"), _sum("duration_sum"),
    PrimaryKeyConstraint("region", "day", "service_code"),
)

region_usage_hourly = Table(
    "region_usage_hourly", metadata,
    Column("day", Date, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("region", REGION, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("region", "day", "hour"),
)

region_ratings_daily = Table(
    "region_ratings_daily", metadata,
    Column("day", Date, nullable=False),
    Column("region", REGION, nullable=False),
    Column("service_code", String(64), nullable=False),
    *_counts("n", "n1", "n2", "n3", "n4", "n5"),  # ratings, and how many at each of the five levels
    PrimaryKeyConstraint("region", "day", "service_code"),
)

region_availability_daily = Table(
    "region_availability_daily", metadata,
    Column("day", Date, nullable=False),
    Column("region", REGION, nullable=False),
    Column("up", Float, nullable=False, default=0.0),
    Column("down", Float, nullable=False, default=0.0),
    Column("unknown", Float, nullable=False, default=0.0),
    PrimaryKeyConstraint("region", "day"),
)

terminal_usage_daily = Table(
    "terminal_usage_daily", metadata,
    Column("day", Date, nullable=False),
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    Column("completed", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("day", "terminal_id"),
    Index("ix_terminal_usage_daily_region_day", "region", "day"),
)

# terminal × month: a province-wide terminal ranking at 100,000 terminals reads months, not days (queries.py)
terminal_usage_monthly = Table(
    "terminal_usage_monthly", metadata,
    Column("month", Date, nullable=False),  # the first day of the local month
    Column("terminal_id", ID, nullable=False),
    Column("region", REGION, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    Column("completed", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("month", "terminal_id"),
    Index("ix_terminal_usage_monthly_region_month", "region", "month"),
)

#: tables partitioned by month on PostgreSQL, with their partition column
PARTITIONED: dict[str, str] = {"transactions": "started", "ratings": "time", "availability": "day",
                               "host_samples": "time"}
#: every record table with its kind, for inventories (count + checksum per terminal)
RECORD_TABLES: dict[str, Table] = {"transaction": transactions, "rating": ratings, "availability": availability,
                                   "host": host_samples, "fault": faults, "inspection": inspections,
                                   "consumable": consumables, "catalogue": catalogue_history}
