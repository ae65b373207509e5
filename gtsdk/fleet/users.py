"""Platform users and their scope: a province or a city sees its division, a maintenance company its terminals.

Tokens are random (``gtf_`` + 43 characters), shown once, stored as SHA-256.  Roles:

=============  =================================  ============================================================
role           scope                              may
=============  =================================  ============================================================
``province``   its province (``XX0000``)          everything in scope: enrolment codes, revocation, commands,
                                                  dispatch, costs, exports, audit
``city``       its city (``XXXX00``)              the same within the city
``maintainer`` the terminals of its company       read; fault dispatch; costs; maintenance commands
=============  =================================  ============================================================
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet import topics
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.db import writer
from gtsdk.fleet.store.queries import Scope

ROLES = ("province", "city", "maintainer")
NAME = re.compile(r"^[0-9A-Za-z._@-]{1,64}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    region: str | None
    maintainer: str | None

    @property
    def scope(self) -> Scope:
        return Scope(topics.scope_prefix(self.region) if self.region else None,
                     self.maintainer if self.role == "maintainer" else None)

    def can(self, action: str) -> bool:
        if self.role in ("province", "city"):
            return action != "audit" or self.role == "province"
        return action in ("read", "dispatch", "costs", "command")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(engine: Engine, name: str, role: str, *, region: str | None = None,
             maintainer: str | None = None) -> str:
    if not NAME.match(name):
        raise GtsdkError(ErrorCode.INVALID_DATA, "name: 1-64 of [0-9A-Za-z._@-]", field="name")
    if role not in ROLES:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"role must be one of {ROLES}", field="role")
    if role == "province" and not (region and topics.valid_region(region) and region.endswith("0000")):
        raise GtsdkError(ErrorCode.INVALID_DATA, "a province user needs a province code (XX0000)", field="region")
    if role == "city" and not (region and topics.valid_region(region) and region.endswith("00")
                               and not region.endswith("0000")):
        raise GtsdkError(ErrorCode.INVALID_DATA, "a city user needs a city code (XXXX00)", field="region")
    if role == "maintainer" and not maintainer:
        raise GtsdkError(ErrorCode.INVALID_DATA, "a maintainer user needs its company", field="maintainer")
    token = "gtf_" + secrets.token_urlsafe(32)
    with writer(engine).begin() as conn:
        conn.execute(delete(s.users).where(s.users.c.name == name))
        conn.execute(s.users.insert().values(name=name, role=role, region=region, maintainer=maintainer,
                                             token_hash=_hash(token), created=now_naive()))
    return token


class Authenticator:
    """Bearer token → :class:`User`, cached for a few seconds (a deleted user is refused within *ttl*)."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, User | None]] = {}
        self._lock = threading.Lock()

    def user(self, token: str) -> User | None:
        if not token.startswith("gtf_") or len(token) > 100:
            return None
        h = _hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        with self.engine.connect() as conn:
            r = conn.execute(select(s.users).where(s.users.c.token_hash == h)).first()
        u = User(r.name, r.role, r.region, r.maintainer) if r else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[h] = (now, u)
        return u
