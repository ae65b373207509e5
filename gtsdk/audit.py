"""The audit log (clause 9.3.3 b): who did what, when, with which result.

Every completed operation (``Terminal.on_complete``) becomes one row of an
embedded SQLite database under the gtsdk home: time, caller (token id and
app), module, operation, request id, result code, duration and, when the result
names a person, that person's ID number **masked** (``110101********1234``) plus
a keyed hash of it so a maintainer can search by the full number without the
database ever holding it.  No other personal data is stored.

Rows are hash-chained: ``hash = H(prev_hash || canonical JSON of the row)``
with H = SM3 when :mod:`gtsdk.crypto` is installed (SHA-256 otherwise; the
algorithm is fixed per database in its ``meta`` table).  The last hash of each
day (the *head*) is signed with the terminal's SM2 key when gtsdk.crypto is
available, so deleting or editing rows, or truncating the tail of a signed day,
is detected by :meth:`AuditLog.verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("gtsdk.audit")

#: result fields that identify the person an operation was about
SUBJECT_FIELDS = ("id_number", "document_number", "pass_number", "previous_id_number")
ZERO = "00" * 32
COLUMNS = ("time", "module", "operation", "request_id", "code", "duration_ms", "caller", "app", "subject",
           "subject_key")


def mask_id(value: str) -> str:
    """``110101199003071234`` → ``110101********1234``; shorter numbers keep less."""
    v = value.strip()
    n = len(v)
    if n >= 15:
        return v[:6] + "*" * (n - 10) + v[-4:]
    if n >= 7:
        return v[:2] + "*" * (n - 4) + v[-2:]
    return "*" * n


def _crypto() -> Any | None:
    try:
        return importlib.import_module("gtsdk.crypto")
    except Exception:  # not installed, or libcrypto without SM2 (gtsdk.crypto raises configError at import)
        return None


def _hash_fn(alg: str) -> Callable[[bytes], bytes]:
    if alg == "sm3":
        mod = _crypto()
        fn = getattr(mod, "sm3", None) if mod is not None else None
        if fn is None:
            raise RuntimeError("audit database is chained with SM3 but gtsdk.crypto is not installed")
        f: Callable[[bytes], bytes] = fn
        return f
    return lambda b: hashlib.sha256(b).digest()


def canonical(row: dict[str, Any]) -> bytes:
    return json.dumps({k: row.get(k) for k in COLUMNS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def subject_of(result: Any) -> str | None:
    """The first person-identifying number in a result model (or None)."""
    if result is None:
        return None
    for name in SUBJECT_FIELDS:
        v = getattr(result, name, None)
        if isinstance(v, str) and v:
            return v
    return None


class Signer:
    """The terminal SM2 key (``<home>/terminal-sm2-key.pem``) when gtsdk.crypto is installed."""

    def __init__(self, home: Path) -> None:
        self.key: Any = None
        self.public: Any = None
        mod = _crypto()
        if mod is None or not hasattr(mod, "SM2PrivateKey"):
            return
        path = home / "terminal-sm2-key.pem"
        try:
            if path.exists():
                self.key = mod.load_private_pem(path.read_bytes())
            else:
                from gtsdk.home import write_private, write_public

                self.key = mod.SM2PrivateKey.generate()
                write_private(path, _pem(self.key, private=True))
                pub = self.key.public_key()
                write_public(home / "terminal-sm2.pub.pem", _pem(pub, private=False))
            self.public = self.key.public_key()
        except Exception as e:
            log.warning("terminal SM2 key unavailable (%s); audit heads stay unsigned", type(e).__name__)
            self.key = self.public = None

    @property
    def available(self) -> bool:
        return self.key is not None

    def sign(self, data: bytes) -> str | None:
        return bytes(self.key.sign(data)).hex() if self.key is not None else None

    def verify(self, sig_hex: str, data: bytes) -> bool:
        if self.public is None:
            return False
        try:
            return bool(self.public.verify(bytes.fromhex(sig_hex), data) is not False)
        except Exception:
            return False


def _pem(key: Any, *, private: bool) -> bytes:
    for name in (("private_pem", "to_pem", "pem") if private else ("public_pem", "to_pem", "pem")):
        fn = getattr(key, name, None)
        if callable(fn):
            out = fn()
            return out.encode() if isinstance(out, str) else bytes(out)
    mod = _crypto()
    fn = getattr(mod, "dump_private_pem" if private else "dump_public_pem", None)
    if callable(fn):
        out = fn(key)
        return out.encode() if isinstance(out, str) else bytes(out)
    raise RuntimeError("cannot serialise SM2 key")


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    algorithm: str
    signed_days: int = 0
    problems: list[str] = field(default_factory=list)


class AuditLog:
    def __init__(self, home: Path, *, signer: Signer | None = None) -> None:
        self.home = home
        self.path = home / "audit.sqlite"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS records (
                    id INTEGER PRIMARY KEY, time TEXT NOT NULL, module TEXT NOT NULL, operation TEXT NOT NULL,
                    request_id TEXT NOT NULL, code TEXT NOT NULL, duration_ms REAL NOT NULL, caller TEXT,
                    app TEXT, subject TEXT, subject_key TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS records_time ON records(time);
                CREATE INDEX IF NOT EXISTS records_subject ON records(subject_key);
                CREATE TABLE IF NOT EXISTS heads (
                    day TEXT PRIMARY KEY, last_id INTEGER NOT NULL, hash TEXT NOT NULL, alg TEXT NOT NULL,
                    signature TEXT, signed_at TEXT NOT NULL);
            """)
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if "alg" not in meta:
                alg = "sm3" if getattr(_crypto(), "sm3", None) is not None else "sha256"
                self._db.execute("INSERT INTO meta VALUES ('alg', ?), ('subject_key', ?)", (alg, secrets.token_hex(32)))
                meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self.alg = str(meta["alg"])
            self._subject_key = bytes.fromhex(str(meta["subject_key"]))
            last = self._db.execute("SELECT hash, time FROM records ORDER BY id DESC LIMIT 1").fetchone()
        self.path.chmod(0o600)
        self._h = _hash_fn(self.alg)
        self._prev = last["hash"] if last else ZERO
        self._day = last["time"][:10] if last else None
        self.signer = signer if signer is not None else Signer(home)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._writer, name="gtsdk-audit", daemon=True)
        self._thread.start()

    # ---- writing ------------------------------------------------------------------------
    def subject_key(self, number: str) -> str:
        return hmac.new(self._subject_key, number.strip().upper().encode(), hashlib.sha256).hexdigest()

    def listener(self, rec: Any) -> None:
        """``Terminal.on_complete`` callback: queue the record (the device worker never waits on disk)."""
        caller = rec.caller or ""
        app = caller.split(":", 1)[1] if ":" in caller else None
        number = subject_of(getattr(rec, "result", None))
        self._queue.put({
            "time": rec.time.astimezone(UTC).isoformat(timespec="milliseconds"),
            "module": rec.module, "operation": rec.operation, "request_id": rec.request_id, "code": rec.code,
            "duration_ms": round(float(rec.duration_ms), 3), "caller": caller or None, "app": app,
            "subject": mask_id(number) if number else None,
            "subject_key": self.subject_key(number) if number else None,
        })

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [b for b in batch if b is not None]
            try:
                if rows:
                    self._append(rows)
            except Exception:
                log.exception("audit write failed")
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                return

    def _append(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    day = row["time"][:10]
                    if self._day is not None and day != self._day:
                        self._sign_head_locked(self._day)
                    self._day = day
                    h = self._h(bytes.fromhex(self._prev) + canonical(row)).hex()
                    self._db.execute(
                        f"INSERT INTO records ({', '.join(COLUMNS)}, prev_hash, hash) "
                        f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))})",
                        [row[c] for c in COLUMNS] + [self._prev, h])
                    self._prev = h
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record(self, **row: Any) -> None:
        """Append one row directly (tests, tools); fields as in :data:`COLUMNS`."""
        full = {c: row.get(c) for c in COLUMNS}
        full["time"] = full["time"] or datetime.now(UTC).isoformat(timespec="milliseconds")
        self._queue.put(full)

    def flush(self) -> None:
        self._queue.join()

    def _sign_head_locked(self, day: str) -> None:
        last = self._db.execute("SELECT id, hash FROM records WHERE substr(time, 1, 10) = ? ORDER BY id DESC LIMIT 1",
                                (day,)).fetchone()
        if last is None:
            return
        sig = self.signer.sign(_head_bytes(day, last["id"], last["hash"]))
        self._db.execute("INSERT OR REPLACE INTO heads VALUES (?, ?, ?, ?, ?, ?)",
                         (day, last["id"], last["hash"], self.alg, sig,
                          datetime.now(UTC).isoformat(timespec="seconds")))

    def sign_heads(self) -> None:
        """Sign the head of the current day (also done at each day change and at close)."""
        self.flush()
        with self._lock:
            if self._day is not None:
                self._sign_head_locked(self._day)

    def close(self, *, sign: bool = True) -> None:
        if sign:
            self.sign_heads()
        else:
            self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)
        with self._lock:
            self._db.close()

    # ---- reading ---------------------------------------------------------------------------
    def query(self, *, since: str | None = None, until: str | None = None, module: str | None = None,
              operation: str | None = None, person: str | None = None, code: str | None = None,
              caller: str | None = None, limit: int = 1000, after_id: int = 0) -> list[dict[str, Any]]:
        """Rows matching every given filter; *person* is a full ID number or a masked one."""
        self.flush()
        where: list[str] = ["id > ?"]
        args: list[Any] = [after_id]
        if since:
            where.append("time >= ?")
            args.append(_norm_time(since))
        if until:
            where.append("time < ?")
            args.append(_norm_time(until))
        if module:
            where.append("module = ?")
            args.append(module)
        if operation:
            where.append("operation = ?")
            args.append(operation)
        if code:
            where.append("code = ?")
            args.append(code)
        if caller:
            where.append("(caller = ? OR app = ? OR caller LIKE ?)")
            args += [caller, caller, f"{caller}:%"]
        if person:
            if "*" in person:
                where.append("subject = ?")
                args.append(person)
            else:
                where.append("subject_key = ?")
                args.append(self.subject_key(person))
        sql = f"SELECT * FROM records WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        args.append(max(1, min(limit, 100_000)))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [{k: r[k] for k in ("id", *COLUMNS, "hash") if k != "subject_key"} for r in rows]

    def verify(self) -> VerifyResult:
        """Recompute the chain and check every signed head."""
        self.flush()
        res = VerifyResult(ok=True, rows=0, algorithm=self.alg)
        prev = ZERO
        hashes: dict[int, str] = {}
        with self._lock:
            rows = self._db.execute("SELECT * FROM records ORDER BY id").fetchall()
            heads = self._db.execute("SELECT * FROM heads ORDER BY day").fetchall()
        last_id = 0
        for r in rows:
            res.rows += 1
            if r["id"] != last_id + 1:
                res.problems.append(f"row ids jump from {last_id} to {r['id']} (rows deleted)")
            last_id = r["id"]
            if r["prev_hash"] != prev:
                res.problems.append(f"row {r['id']}: previous hash does not match (rows deleted or reordered)")
            h = self._h(bytes.fromhex(prev) + canonical(dict(r))).hex()
            if h != r["hash"]:
                res.problems.append(f"row {r['id']}: hash mismatch (row modified)")
            prev = r["hash"]
            hashes[r["id"]] = r["hash"]
        for hd in heads:
            if hashes.get(hd["last_id"]) != hd["hash"]:
                res.problems.append(f"head {hd['day']}: row {hd['last_id']} missing or changed (log truncated?)")
            if hd["signature"] and self.signer.available:
                if self.signer.verify(hd["signature"], _head_bytes(hd["day"], hd["last_id"], hd["hash"])):
                    res.signed_days += 1
                else:
                    res.problems.append(f"head {hd['day']}: bad signature")
        if heads and last_id < max(hd["last_id"] for hd in heads):
            res.problems.append("the log ends before its last signed head (tail truncated)")
        res.ok = not res.problems
        return res


def _head_bytes(day: str, last_id: int, h: str) -> bytes:
    return f"gtsdk-audit-head|{day}|{last_id}|{h}".encode()


def _norm_time(value: str) -> str:
    """Accept dates and ISO times (naive = UTC) and return the stored UTC form."""
    v = value.strip()
    if len(v) == 10:
        return v
    t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds")
