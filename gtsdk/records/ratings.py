"""好差评 ratings (7.1.3 f, 12.3.2, 12.3.3: GB/T 39734 five levels) linked to a transaction.

The optional free text is bounded (500 characters) and masked **before** it is stored: ID-number, document-number,
phone-number and e-mail shaped substrings become ``*``.  Neither the text nor the tags are ever logged.  A
transaction has at most one rating; sending the same rating again (a retried request) returns the stored one.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.records import rollups
from gtsdk.records.api import RateRequest, RatingView
from gtsdk.records.schema import Rating, RatingLevel, RecordKind
from gtsdk.records.store import RecordStore, local_day_hour, new_id, utc
from gtsdk.records.timeline import Timeline
from gtsdk.records.transactions import TransactionBook

#: satisfied = 5 非常满意, 4 满意, 3 基本满意 (好评); 2 不满意 and 1 非常不满意 are 差评
SATISFIED_MIN = RatingLevel.BASIC
SATISFACTION_TARGET = 0.90  # 10.2.2 j

# runs of 7+ digits, allowing one space/hyphen/dot between digits, with an optional check letter (ID numbers)
_DIGITS = re.compile(r"(?<![0-9])(?:[0-9][ .\-]?){6,}[0-9](?:[Xx](?![A-Za-z]))?")
# document numbers: one or two letters then 6–10 digits (passports E12345678, 港澳通行证 C1234567...)
_DOCNO = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}[0-9]{6,10}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def _stars(m: re.Match[str]) -> str:
    return re.sub(r"[0-9A-Za-z]", "*", m.group(0))


def mask_text(text: str) -> str:
    """Mask ID/phone/document/e-mail shaped substrings (after NFKC, so full-width digits are caught too)."""
    t = unicodedata.normalize("NFKC", text)
    t = _EMAIL.sub(lambda m: "***@***", t)
    t = _DOCNO.sub(_stars, t)
    return _DIGITS.sub(_stars, t)


def _clean(text: str) -> str:
    """Control characters out (they are no part of a comment and upset CSV/JSON viewers)."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


class RatingBook:
    def __init__(self, store: RecordStore, timeline: Timeline, transactions: TransactionBook) -> None:
        self.store = store
        self.timeline = timeline
        self.transactions = transactions

    def add(self, req: RateRequest, app: str | None, idempotency_key: str | None = None) -> RatingView:
        service_code = req.service_code
        if req.transaction_id is not None:
            txn = self.transactions.get(req.transaction_id, app)
            if service_code is not None and service_code != txn.service_code:
                raise GtsdkError(ErrorCode.INVALID_DATA, "serviceCode differs from the transaction's",
                                 field="serviceCode")
            service_code = txn.service_code
        elif service_code is None:
            raise GtsdkError(ErrorCode.INVALID_DATA, "name the transactionId (or at least the serviceCode)",
                             field="transactionId")
        tags = sorted({mask_text(_clean(t)) for t in req.tags if _clean(t)})
        comment = mask_text(_clean(req.comment)) if req.comment else None
        body = Rating(transaction_id=req.transaction_id, service_code=service_code, level=req.level, tags=tags,
                      comment=comment or None)
        wall = self.timeline.clock.wall()
        rid = new_id()
        day, _ = local_day_hour(wall)

        def insert(conn: sqlite3.Connection) -> str:
            existing = None
            if req.transaction_id is not None:
                existing = conn.execute("SELECT id, level, tags, comment FROM ratings WHERE transaction_id = ?",
                                        (req.transaction_id,)).fetchone()
            elif idempotency_key is not None:
                existing = conn.execute("SELECT id, level, tags, comment FROM ratings WHERE idempotency_key = ?",
                                        (idempotency_key,)).fetchone()
            if existing is not None:
                if (existing[1], json.loads(existing[2]), existing[3]) == (int(req.level), tags, body.comment):
                    return str(existing[0])
                raise GtsdkError(ErrorCode.INVALID_STATE, "this transaction has been rated already",
                                 field="transactionId")
            conn.execute("INSERT INTO ratings (id, transaction_id, service_code, level, tags, comment, time, day, "
                         "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (rid, req.transaction_id, service_code, int(req.level), json.dumps(tags, ensure_ascii=False),
                          body.comment, wall, day, None if req.transaction_id else idempotency_key))
            rollups.add_rating(conn, day, service_code, int(req.level))
            self.store.emit(conn, RecordKind.RATING, rid, body, when=wall)
            return rid

        stored = self.store.write(insert)
        return self.get(stored)

    def get(self, rid: str) -> RatingView:
        with self.store.reader() as db:
            row = db.execute("SELECT id, transaction_id, service_code, level, tags, comment, time FROM ratings "
                             "WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no such rating")
        return _view(row)


def _view(row: Any) -> RatingView:
    rid, tid, code, level, tags, comment, when = row
    return RatingView(id=rid, transaction_id=tid, service_code=code, level=RatingLevel(level), tags=json.loads(tags),
                      comment=comment, time=utc(when))
