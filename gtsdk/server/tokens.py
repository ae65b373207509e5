"""Bearer tokens with scopes, stored hashed, revocable and rotatable (clause 9.2.2 b).

A token looks like ``gts_<id>_<secret>``.  ``<home>/tokens.json`` (mode 0600)
keeps only the id, the scopes, the app name and a hash of the secret (SM3 when
:mod:`gtsdk.crypto` is installed, else SHA-256; the algorithm is stored with
each token so both kinds keep working).  The service re-reads the file when it
changes, so ``gtsdk token revoke`` takes effect on the next request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gtsdk.errors import GtsdkError
from gtsdk.home import write_private

SCOPES = ("app", "maintenance")
PREFIX = "gts_"


@functools.cache
def sm3_function() -> Callable[[bytes], bytes] | None:
    """``gtsdk.crypto.sm3`` when that package is usable (looked up once)."""
    try:
        from gtsdk.crypto import sm3
    except (ImportError, GtsdkError):  # not installed, or libcrypto without SM2 (configError at import)
        return None
    return sm3


def digest(alg: str, data: bytes) -> str:
    if alg == "sm3":
        fn = sm3_function()
        if fn is None:
            raise RuntimeError("token hashed with SM3 but gtsdk.crypto is not installed")
        return bytes(fn(data)).hex()
    return hashlib.sha256(data).hexdigest()


def default_alg() -> str:
    return "sm3" if sm3_function() is not None else "sha256"


@dataclass
class TokenInfo:
    id: str
    scopes: list[str]
    app: str = "default"
    hash: str = ""
    alg: str = "sha256"
    created: str = ""
    revoked: str | None = None
    expires: str | None = None
    label: str = ""

    @property
    def caller(self) -> str:
        return f"{self.id}:{self.app}"

    def active(self, now: datetime | None = None) -> bool:
        if self.revoked:
            return False
        if self.expires:
            return datetime.fromisoformat(self.expires) > (now or datetime.now(UTC))
        return True


class _Shared:
    """State of one tokens.json shared by every TokenStore of this process (in-process changes are immediate)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, TokenInfo] = {}
        self.mtime: float | None = None
        self.checked = -1e9
        self.cache: dict[str, TokenInfo] = {}


_SHARED: dict[Path, _Shared] = {}
_SHARED_LOCK = threading.Lock()
#: seconds between checks of tokens.json for changes made by another process (``gtsdk token revoke``)
RELOAD_EVERY = 0.5


class TokenStore:
    def __init__(self, home: Path) -> None:
        self.path = (home / "tokens.json").resolve()
        with _SHARED_LOCK:
            self._s = _SHARED.setdefault(self.path, _Shared())
        self._lock = self._s.lock
        with self._lock:
            self._load()

    # ---- persistence ----------------------------------------------------------
    def _stat(self) -> float | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns + st.st_size * 1e-3

    def _load(self) -> None:
        s = self._s
        m = self._stat()
        tokens: dict[str, TokenInfo] = {}
        if m is not None:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            for t in raw.get("tokens", []):
                ti = TokenInfo(**t)
                tokens[ti.id] = ti
        s.tokens, s.mtime, s.cache, s.checked = tokens, m, {}, time.monotonic()

    def _refresh(self) -> None:
        s = self._s
        now = time.monotonic()
        if now - s.checked < RELOAD_EVERY:
            return
        s.checked = now
        if self._stat() != s.mtime:
            with self._lock:
                self._load()

    @property
    def _tokens(self) -> dict[str, TokenInfo]:
        return self._s.tokens

    @property
    def _cache(self) -> dict[str, TokenInfo]:
        return self._s.cache

    def _save(self) -> None:
        data = {"version": 1, "tokens": [asdict(t) for t in self._tokens.values()]}
        write_private(self.path, json.dumps(data, indent=2).encode())
        self._load()

    # ---- management -------------------------------------------------------------
    def create(self, scopes: list[str], app: str = "default", label: str = "", expires: datetime | None = None) -> str:
        for s in scopes:
            if s not in SCOPES:
                raise ValueError(f"unknown scope {s!r}; known: {', '.join(SCOPES)}")
        if not scopes:
            raise ValueError("a token needs at least one scope")
        with self._lock:
            self._load()
            tid = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            alg = default_alg()
            self._tokens[tid] = TokenInfo(id=tid, scopes=sorted(set(scopes)), app=app,
                                          hash=digest(alg, secret.encode()),
                                          alg=alg, created=datetime.now(UTC).isoformat(timespec="seconds"),
                                          expires=expires.isoformat(timespec="seconds") if expires else None,
                                          label=label)
            self._save()
        return f"{PREFIX}{tid}_{secret}"

    def list(self) -> list[TokenInfo]:
        self._refresh()
        return list(self._tokens.values())

    def revoke(self, tid: str) -> bool:
        with self._lock:
            self._load()
            t = self._tokens.get(tid)
            if t is None or t.revoked:
                return False
            t.revoked = datetime.now(UTC).isoformat(timespec="seconds")
            self._save()
        return True

    def rotate(self, tid: str, grace: float = 0.0) -> str:
        """A new token with the same scopes and app; the old one ends after *grace* seconds."""
        with self._lock:
            self._load()
            old = self._tokens.get(tid)
            if old is None or not old.active():
                raise KeyError(tid)
        new = self.create(old.scopes, old.app, old.label)
        with self._lock:
            self._load()
            o = self._tokens[tid]
            if grace > 0:
                o.expires = datetime.fromtimestamp(time.time() + grace, UTC).isoformat(timespec="seconds")
            else:
                o.revoked = datetime.now(UTC).isoformat(timespec="seconds")
            self._save()
        return new

    # ---- checking -----------------------------------------------------------------
    def cached(self, token: str) -> TokenInfo | None:
        """The entry of a token that verified before and is still active (no hashing), else None."""
        self._refresh()
        hit = self._cache.get(token)
        return hit if hit is not None and hit.active() else None

    def verify(self, token: str) -> TokenInfo | None:
        self._refresh()
        hit = self._cache.get(token)
        if hit is not None:
            return hit if hit.active() else None
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        tid, sep, secret = token[len(PREFIX):].partition("_")
        t = self._tokens.get(tid)
        if not sep or t is None:
            return None
        try:
            ok = hmac.compare_digest(digest(t.alg, secret.encode()), t.hash)
        except (RuntimeError, UnicodeError):
            return None
        if not ok or not t.active():
            return None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = t
        return t


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token bucket per key: *rate* per second, bursts up to *burst*."""

    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, rate: float, burst: int) -> float:
        """0 when allowed, else the seconds to wait (for ``Retry-After``)."""
        now = time.monotonic()
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = _Bucket(float(burst), now)
        b.tokens = min(float(burst), b.tokens + (now - b.stamp) * rate)
        b.stamp = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def describe(t: TokenInfo) -> dict[str, Any]:
    d = asdict(t)
    d.pop("hash")
    d["active"] = t.active()
    return d
