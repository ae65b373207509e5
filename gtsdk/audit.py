"""The audit log (clause 9.3.3 b): who did what, when, with which result.

Every completed operation (``Terminal.on_complete``) becomes one row of an
embedded SQLite database under the gtsdk home: time, caller (token id and
app), module, operation, request id, result code, duration and, when the result
names a person, that person's ID number **masked** (``11**************11``) plus
a keyed hash of it so a maintainer can search by the full number.  No other
personal data is stored.

The keyed-hash key (the *subject key*) never sits in the database: it lives in
``<home>/audit-subject.key`` (mode 0600), sealed with the terminal's SM2 public key
(``terminal-sm2-key.pem`` opens it; a hardware SM2 backend keeps it out of reach).
The database file alone therefore yields neither the key nor, by looping over
birth dates, the number; and the mask hides region, birth date and sequence.

Rows are hash-chained: ``hash = H(prev_hash || canonical JSON of the row)``
with H = SM3 when :mod:`gtsdk.crypto` is installed (SHA-256 otherwise; the
algorithm is fixed per database in its ``meta`` table).  The chain head is signed
with the terminal's SM2 key at every start, every ``head_interval`` seconds while
rows are added, at each day change and at a clean shutdown, and the last signed
head is also kept outside the database in ``<home>/audit-head.json`` (0600): so
deleting or editing rows, or deleting the tail of a crashed terminal's log, is
detected by :meth:`AuditLog.verify`.  Only rows written after the last signed head
(at most ``head_interval`` seconds of them) can vanish undetected.

Commits are durable (``synchronous=FULL``) and :meth:`AuditLog.committed` lets the
service answer an operation only once its row is on disk, so a ``kill -9`` or a
power cut loses no acknowledged operation.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gtsdk.commits import CommitWaiters
from gtsdk.errors import ConfigError
from gtsdk.failures import swallowed

log = logging.getLogger("gtsdk.audit")

#: result fields that identify the person an operation was about
SUBJECT_FIELDS = ("id_number", "document_number", "pass_number", "previous_id_number")
ZERO = "00" * 32
#: the key of an operation's row that is no column (OperationRecord.audit_key)
_KEY = "_audit_key"
COLUMNS = ("time", "module", "operation", "request_id", "code", "duration_ms", "caller", "app", "subject",
           "subject_key")
DB_NAME = "audit.sqlite"
KEY_NAME = "audit-subject.key"
HEAD_NAME = "audit-head.json"
#: seconds between signed heads while rows are added (``GTSDK_AUDIT_HEAD_INTERVAL`` overrides)
HEAD_INTERVAL = 60.0
#: rows the service writes about the log itself (a head that no longer matches at start)
SELF_MODULE, HEAD_MISMATCH = "audit", "headMismatch"
_RECENT = 8192  # committed request ids remembered for committed()


def mask_id(value: str) -> str:
    """``110101199003071234`` → ``11**************34``: two characters at each end, at most.

    The six-digit region and the three-digit sequence are not shown: with them only the
    birth date (≈ 36,500 candidates) separates the mask from the number."""
    v = value.strip()
    n = len(v)
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


#: the encoder ``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` would build per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_INSERT = (f"INSERT INTO records (id, {', '.join(COLUMNS)}, prev_hash, hash) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})")


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers: its columns as sorted, compact JSON (fixed: the chain depends on it)."""
    return _CANONICAL.encode({k: row.get(k) for k in COLUMNS}).encode()


#: per result class, the SUBJECT_FIELDS it has (looking up a missing attribute of a pydantic model is slow)
_SUBJECT_FIELDS: dict[type, tuple[str, ...]] = {}


def subject_of(result: Any) -> str | None:
    """The first person-identifying number in a result model (or None)."""
    if result is None:
        return None
    cls = type(result)
    names = _SUBJECT_FIELDS.get(cls)
    if names is None:
        fields = getattr(cls, "model_fields", None)
        names = tuple(n for n in SUBJECT_FIELDS if fields is None or n in fields)
        if fields is not None:
            _SUBJECT_FIELDS[cls] = names
    for name in names:
        v = getattr(result, name, None)
        if isinstance(v, str) and v:
            return v
    return None


class Signer:
    """The terminal SM2 key (``<home>/terminal-sm2-key.pem``) when gtsdk.crypto is installed.

    ``create=False`` (readers such as ``gtsdk audit verify``) never generates a missing key."""

    def __init__(self, home: Path, *, create: bool = True) -> None:
        self.key: Any = None
        self.public: Any = None
        mod = _crypto()
        if mod is None or not hasattr(mod, "SM2PrivateKey"):
            return
        path = home / "terminal-sm2-key.pem"
        try:
            if path.exists():
                self.key = mod.load_private_pem(path.read_bytes())
            elif create:
                from gtsdk.home import write_private, write_public

                self.key = mod.SM2PrivateKey.generate()
                write_private(path, _pem(self.key, private=True))
                pub = self.key.public_key()
                write_public(home / "terminal-sm2.pub.pem", _pem(pub, private=False))
            else:
                pub_path = home / "terminal-sm2.pub.pem"
                if pub_path.exists():
                    self.public = mod.load_public_pem(pub_path.read_bytes())
                return
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


# ---- the subject key, outside the database ------------------------------------------------------------------
_KEY_HEADER = {"purpose": "gtsdk-audit-subject-key"}


def _write_subject_key(path: Path, key: bytes, signer: Signer) -> None:
    """Seal *key* to the terminal SM2 key when there is one (plain hex otherwise), mode 0600."""
    from gtsdk.home import write_private

    if signer.public is not None:
        from gtsdk.crypto.envelope import seal_json

        doc: dict[str, Any] = {"v": 1, "format": "sm2-envelope",
                               "envelope": seal_json(key, signer.public, header=dict(_KEY_HEADER))}
    else:
        doc = {"v": 1, "format": "plain", "key": key.hex()}
    write_private(path, json.dumps(doc, sort_keys=True).encode() + b"\n")


def _read_subject_key(path: Path, signer: Signer) -> bytes:
    """The key in *path*; ``ConfigError`` when it cannot be read or opened (wrong or missing SM2 key)."""
    where = f"audit subject key {path}"
    try:
        doc = json.loads(path.read_bytes())
        fmt = doc["format"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(where, f"unreadable ({type(e).__name__})") from None
    if fmt == "plain":
        try:
            key = bytes.fromhex(doc["key"])
        except (KeyError, TypeError, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError(where, "bad plain key")
        return key
    if fmt != "sm2-envelope":
        raise ConfigError(where, f"unknown format {fmt!r}")
    if signer.key is None:
        raise ConfigError(where, "sealed with the terminal SM2 key, which is missing or unreadable "
                                 "(terminal-sm2-key.pem)")
    from gtsdk.crypto.envelope import open_envelope
    from gtsdk.errors import GtsdkError

    try:
        opened = open_envelope(doc["envelope"], signer.key)
    except (GtsdkError, KeyError) as e:
        raise ConfigError(where, f"cannot be opened with terminal-sm2-key.pem ({type(e).__name__})") from None
    if opened.header != _KEY_HEADER or len(opened.payload) != 32:
        raise ConfigError(where, "not an audit subject key")
    return bytes(opened.payload)


# ---- the last signed head, outside the database --------------------------------------------------------------
def _head_bytes(day: str, last_id: int, h: str) -> bytes:
    return f"gtsdk-audit-head|{day}|{last_id}|{h}".encode()


def _latest_bytes(db_id: str, last_id: int, h: str, signed_at: str) -> bytes:
    return f"gtsdk-audit-latest|{db_id}|{last_id}|{h}|{signed_at}".encode()


def _read_head(path: Path) -> dict[str, Any] | str | None:
    """The head file as a dict, None when absent, or a problem text when unreadable."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"{path.name} unreadable ({type(e).__name__})"
    if not isinstance(doc, dict) or not isinstance(doc.get("last_id"), int) or not isinstance(doc.get("hash"), str):
        return f"{path.name} malformed"
    return doc


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    algorithm: str
    signed_days: int = 0
    problems: list[str] = field(default_factory=list)
    #: the last signed head kept outside the database (row id), when there is one
    head_row: int | None = None


def _create_private(path: Path) -> None:
    """Create an empty database file 0600 so SQLite gives its -wal and -shm the same mode."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except FileNotFoundError:
            pass


class AuditLog:
    """The audit database of a gtsdk home.

    The service opens it for writing (one writer per home); ``readonly=True`` (``gtsdk audit``
    export/verify, possibly while the service runs) never writes, migrates or signs."""

    def __init__(self, home: Path, *, signer: Signer | None = None, head_interval: float | None = None,
                 readonly: bool = False) -> None:
        self.home = home
        self.path = home / DB_NAME
        self.key_path = home / KEY_NAME
        self.head_path = home / HEAD_NAME
        self.readonly = readonly
        if head_interval is None:
            raw = os.environ.get("GTSDK_AUDIT_HEAD_INTERVAL", str(HEAD_INTERVAL))
            try:
                head_interval = float(raw)
            except ValueError:
                raise ConfigError("GTSDK_AUDIT_HEAD_INTERVAL", f"not a number of seconds: {raw!r}") from None
        self.head_interval = max(0.05, head_interval)
        if not readonly:
            _create_private(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self.signer = signer if signer is not None else Signer(home, create=not readonly)
        with self._lock:
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit is on disk before the operation it records is acknowledged, and before
                # a head naming it is signed (a power cut cannot leave the head file ahead of the log)
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA secure_delete=ON")
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
                meta = self._meta()
                if "alg" not in meta:
                    alg = "sm3" if getattr(_crypto(), "sm3", None) is not None else "sha256"
                    self._db.execute("INSERT INTO meta VALUES ('alg', ?)", (alg,))
                if "db_id" not in meta:
                    self._db.execute("INSERT INTO meta VALUES ('db_id', ?)", (secrets.token_hex(16),))
            meta = self._meta()
            self.alg = str(meta["alg"])
            self.db_id = str(meta.get("db_id", ""))
            last = self._db.execute("SELECT id, hash, time FROM records ORDER BY id DESC LIMIT 1").fetchone()
        self._h = _hash_fn(self.alg)
        self._prev = last["hash"] if last else ZERO
        self._last_id = int(last["id"]) if last else 0
        self._day = last["time"][:10] if last else None
        self._subject_key = self._load_subject_key(meta)
        # what the writer has to do: a completed operation (made into a row there), a row, or None (stop);
        # a C queue, so that handing a record over costs the device's worker no more than an append
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._count_lock = threading.Lock()
        self._queued = 0  # items put, under _count_lock
        self._done = 0  # items the writer has finished with (committed, or given up while closing)
        self._done_cv = threading.Condition()
        self._commits = CommitWaiters(_RECENT)
        self._signed_id = -1
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if not readonly:
            self._check_head_at_start()
            with self._lock:
                self._sign_latest_locked()
            self._thread = threading.Thread(target=self._writer, name="gtsdk-audit", daemon=True)
            self._thread.start()

    def _meta(self) -> dict[str, str]:
        try:
            return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta").fetchall()}
        except sqlite3.OperationalError:  # readonly on a database that was never initialised
            return {"alg": "sha256"}

    # ---- the subject key -------------------------------------------------------------------------------
    def _load_subject_key(self, meta: dict[str, str]) -> bytes | None:
        legacy = meta.get("subject_key")  # databases written before the key moved out
        if self.key_path.exists():
            key = _read_subject_key(self.key_path, self.signer)
            if legacy is not None and not self.readonly:
                if bytes.fromhex(legacy) != key:
                    raise ConfigError(f"audit subject key {self.key_path}",
                                      "differs from the key still inside audit.sqlite; keep the right one")
                self._purge_legacy_key()  # a migration interrupted after the key file was written
            return key
        if legacy is not None:
            if self.readonly:
                return bytes.fromhex(legacy)
            key = bytes.fromhex(legacy)
            _write_subject_key(self.key_path, key, self.signer)
            self._purge_legacy_key()
            log.info("audit subject key moved out of %s into %s", self.path.name, self.key_path.name)
            return key
        if self.readonly:
            return None
        with self._lock:
            keyed = self._db.execute("SELECT 1 FROM records WHERE subject_key IS NOT NULL LIMIT 1").fetchone()
        if keyed is not None:
            log.error("audit subject key %s is missing: earlier rows can be found by masked number only",
                      self.key_path)
        key = secrets.token_bytes(32)
        _write_subject_key(self.key_path, key, self.signer)
        return key

    def _purge_legacy_key(self) -> None:
        """Delete the key from the database so that it is physically gone (not in free pages, not in the WAL)."""
        with self._lock:
            self._db.execute("DELETE FROM meta WHERE key = 'subject_key'")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def subject_key(self, number: str) -> str:
        if self._subject_key is None:
            raise ConfigError(f"audit subject key {self.key_path}", "missing: search by masked number only")
        return hmac.new(self._subject_key, number.strip().upper().encode(), hashlib.sha256).hexdigest()

    # ---- writing ---------------------------------------------------------------------------------------
    def listener(self, rec: Any) -> None:
        """``Terminal.on_complete`` callback: hand the record to the writer thread, which makes it a row (the
        device's worker does O(1) work and never waits on disk; the service waits for :meth:`committed` before
        it answers the operation)."""
        self._put(rec)

    def _row_of(self, rec: Any) -> dict[str, Any]:
        """The row of a completed operation (``OperationRecord``): the subject masked and keyed, never in clear."""
        caller = rec.caller or ""
        app = caller.split(":", 1)[1] if ":" in caller else None
        number = subject_of(rec.result)
        return {
            "time": rec.time.astimezone(UTC).isoformat(timespec="milliseconds"),
            "module": rec.module, "operation": rec.operation, "request_id": rec.request_id, "code": rec.code,
            "duration_ms": round(float(rec.duration_ms), 3), "caller": caller or None, "app": app,
            "subject": mask_id(number) if number else None,
            "subject_key": self.subject_key(number) if number else None,
            _KEY: getattr(rec, "audit_key", None),  # not a column: what the commit is announced by
        }

    def record(self, **row: Any) -> None:
        """Append one row directly (tests, tools); fields as in :data:`COLUMNS`."""
        full = {c: row.get(c) for c in COLUMNS}
        full["time"] = full["time"] or datetime.now(UTC).isoformat(timespec="milliseconds")
        self._put(full)

    def _put(self, item: Any) -> None:
        if self._thread is None:
            raise RuntimeError("audit log opened read-only")
        with self._count_lock:  # counted and queued in one step: flush() never waits for an item not queued
            self._queued += 1
            self._queue.put(item)

    def _take(self, timeout: float | None) -> list[Any]:
        """Everything queued now, after waiting at most *timeout* seconds (None: for ever) for the first item."""
        q = self._queue
        batch: list[Any] = []
        try:
            batch.append(q.get(timeout=timeout))
        except queue.Empty:  # the head interval elapsed: the caller signs
            return batch
        while True:
            try:
                batch.append(q.get_nowait())
            except queue.Empty:
                return batch

    def _rows(self, batch: list[Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for item in batch:
            if isinstance(item, dict):
                rows.append(item)
            elif item is not None:
                try:
                    rows.append(self._row_of(item))
                except Exception as e:  # one malformed record must not cost the others their rows
                    swallowed("audit", "making a row of an operation", e, logger=log)
        return rows

    def _writer(self) -> None:
        dirty_since: float | None = None  # when the first row after the last signed head was committed
        while True:
            timeout = None if dirty_since is None else max(0.0, dirty_since + self.head_interval - time.monotonic())
            batch = self._take(timeout)
            try:
                rows = self._rows(batch)
                if rows:
                    self._append_durably(rows)
                    if dirty_since is None:
                        dirty_since = time.monotonic()
                if dirty_since is not None and time.monotonic() - dirty_since >= self.head_interval:
                    with self._lock:
                        self._sign_latest_locked()
                    dirty_since = None
            except Exception as e:
                swallowed("audit", "a write", e, logger=log)
            finally:
                with self._done_cv:
                    self._done += len(batch)
                    self._done_cv.notify_all()
            if None in batch:
                return

    def _append_durably(self, rows: list[dict[str, Any]]) -> None:
        """Commit *rows* (one transaction, one fsync: group commit), retrying a failing disk (full, locked) so
        that nothing queued is dropped; then wake who waits for them."""
        delay = 0.1
        while True:
            try:
                self._append(rows)
                break
            except sqlite3.Error as e:
                if self._closing.is_set():
                    log.error("audit write failed (%s) while closing: %d rows not written", e, len(rows))
                    return
                log.error("audit write failed (%s), retrying in %.1f s", e, delay)
                self._closing.wait(delay)
                delay = min(delay * 2, 5.0)
        # by request id (wait_committed, tools) and, for an operation, by its job's key: the service waits on that,
        # so a client reusing a request id is never answered on the strength of an earlier row
        self._commits.committed([k for r in rows for k in (r["request_id"], r.get(_KEY)) if k])

    def _append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Chain and insert *rows* in one transaction (split where the day changes: the day's head is signed
        after its last row)."""
        with self._lock:
            prev, last_id, day0 = self._prev, self._last_id, self._day
            self._db.execute("BEGIN IMMEDIATE")
            try:
                params: list[tuple[Any, ...]] = []
                h_prev, next_id, h = self._prev, self._last_id, self._h
                for row in rows:
                    day = row["time"][:10]
                    if self._day is not None and day != self._day:
                        self._insert(params)
                        params = []
                        self._sign_head_locked(self._day)
                    self._day = day
                    digest = h(bytes.fromhex(h_prev) + canonical(row)).hex()
                    next_id += 1
                    params.append((next_id, *[row[c] for c in COLUMNS], h_prev, digest))
                    h_prev = self._prev = digest
                    self._last_id = next_id
                self._insert(params)
                self._db.execute("COMMIT")
            except BaseException:
                self._prev, self._last_id, self._day = prev, last_id, day0
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _insert(self, params: list[tuple[Any, ...]]) -> None:
        if params:
            self._db.executemany(_INSERT, params)

    # ---- acknowledgement: an operation is answered only once its row is committed ------------------------
    @property
    def commits(self) -> CommitWaiters:
        """Who waits for which row (the service registers an operation's answer here: see gtsdk/server/inflight.py)."""
        return self._commits

    @property
    def _waiters(self) -> dict[str, Any]:
        """Request ids somebody waits for (empty when nobody does)."""
        return self._commits.waiting

    def wait_committed(self, request_id: str, timeout: float = 10.0) -> bool:
        """Block until the row of *request_id* is committed (True) or *timeout* seconds pass (False)."""
        return self._commits.wait(request_id, timeout)

    async def committed(self, request_id: str, timeout: float = 10.0) -> bool:
        """``await`` form of :meth:`wait_committed` for the service's event loop (no thread, no task)."""
        if await self._commits.wait_async(request_id, timeout):
            return True
        log.error("audit row of request %s not committed within %.0f s", request_id, timeout)
        return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued so far is committed (True) or *timeout* seconds pass (False)."""
        with self._count_lock:
            target = self._queued
        deadline = time.monotonic() + timeout
        with self._done_cv:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._done_cv.wait(left):
                    log.error("audit log: %d rows still queued after %.0f s", target - self._done, timeout)
                    return False
        return True

    # ---- heads ---------------------------------------------------------------------------------------------
    def _sign_head_locked(self, day: str) -> None:
        last = self._db.execute("SELECT id, hash FROM records WHERE substr(time, 1, 10) = ? ORDER BY id DESC LIMIT 1",
                                (day,)).fetchone()
        if last is None:
            return
        sig = self.signer.sign(_head_bytes(day, last["id"], last["hash"]))
        self._db.execute("INSERT OR REPLACE INTO heads VALUES (?, ?, ?, ?, ?, ?)",
                         (day, last["id"], last["hash"], self.alg, sig,
                          datetime.now(UTC).isoformat(timespec="seconds")))

    def _sign_latest_locked(self) -> None:
        """Sign the current tail and keep it in the head file (after the rows it names are on disk)."""
        if self._last_id == 0 or self._last_id == self._signed_id:
            return
        from gtsdk.home import write_private

        signed_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        doc = {"v": 1, "db_id": self.db_id, "alg": self.alg, "last_id": self._last_id, "hash": self._prev,
               "signed_at": signed_at,
               "signature": self.signer.sign(_latest_bytes(self.db_id, self._last_id, self._prev, signed_at))}
        text = json.dumps(doc, sort_keys=True)
        write_private(self.head_path, text.encode() + b"\n")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_head', ?)", (text,))
        self._signed_id = self._last_id

    def _head_problems(self, head: dict[str, Any], rows: dict[int, str], last_id: int) -> list[str]:
        """What is wrong between the head file and the rows of the database (empty when they agree)."""
        out: list[str] = []
        hid, hhash, at = head.get("last_id", 0), head.get("hash"), head.get("signed_at", "?")
        if head.get("db_id") != self.db_id:
            out.append(f"{HEAD_NAME} belongs to another audit database (the log was replaced?)")
            return out
        if hid > last_id:
            out.append(f"the log ends at row {last_id} but its last signed head (signed {at}) names row {hid}: "
                       f"{hid - last_id} rows deleted from the tail")
        elif rows.get(hid) != hhash:
            out.append(f"row {hid} differs from its signed head (signed {at}): rows deleted or replaced")
        sig = head.get("signature")
        if sig and self.signer.public is not None:
            if not self.signer.verify(str(sig), _latest_bytes(self.db_id, hid, str(hhash), str(at))):
                out.append(f"{HEAD_NAME}: bad signature")
        elif self.signer.public is not None and not sig:
            out.append(f"{HEAD_NAME}: not signed")
        return out

    def _check_head_at_start(self) -> None:
        """A head file that no longer matches is written into the chain itself before it is replaced."""
        head = _read_head(self.head_path)
        problems: list[str]
        if isinstance(head, str):
            problems = [head]
        elif head is None:
            problems = [f"{HEAD_NAME} missing"] if "last_head" in self._meta() else []
        else:
            hid = int(head["last_id"])
            with self._lock:
                r = self._db.execute("SELECT hash FROM records WHERE id = ?", (hid,)).fetchone()
            problems = self._head_problems(head, {hid: r["hash"]} if r else {}, self._last_id)
        for p in problems:
            log.error("audit log: %s", p)
            self._append([{**dict.fromkeys(COLUMNS), "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                           "module": SELF_MODULE, "operation": HEAD_MISMATCH, "request_id": p[:500],
                           "code": "invalidData", "duration_ms": 0.0, "caller": "gtsdk-audit"}])

    def sign_heads(self, timeout: float = 30.0) -> None:
        """Sign the head of the current day and the latest head (also done at start, on an interval, at close)."""
        self.flush(timeout)
        with self._lock:
            if self._day is not None:
                self._sign_head_locked(self._day)
            self._sign_latest_locked()

    def close(self, *, sign: bool = True, timeout: float = 10.0) -> None:
        """Write what is queued (for at most *timeout* seconds), sign the head, stop the writer."""
        if self._thread is not None:
            if sign:
                self.sign_heads(timeout)
            else:
                self.flush(timeout)
            self._closing.set()
            self._put(None)
            self._thread.join(timeout=5)
        with self._lock:
            self._db.close()

    # ---- reading ---------------------------------------------------------------------------------------
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
        """Recompute the chain, check every signed head and the head kept outside the database."""
        self.flush()
        res = VerifyResult(ok=True, rows=0, algorithm=self.alg)
        head = _read_head(self.head_path)  # before the rows: a head signed meanwhile names rows we then see
        prev = ZERO
        hashes: dict[int, str] = {}
        with self._lock:
            self._db.execute("BEGIN")
            try:
                rows = self._db.execute("SELECT * FROM records ORDER BY id").fetchall()
                heads = self._db.execute("SELECT * FROM heads ORDER BY day").fetchall()
                mirrored = self._db.execute("SELECT value FROM meta WHERE key = 'last_head'").fetchone()
            finally:
                self._db.execute("COMMIT")
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
            if r["module"] == SELF_MODULE and r["operation"] == HEAD_MISMATCH:
                res.problems.append(f"row {r['id']}: at the start of {r['time']} the service found: {r['request_id']}")
            prev = r["hash"]
            hashes[r["id"]] = r["hash"]
        for hd in heads:
            if hashes.get(hd["last_id"]) != hd["hash"]:
                res.problems.append(f"head {hd['day']}: row {hd['last_id']} missing or changed (log truncated?)")
            if hd["signature"] and self.signer.public is not None:
                if self.signer.verify(hd["signature"], _head_bytes(hd["day"], hd["last_id"], hd["hash"])):
                    res.signed_days += 1
                else:
                    res.problems.append(f"head {hd['day']}: bad signature")
        if heads and last_id < max(hd["last_id"] for hd in heads):
            res.problems.append("the log ends before its last signed head (tail truncated)")
        if isinstance(head, str):
            res.problems.append(head)
        elif head is None:
            if mirrored is not None:
                res.problems.append(f"{HEAD_NAME} missing (the database says a head was signed)")
        else:
            res.head_row = int(head["last_id"])
            res.problems += self._head_problems(head, hashes, last_id)
        res.ok = not res.problems
        return res


def _norm_time(value: str) -> str:
    """Accept dates and ISO times (naive = UTC) and return the stored UTC form."""
    v = value.strip()
    if len(v) == 10:
        return v
    t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds")
