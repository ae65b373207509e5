"""Applying records to the platform database: idempotent on ``(id, version)``, rollups in the same transaction.

One batch of messages is one database transaction.  For each kind:

1. ``INSERT … ON CONFLICT DO NOTHING RETURNING key`` — the rows that are new;
2. the others are read ``FOR UPDATE`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers) and
   replaced only where the incoming ``version`` is higher;
3. rollup deltas (+new, −old +replacement) are summed per rollup key and applied with
   ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``, keys sorted so two workers never deadlock.

So a record delivered twice — by a resend, by two workers of a shared subscription, after a ``kill -9`` — counts
once.  A message that is not a valid record, claims another terminal, or comes from a revoked or unknown
terminal is refused with a code and written to the platform's audit table as its size and SM3 hash — never its
body, which could carry whatever a misbehaving sender put in it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Engine, Table, and_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from gtsdk.crypto import sm3
from gtsdk.errors import GtsdkError
from gtsdk.fleet import errors as fe
from gtsdk.fleet.reconcile import checksum
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.db import Partitions, is_postgres, writer
from gtsdk.records.schema import (
    Availability,
    Catalogue,
    Consumable,
    Fault,
    Host,
    Inspection,
    Profile,
    Rating,
    RecordEnvelope,
    RecordKind,
    Transaction,
)

#: response-time targets of 10.2.2 b, per fault level: what must have happened by then
SLA: dict[int, tuple[float, str]] = {1: (2 * 3600.0, "onSite"), 2: (4 * 3600.0, "acknowledged"),
                                     3: (24 * 3600.0, "resolved")}
EARLIEST = datetime(2000, 1, 1)
FUTURE_SLACK = timedelta(days=1)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
_LONG_DIGITS = re.compile(r"\d{9,}")


def mask_text(text: str) -> str:
    """Mask ID-number-, phone- and account-shaped substrings (the terminal masks first; this is defence in depth)."""
    text = _ID_NUMBER.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 3), text)
    text = _PHONE.sub(lambda m: m.group(0)[:3] + "********", text)
    return _LONG_DIGITS.sub(lambda m: "*" * len(m.group(0)), text)


def naive_utc(t: datetime) -> datetime:
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def insert_for(conn: Connection | Engine) -> Callable[[Table], Any]:
    return postgresql.insert if is_postgres(conn) else sqlite.insert


@dataclass(frozen=True)
class Incoming:
    """One message off ``gt/…/<terminal>/rec``: the topic's terminal and region, the payload, the outbox seq."""

    terminal_id: str
    region: str
    payload: bytes
    seq: int | None = None


@dataclass(frozen=True)
class TerminalInfo:
    region: str
    revoked: bool


@dataclass
class Applied:
    #: per terminal: (seq, id, version) confirmed — new, replaced or already there
    acks: dict[str, list[tuple[int | None, str, int]]] = field(default_factory=lambda: defaultdict(list))
    #: per terminal: (seq, id, version, code) refused for good
    rejected: dict[str, list[tuple[int | None, str, int, str]]] = field(default_factory=lambda: defaultdict(list))
    new: int = 0
    replaced: int = 0
    duplicates: int = 0


class Registry:
    """Which terminals exist, their enrolled region and revocation, cached for *ttl* seconds."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, TerminalInfo] = {}
        self._misses: dict[str, float] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._loaded = 0.0

    def get(self, terminal_id: str, *, fresh: bool = False) -> TerminalInfo | None:
        """The cached entry; *fresh* re-reads the registry first — used before refusing a record for an unknown
        terminal or a region mismatch, so a terminal enrolled a moment ago is not refused.  A fresh read happens at
        most every 2 s per terminal id (only holders of a fleet certificate can publish, so ids are bounded)."""
        with self._lock:
            now = time.monotonic()
            if fresh:
                last = self._misses.get(terminal_id, -1e9)
                fresh = now - last > 2.0
                if fresh:
                    if len(self._misses) > 10_000:
                        self._misses.clear()
                    self._misses[terminal_id] = now
            if fresh or now - self._loaded > self.ttl:
                with self.engine.connect() as conn:
                    rows = conn.execute(select(s.terminals.c.id, s.terminals.c.region, s.terminals.c.revoked)).all()
                self._cache = {r.id: TerminalInfo(r.region, r.revoked is not None) for r in rows}
                self._loaded = now
            return self._cache.get(terminal_id)


@dataclass
class _Parsed:
    inc: Incoming
    env: RecordEnvelope
    body: Any


class Applier:
    """Turns batches of :class:`Incoming` into rows; thread-safe (each call is its own transaction)."""

    def __init__(self, engine: Engine, *, timezone: str = "Asia/Shanghai", registry: Registry | None = None,
                 partitions: Partitions | None = None) -> None:
        self.engine = engine
        self.tz = ZoneInfo(timezone)
        self.registry = registry or Registry(engine)
        self.partitions = partitions or Partitions(engine)
        self._insert = insert_for(engine)

    # ---- entry point --------------------------------------------------------------------------------
    def apply(self, batch: Sequence[Incoming], *, attempts: int = 5) -> Applied:
        out = Applied()
        parsed = self._parse(batch, out)
        for attempt in range(attempts):
            try:
                self._ensure_partitions(parsed)
                with writer(self.engine).begin() as conn:
                    self._reject_audit(conn, out, batch)
                    self._apply(conn, parsed, out)
                return out
            except OperationalError as e:  # deadlock, serialization failure, lost connection: retry the batch
                if attempt == attempts - 1:
                    raise GtsdkError(fe.DATABASE_UNAVAILABLE, type(e.orig).__name__ if e.orig else "error") from None
                out.new = out.replaced = out.duplicates = 0
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
            except DBAPIError as e:
                raise GtsdkError(fe.DATABASE_UNAVAILABLE, type(e.orig).__name__ if e.orig else "error") from None
        raise AssertionError("unreachable")

    # ---- parsing and checks -------------------------------------------------------------------------
    def _parse(self, batch: Sequence[Incoming], out: Applied) -> list[_Parsed]:
        latest: dict[str, _Parsed] = {}
        now = datetime.now(UTC).replace(tzinfo=None)
        for inc in batch:
            try:
                env = RecordEnvelope.model_validate_json(inc.payload)
                body = env.parsed()
            except (ValidationError, ValueError):
                out.rejected[inc.terminal_id].append((inc.seq, "", 0, fe.RECORD_INVALID))
                continue
            code = self._check(inc, env, body, now)
            if code is not None:
                out.rejected[inc.terminal_id].append((inc.seq, env.id, env.version, code))
                continue
            out.acks[inc.terminal_id].append((inc.seq, env.id, env.version))
            prev = latest.get(env.id)
            if prev is None or env.version > prev.env.version:
                latest[env.id] = _Parsed(inc, env, body)
            else:
                out.duplicates += 1
        return list(latest.values())

    def _check(self, inc: Incoming, env: RecordEnvelope, body: Any, now: datetime) -> str | None:
        if env.terminal_id != inc.terminal_id:
            return fe.TOPIC_MISMATCH
        info = self.registry.get(inc.terminal_id)
        if info is None or info.region != inc.region:
            info = self.registry.get(inc.terminal_id, fresh=True)
        if info is None or info.region != inc.region:
            return fe.TOPIC_MISMATCH
        if info.revoked:
            return fe.TERMINAL_REVOKED
        if isinstance(body, Profile) and body.region != info.region:
            return fe.TOPIC_MISMATCH
        t = naive_utc(env.time)
        if not EARLIEST <= t <= now + FUTURE_SLACK:
            return fe.RECORD_INVALID
        for attr in ("started", "opened"):
            v = getattr(body, attr, None)
            if isinstance(v, datetime) and not EARLIEST <= naive_utc(v) <= now + FUTURE_SLACK:
                return fe.RECORD_INVALID
        return None

    def _reject_audit(self, conn: Connection, out: Applied, batch: Sequence[Incoming]) -> None:
        if not out.rejected:
            return
        by_seq = {(i.terminal_id, i.seq): i for i in batch}
        rows = []
        now = datetime.now(UTC).replace(tzinfo=None)
        for tid, items in out.rejected.items():
            for seq, rid, _ver, code in items:
                inc = by_seq.get((tid, seq))
                size = len(inc.payload) if inc else 0
                digest = sm3(inc.payload).hex()[:32] if inc else ""
                rows.append({"time": now, "actor": tid[:64], "action": "ingest.reject", "target": rid[:96],
                             "code": code, "detail": f"bytes={size} sm3={digest}"})
        conn.execute(s.audit.insert(), rows)

    def _ensure_partitions(self, parsed: list[_Parsed]) -> None:
        if not self.partitions.enabled:
            return
        need: dict[str, set[date]] = defaultdict(set)
        for p in parsed:
            b = p.body
            if isinstance(b, Transaction):
                need["transactions"].add(naive_utc(b.started).date())
            elif isinstance(b, Rating):
                need["ratings"].add(naive_utc(p.env.time).date())
            elif isinstance(b, Availability):
                need["availability"].add(b.day)
            elif isinstance(b, Host):
                need["host_samples"].add(naive_utc(p.env.time).date())
        for table, days in need.items():
            self.partitions.ensure(table, days)

    # ---- applying -----------------------------------------------------------------------------------
    def _apply(self, conn: Connection, parsed: list[_Parsed], out: Applied) -> None:
        by_kind: dict[RecordKind, list[_Parsed]] = defaultdict(list)
        for p in parsed:
            by_kind[p.env.kind].append(p)
        def counters() -> dict[tuple[Any, ...], dict[str, float]]:
            return defaultdict(lambda: defaultdict(float))
        usage, hourly, rated = counters(), counters(), counters()
        r_usage, r_hourly, r_rated, t_usage, t_monthly = counters(), counters(), counters(), counters(), counters()

        def count_tx(row: dict[str, Any], sign: int) -> None:
            local = row["started"].replace(tzinfo=UTC).astimezone(self.tz)
            day, tid, svc, region = local.date(), row["terminal_id"], row["service_code"], row["region"]
            result = {"completed": "completed", "failed": "failed", "abandoned": "abandoned",
                      "timedOut": "timed_out"}[row["result"]]
            for u in (usage[(day, tid, svc, region)], r_usage[(region, day, svc)]):
                u["n"] += sign
                u[result] += sign
                u["duration_sum"] += sign * row["duration"]
            hourly[(day, local.hour, tid, region)]["n"] += sign
            r_hourly[(region, day, local.hour)]["n"] += sign
            for t in (t_usage[(day, tid, region)], t_monthly[(day.replace(day=1), tid, region)]):
                t["n"] += sign
                t["completed"] += sign * (result == "completed")

        def count_rating(row: dict[str, Any], sign: int) -> None:
            local = row["time"].replace(tzinfo=UTC).astimezone(self.tz)
            day, region = local.date(), row["region"]
            for r in (rated[(day, row["terminal_id"], row["service_code"], region)],
                      r_rated[(region, day, row["service_code"])]):
                r["n"] += sign
                r[f"n{row['level']}"] += sign

        if ps := by_kind.get(RecordKind.TRANSACTION):
            new, repl = self._versioned(conn, s.transactions, [self._tx_row(p) for p in ps], ["id", "started"], out)
            for r in new:
                count_tx(r, +1)
            for old, r in repl:
                count_tx(old, -1)
                count_tx(r, +1)
        if ps := by_kind.get(RecordKind.RATING):
            new, repl = self._versioned(conn, s.ratings, [self._rating_row(p) for p in ps], ["id", "time"], out)
            for r in new:
                count_rating(r, +1)
            for old, r in repl:
                count_rating(old, -1)
                count_rating(r, +1)
        r_avail = counters()

        def count_avail(row: dict[str, Any], sign: int) -> None:
            if row["module"] == "":  # the terminal as a whole
                a = r_avail[(row["region"], row["day"])]
                for k in ("up", "down", "unknown"):
                    a[k] += sign * row[k]

        if ps := by_kind.get(RecordKind.AVAILABILITY):
            new, repl = self._versioned(conn, s.availability, [self._avail_row(p) for p in ps], ["id", "day"], out)
            for r in new:
                count_avail(r, +1)
            for old, r in repl:
                count_avail(old, -1)
                count_avail(r, +1)
        if ps := by_kind.get(RecordKind.HOST):
            self._versioned(conn, s.host_samples, [self._host_row(p) for p in ps], ["id", "time"], out)
        if ps := by_kind.get(RecordKind.INSPECTION):
            self._versioned(conn, s.inspections, [self._inspection_row(p) for p in ps], ["id"], out)
        if ps := by_kind.get(RecordKind.CONSUMABLE):
            self._versioned(conn, s.consumables, [self._consumable_row(p) for p in ps], ["id"], out)
        if ps := by_kind.get(RecordKind.FAULT):
            self._faults(conn, ps, out)
        for p in by_kind.get(RecordKind.PROFILE, []):
            self._profile(conn, p, out)
        for p in by_kind.get(RecordKind.CATALOGUE, []):
            self._catalogue(conn, p, out)

        self._rollup(conn, s.usage_daily, ["day", "terminal_id", "service_code", "region"], usage)
        self._rollup(conn, s.usage_hourly, ["day", "hour", "terminal_id", "region"], hourly)
        self._rollup(conn, s.ratings_daily, ["day", "terminal_id", "service_code", "region"], rated)
        self._rollup(conn, s.terminal_usage_daily, ["day", "terminal_id", "region"], t_usage)
        self._rollup(conn, s.terminal_usage_monthly, ["month", "terminal_id", "region"], t_monthly)
        self._rollup(conn, s.region_usage_daily, ["region", "day", "service_code"], r_usage, conflict_region=True)
        self._rollup(conn, s.region_usage_hourly, ["region", "day", "hour"], r_hourly, conflict_region=True)
        self._rollup(conn, s.region_ratings_daily, ["region", "day", "service_code"], r_rated, conflict_region=True)
        self._rollup(conn, s.region_availability_daily, ["region", "day"], r_avail, conflict_region=True)
        seen = sorted({p.inc.terminal_id for p in parsed})
        if seen:
            conn.execute(update(s.terminals).where(s.terminals.c.id.in_(seen))
                         .values(last_seen=datetime.now(UTC).replace(tzinfo=None)))

    def _versioned(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str],
                   out: Applied) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
        """Insert new rows, replace older versions; returns (new rows, [(old, replacement)])."""
        if not rows:
            return [], []
        rows.sort(key=lambda r: tuple(str(r[k]) for k in keys))
        cols = [table.c[k] for k in keys]
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=keys).returning(*cols)
        inserted = {tuple(r) for r in conn.execute(stmt, rows)}
        new = [r for r in rows if tuple(r[k] for k in keys) in inserted]
        rest = [r for r in rows if tuple(r[k] for k in keys) not in inserted]
        out.new += len(new)
        replaced: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i in range(0, len(rest), 500):
            chunk = rest[i:i + 500]
            q = select(table).where(tuple_(*cols).in_([tuple(r[k] for k in keys) for r in chunk]))
            existing = {tuple(e[k] for k in keys): dict(e) for e in
                        conn.execute(q.with_for_update()).mappings()}
            for r in chunk:
                old = existing.get(tuple(r[k] for k in keys))
                if old is None or r["version"] <= old["version"]:
                    out.duplicates += 1
                    continue
                cond = and_(*(table.c[k] == r[k] for k in keys), table.c.version < r["version"])
                if conn.execute(update(table).where(cond).values(**r)).rowcount:
                    replaced.append((old, r))
                    out.replaced += 1
        return new, replaced

    def _rollup(self, conn: Connection, table: Table, keys: list[str],
                deltas: dict[tuple[Any, ...], dict[str, float]], conflict_region: bool = False) -> None:
        rows = []
        for key in sorted(deltas, key=lambda k: tuple(str(x) for x in k)):
            d = deltas[key]
            if not any(d.values()):
                continue
            row: dict[str, Any] = dict(zip(keys, key, strict=True))
            for c in table.c:
                if c.name not in keys:
                    row[c.name] = d.get(c.name, 0)
            rows.append(row)
        if not rows:
            return
        stmt = self._insert(table)
        counters = [c.name for c in table.c if c.name not in keys]
        stmt = stmt.on_conflict_do_update(
            index_elements=[k for k in keys if conflict_region or k != "region"],
            set_={c: table.c[c] + stmt.excluded[c] for c in counters})
        conn.execute(stmt, rows)

    # ---- rows per kind ------------------------------------------------------------------------------
    @staticmethod
    def _base(p: _Parsed) -> dict[str, Any]:
        return {"id": p.env.id, "version": p.env.version, "terminal_id": p.inc.terminal_id, "region": p.inc.region}

    def _tx_row(self, p: _Parsed) -> dict[str, Any]:
        b: Transaction = p.body  # holder_key is not kept: the platform has no use for a holder pseudonym
        return {**self._base(p), "started": naive_utc(b.started), "service_code": b.service_code,
                "ended": naive_utc(b.ended), "duration": b.duration, "result": b.result.value,
                "reason_code": b.reason_code, "operations": b.operations, "failed_operations": b.failed_operations,
                "app": b.app}

    def _rating_row(self, p: _Parsed) -> dict[str, Any]:
        b: Rating = p.body
        return {**self._base(p), "time": naive_utc(p.env.time), "service_code": b.service_code or "",
                "transaction_id": b.transaction_id, "level": int(b.level), "tags": list(b.tags),
                "comment": mask_text(b.comment) if b.comment else None}

    def _avail_row(self, p: _Parsed) -> dict[str, Any]:
        b: Availability = p.body
        return {**self._base(p), "day": b.day, "module": b.module or "", "up": b.up, "down": b.down,
                "unknown": b.unknown}

    def _host_row(self, p: _Parsed) -> dict[str, Any]:
        b: Host = p.body
        return {**self._base(p), "time": naive_utc(p.env.time), **b.model_dump()}

    def _inspection_row(self, p: _Parsed) -> dict[str, Any]:
        b: Inspection = p.body
        return {**self._base(p), "trigger": b.trigger, "started": naive_utc(b.started), "ended": naive_utc(b.ended),
                "ok": all(f.ok for f in b.findings),
                "findings": [f.model_dump(by_alias=True, mode="json") for f in b.findings]}

    def _consumable_row(self, p: _Parsed) -> dict[str, Any]:
        b: Consumable = p.body
        return {**self._base(p), "time": naive_utc(p.env.time), "module": b.module, "name": b.name,
                "state": b.state, "level": b.level}

    def _faults(self, conn: Connection, ps: list[_Parsed], out: Applied) -> None:
        rows = []
        for p in ps:
            b: Fault = p.body
            opened = naive_utc(b.opened)
            resolved = naive_utc(b.resolved) if b.resolved else None
            done = b.state.value == "resolved"
            rows.append({**self._base(p), "module": b.module, "level": b.level, "kind": b.kind, "code": b.code,
                         "reason": b.reason[:256], "source": "terminal", "terminal_state": b.state.value,
                         "opened": opened, "resolved": resolved, "resolution": b.resolution,
                         "dispatch_state": "resolved" if done else "open",
                         "closed": (resolved or naive_utc(p.env.time)) if done else None,
                         "deadline": opened + timedelta(seconds=SLA[b.level][0])})
        # a replacement keeps the platform's dispatch progress; only the terminal's view and the level change
        self._versioned_faults(conn, rows, out)

    def _versioned_faults(self, conn: Connection, rows: list[dict[str, Any]], out: Applied,
                          ) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
        t = s.faults
        rows.sort(key=lambda r: r["id"])
        stmt = self._insert(t).on_conflict_do_nothing(index_elements=["id"]).returning(t.c.id)
        inserted = {r[0] for r in conn.execute(stmt, rows)}
        out.new += len(inserted)
        rest = [r for r in rows if r["id"] not in inserted]
        repl = []
        if rest:
            existing = {e["id"]: dict(e) for e in conn.execute(
                select(t).where(t.c.id.in_([r["id"] for r in rest])).with_for_update()).mappings()}
            for r in rest:
                old = existing.get(r["id"])
                if old is None or r["version"] <= old["version"]:
                    out.duplicates += 1
                    continue
                values = {k: r[k] for k in ("version", "module", "level", "kind", "code", "reason", "terminal_state",
                                            "resolved", "resolution", "deadline")}
                if r["terminal_state"] == "resolved" and old["dispatch_state"] != "resolved":
                    values.update(dispatch_state="resolved", closed=r["closed"])
                cond = and_(t.c.id == r["id"], t.c.version < r["version"])
                if conn.execute(update(t).where(cond).values(**values)).rowcount:
                    out.replaced += 1
                    repl.append((old, r))
        return [r for r in rows if r["id"] in inserted], repl

    def _profile(self, conn: Connection, p: _Parsed, out: Applied) -> None:
        b: Profile = p.body
        t = s.terminals
        res = conn.execute(update(t).where(t.c.id == p.inc.terminal_id, t.c.profile_version < p.env.version).values(
            name=b.name, address=b.address, latitude=b.latitude, longitude=b.longitude, vendor=b.vendor[:64],
            model=b.model[:64], software_version=b.software_version[:64], modules=dict(b.modules),
            catalogue_version=b.catalogue_version, profile_id=p.env.id, profile_version=p.env.version))
        if res.rowcount:
            out.new += 1
        else:
            out.duplicates += 1

    def _catalogue(self, conn: Connection, p: _Parsed, out: Applied) -> None:
        b: Catalogue = p.body
        hist = {**self._base(p), "catalogue_version": b.version, "time": naive_utc(p.env.time)}
        self._versioned(conn, s.catalogue_history, [hist], ["id"], out)
        t = s.catalogues
        row = {"terminal_id": p.inc.terminal_id, "id": p.env.id, "version_no": p.env.version, "version": b.version,
               "entries": [e.model_dump(by_alias=True, mode="json") for e in b.entries],
               "time": naive_utc(p.env.time)}
        stmt = self._insert(t)
        # the catalogue written last is in force — not the one that arrived last: a resend, a redelivery after a
        # kill -9 or a lost receipt can bring an older catalogue record after a newer one (a push, a rollback)
        stmt = stmt.on_conflict_do_update(
            index_elements=["terminal_id"], set_={k: stmt.excluded[k] for k in row if k != "terminal_id"},
            where=((t.c.id != stmt.excluded.id) & (t.c.time < stmt.excluded.time))
            | ((t.c.id == stmt.excluded.id) & (t.c.version_no < stmt.excluded.version_no)))
        if not conn.execute(stmt, row).rowcount:
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        svc = [{"code": e.code, "name_zh": e.name_zh, "name_en": e.name_en, "department": e.department,
                "category": e.category, "on_terminal": e.on_terminal, "updated": now}
               for e in sorted(b.entries, key=lambda e: e.code)]
        if svc:
            ins = self._insert(s.services)
            conn.execute(ins.on_conflict_do_update(
                index_elements=["code"], set_={k: ins.excluded[k] for k in svc[0] if k != "code"}), svc)


def inventory(conn: Connection, terminal_id: str) -> tuple[int, str]:
    """(count, SM3 hex) over the sorted ``id:version`` of every record of *terminal_id* the platform holds.

    A terminal computes the same over its own records (:func:`gtsdk.fleet.reconcile.inventory_of`) — equal pairs mean
    nothing was lost and nothing counted twice.
    """
    items: list[str] = []
    for table in s.RECORD_TABLES.values():
        items += [f"{r.id}:{r.version}" for r in conn.execute(
            select(table.c.id, table.c.version).where(table.c.terminal_id == terminal_id))]
    pr = conn.execute(select(s.terminals.c.profile_id, s.terminals.c.profile_version)
                      .where(s.terminals.c.id == terminal_id)).first()
    if pr is not None and pr.profile_id:
        items.append(f"{pr.profile_id}:{pr.profile_version}")
    return len(items), checksum(items)
