"""Self-certification at the platform (7.4.4): the signed conformance reports terminals upload, reassembled,
verified against the SM2 key each terminal enrolled with, stored, and shown per terminal with tier and date.

A terminal answers the ``conformance`` command (gtsdk.fleet.selfcert) with its report compressed in parts on
``…/res`` — ``{"reportPart": {"upload", "index", "count", "sha256", "data"}}`` — and then the command's result,
whose ``data.report`` names the upload (id, parts, SHA-256).  Ingest workers share those messages between them in
any order, so both halves meet in the database: each part is a row of ``report_parts``, the result a row of
``report_uploads``, and whichever transaction completes the set assembles it under a lock on the upload
(PostgreSQL advisory lock; SQLite's writers are serialised anyway).  Everything is idempotent: a part or result
delivered twice changes nothing.

Assembly checks the SHA-256, inflates at most :data:`MAX_REPORT_JSON` bytes, parses the JSON and verifies its
signature (:func:`gtsdk.crypto.signed_json.verify`) with the terminal's enrolled key — a report signed by another
key, or by a terminal that enrolled none, is stored as *not verified* with the reason.  Tier, pass, counts and
date come from the report itself, not from the terminal's summary.  A set that never completes is dropped after
:data:`PART_TTL`.  Refusals are audited with the upload id and the reason, never the content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection

from gtsdk.errors import GtsdkError
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet.selfcert import MAX_PARTS, PART_BYTES
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import insert_for
from gtsdk.fleet.store.db import is_postgres

log = logging.getLogger("gtsdk.fleet.certifications")

#: the largest report JSON the platform inflates
MAX_REPORT_JSON = 64 * 1024 * 1024
#: parts of a report whose set did not complete within this are dropped
PART_TTL = timedelta(days=1)
_UPLOAD = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Part:
    upload: str
    index: int
    count: int
    sha256: str
    data: bytes


def is_part(payload: bytes) -> bool:
    return payload.lstrip()[:16].startswith(b'{"reportPart"')


def parse_part(payload: bytes) -> Part:
    """One ``reportPart`` message; ValueError when it is not a well-formed one."""
    d = json.loads(payload)
    p = d.get("reportPart") if isinstance(d, dict) and len(d) == 1 else None
    if not isinstance(p, dict):
        raise ValueError("not a report part")
    upload, index, count, digest, data = (p.get(k) for k in ("upload", "index", "count", "sha256", "data"))
    if not (isinstance(upload, str) and _UPLOAD.match(upload) and isinstance(digest, str) and _SHA256.match(digest)
            and isinstance(index, int) and isinstance(count, int) and 0 <= index < count <= MAX_PARTS
            and isinstance(data, str)):
        raise ValueError("malformed report part")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("report part data is not base64") from None
    if len(raw) > PART_BYTES:
        raise ValueError("report part too large")
    return Part(upload, index, count, digest, raw)


def _upload_of(r: cmds.CommandResult) -> dict[str, Any] | None:
    rep = r.data.get("report") if r.op == cmds.CommandOp.CONFORMANCE.value and r.code == "success" else None
    if not isinstance(rep, dict):
        return None
    up, parts, digest = rep.get("upload"), rep.get("parts"), rep.get("sha256")
    if not (isinstance(up, str) and _UPLOAD.match(up) and isinstance(parts, int) and 0 < parts <= MAX_PARTS
            and isinstance(digest, str) and _SHA256.match(digest)):
        return None
    return {"upload": up, "parts": parts, "sha256": digest}


def apply(conn: Connection, parts: list[tuple[str, str, Part]], results: list[tuple[str, str, cmds.CommandResult]],
          now: datetime) -> int:
    """Store the parts and announced uploads of one ingest batch and assemble the sets they complete; returns the
    number of reports stored.  Runs inside the batch's transaction."""
    ins = insert_for(conn)
    touched: set[str] = set()
    if parts:
        rows = [{"upload_id": p.upload, "idx": p.index, "count": p.count, "terminal_id": tid, "sha256": p.sha256,
                 "data": p.data, "received": now} for tid, _region, p in parts]
        conn.execute(ins(s.report_parts).on_conflict_do_nothing(index_elements=["upload_id", "idx"]), rows)
        touched |= {p.upload for _t, _r, p in parts}
    for tid, region, r in results:
        up = _upload_of(r)
        if up is None:
            continue
        conn.execute(ins(s.report_uploads).on_conflict_do_nothing(index_elements=["upload_id"]), [{
            "upload_id": up["upload"], "command_id": r.id[:32], "terminal_id": tid, "region": region,
            "parts": up["parts"], "sha256": up["sha256"], "received": now}])
        touched.add(up["upload"])
    stored = 0
    for upload in sorted(touched):  # sorted: two workers take the locks in the same order
        if is_postgres(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(7203, hashtext(:u))"), {"u": upload})
        stored += _assemble(conn, upload, now)
    if touched:
        _expire(conn, now)
    return stored


def _assemble(conn: Connection, upload: str, now: datetime) -> int:
    up = conn.execute(select(s.report_uploads).where(s.report_uploads.c.upload_id == upload)).first()
    if up is None:
        return 0
    rp = s.report_parts
    rows = conn.execute(select(rp.c.idx, rp.c.count, rp.c.terminal_id, rp.c.sha256, rp.c.data)
                        .where(rp.c.upload_id == upload).order_by(rp.c.idx)).all()
    if len(rows) < up.parts:
        return 0  # the rest is on its way
    problem = None
    if [r.idx for r in rows] != list(range(up.parts)) or any(
            r.count != up.parts or r.sha256 != up.sha256 or r.terminal_id != up.terminal_id for r in rows):
        problem = "parts do not match the announced upload"
    packed = b"".join(bytes(r.data) for r in rows)
    report: dict[str, Any] | None = None
    raw = b""
    if problem is None and hashlib.sha256(packed).hexdigest() != up.sha256:
        problem = "SHA-256 of the parts differs from the announced one"
    if problem is None:
        try:
            d = zlib.decompressobj()
            raw = d.decompress(packed, MAX_REPORT_JSON + 1)
            if len(raw) > MAX_REPORT_JSON or d.unconsumed_tail or not d.eof:
                raise ValueError("report too large or truncated")
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                raise ValueError("not a report")
            report = parsed
        except (zlib.error, ValueError) as e:
            problem = f"not a report: {type(e).__name__}"
    conn.execute(delete(rp).where(rp.c.upload_id == upload))
    conn.execute(delete(s.report_uploads).where(s.report_uploads.c.upload_id == upload))
    if report is None:
        conn.execute(s.audit.insert().values(time=now, actor=up.terminal_id, action="certification.refused",
                                             target=up.command_id, code=fe.RECORD_INVALID,
                                             detail=f"upload {upload}: {problem}"[:256]))
        return 0
    verified, why = _verify(conn, up.terminal_id, report)
    summary = report.get("summary")
    counts_raw = summary.get("counts") if isinstance(summary, dict) else None
    counts: dict[str, Any] = counts_raw if isinstance(counts_raw, dict) else {}
    tier = report.get("tier_reached")
    conn.execute(insert_for(conn)(s.certifications).on_conflict_do_nothing(index_elements=["command_id"]), [{
        "command_id": up.command_id, "terminal_id": up.terminal_id, "region": up.region,
        "tier": tier if tier in ("bronze", "silver", "gold") else None,
        "passed": not (counts.get("fail") or counts.get("error")),
        "generated": _time(report.get("finished") or report.get("started")) or now, "received": now,
        "verified": verified, "problem": None if verified else why[:128],
        "counts": {k: int(v) for k, v in counts.items() if isinstance(v, int)},
        "tool": str(report.get("tool", ""))[:64], "size": len(raw), "report": packed}])
    conn.execute(s.audit.insert().values(time=now, actor=up.terminal_id, action="certification",
                                         target=up.command_id, code="success" if verified else fe.SIGNATURE_INVALID,
                                         detail=f"tier={tier} verified={verified} {'' if verified else why}"[:256]))
    return 1


def _verify(conn: Connection, terminal_id: str, report: dict[str, Any]) -> tuple[bool, str]:
    from gtsdk.crypto import load_public_pem, signed_json

    pem = conn.execute(select(s.terminal_keys.c.sm2_public).where(s.terminal_keys.c.terminal_id == terminal_id)
                       ).scalar()
    if pem is None:
        return False, "the terminal enrolled no SM2 key"
    try:
        ok, why = signed_json.verify(report, load_public_pem(str(pem).encode()))
    except (ValueError, TypeError, KeyError, GtsdkError) as e:  # a report made to break the verifier: not verified
        return False, f"verification failed: {type(e).__name__}"
    return bool(ok), str(why)


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return (t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)).replace(tzinfo=None)


def _expire(conn: Connection, now: datetime) -> None:
    old = now - PART_TTL
    conn.execute(delete(s.report_parts).where(s.report_parts.c.received < old))
    conn.execute(delete(s.report_uploads).where(s.report_uploads.c.received < old))


# ---- views ----------------------------------------------------------------------------------------------------
def view(r: Any) -> dict[str, Any]:
    return {"commandId": r.command_id, "terminalId": r.terminal_id, "tier": r.tier, "passed": r.passed,
            "generated": r.generated, "received": r.received, "verified": r.verified, "problem": r.problem,
            "counts": r.counts, "tool": r.tool, "size": r.size}


_COLUMNS = ("command_id", "terminal_id", "region", "tier", "passed", "generated", "received", "verified", "problem",
            "counts", "tool", "size")


def latest(conn: Connection, terminal_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The newest certification of each of *terminal_ids* (by the report's own date)."""
    c = s.certifications
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(terminal_ids), 1000):
        chunk = terminal_ids[i:i + 1000]
        newest = (select(c.c.terminal_id, func.max(c.c.generated).label("g")).where(c.c.terminal_id.in_(chunk))
                  .group_by(c.c.terminal_id).subquery())
        for r in conn.execute(select(*(c.c[k] for k in _COLUMNS)).join(
                newest, (newest.c.terminal_id == c.c.terminal_id) & (newest.c.g == c.c.generated))):
            out[r.terminal_id] = view(r)
    return out


def history(conn: Connection, terminal_id: str, limit: int = 20) -> list[dict[str, Any]]:
    c = s.certifications
    return [view(r) for r in conn.execute(select(*(c.c[k] for k in _COLUMNS)).where(c.c.terminal_id == terminal_id)
                                          .order_by(c.c.generated.desc()).limit(limit))]


def report(conn: Connection, terminal_id: str, command_id: str) -> dict[str, Any] | None:
    """The stored report (JSON) of one certification."""
    c = s.certifications
    packed = conn.execute(select(c.c.report).where(c.c.terminal_id == terminal_id, c.c.command_id == command_id)
                          ).scalar()
    if packed is None:
        return None
    d = zlib.decompressobj()
    out: dict[str, Any] = json.loads(d.decompress(bytes(packed), MAX_REPORT_JSON))
    return out
