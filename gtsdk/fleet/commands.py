"""Remote commands, platform → terminal, signed with the platform's SM2 key (7.4.3 安全可控, 10.2.2 d).

A command is UTF-8 JSON on ``gt/…/<terminal>/cmd``::

    {"id": "9f…", "terminalId": "T-0001", "op": "inspect", "params": {}, "issuedAt": 1767225600000,
     "expiresAt": 1767225900000, "nonce": "4c…", "keyId": "sm2:1a2b…", "sig": "MEUCIQ…"}

``sig`` is the SM2 signature (GB/T 32918, default user id, DER, base64) over the canonical JSON of every other
field (keys sorted, no spaces, UTF-8).  Times are milliseconds since the epoch on the wire.  The terminal checks,
in this order: size and shape, signature (with the platform key it received at enrolment), that the command is
addressed to it, that it is not expired nor issued in the future (with a clock-skew allowance) nor valid for
longer than :data:`MAX_LIFETIME`, and that neither its nonce nor its id was seen before.  A refused command is
answered with its code and written to the terminal's audit log; the platform stores the answer too.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError

from gtsdk.crypto import SM2PrivateKey, SM2PublicKey
from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet import errors as fe
from gtsdk.fleet.topics import TERMINAL_ID

#: a command (or a result) larger than this is refused unread
MAX_COMMAND_BYTES = 64 * 1024
MAX_RESULT_BYTES = 768 * 1024
#: a command may be valid at most this long; it bounds the nonce store too
MAX_LIFETIME = 24 * 3600.0
DEFAULT_LIFETIME = 300.0
#: clocks of a terminal and the platform may differ by this much
CLOCK_SKEW = 120.0


class CommandOp(StrEnum):
    STATUS = "status"  # module states, versions, outbox depth
    CAPABILITIES = "capabilities"  # every module's capabilities (operations and versions)
    INSPECT = "inspect"  # run an inspection now (10.2.2 a)
    REOPEN = "reopen"  # close and open one device again (params: module)
    RESET_STATISTICS = "resetStatistics"  # params: module (optional)
    PUSH_CATALOGUE = "pushCatalogue"  # a new 事项 catalogue (params: catalogue)
    CONFORMANCE = "conformance"  # run the conformance suite against this terminal, upload the signed report
    DIAGNOSTICS = "diagnostics"  # a diagnostic bundle without personal data
    UPDATE = "update"  # fetch, verify and install a signed update bundle (gtsdk.fleet.rollout, docs/updates.md)


class Command(Model):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    terminal_id: str = Field(pattern=TERMINAL_ID.pattern)
    op: CommandOp
    params: dict[str, Any] = Field(default_factory=dict)
    issued_at: int = Field(ge=0, description="ms since the epoch")
    expires_at: int = Field(ge=0, description="ms since the epoch")
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    key_id: str = Field(max_length=80)
    sig: str = Field("", max_length=200)


class CommandResult(Model):
    id: str = Field(max_length=64)
    terminal_id: str = Field(max_length=64)
    op: str = Field(max_length=32)
    code: str = Field(max_length=64, description="'success' or a catalogue code")
    message: str = Field("", max_length=256)
    data: dict[str, Any] = Field(default_factory=dict)
    finished_at: int = Field(ge=0, description="ms since the epoch")


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(pub: SM2PublicKey) -> str:
    return f"sm2:{pub.fingerprint()[:16]}"


def _signed_part(cmd: Command) -> bytes:
    d = cmd.model_dump(by_alias=True, mode="json")
    d.pop("sig", None)
    return canonical(d)


def sign(key: SM2PrivateKey, terminal_id: str, op: CommandOp | str, params: dict[str, Any] | None = None, *,
         lifetime: float = DEFAULT_LIFETIME, now: float | None = None) -> Command:
    """A new command for *terminal_id*, valid *lifetime* seconds from *now*."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"lifetime must be in (0, {MAX_LIFETIME:.0f}] s", field="lifetime")
    t = time.time() if now is None else now
    cmd = Command(id=uuid.uuid4().hex, terminal_id=terminal_id, op=CommandOp(op), params=params or {},
                  issued_at=int(t * 1000), expires_at=int((t + lifetime) * 1000), nonce=secrets.token_hex(16),
                  key_id=key_id(key.public_key()))
    sig = key.sign(_signed_part(cmd))
    return cmd.model_copy(update={"sig": base64.b64encode(sig).decode()})


def encode(cmd: Command) -> bytes:
    return cmd.model_dump_json(by_alias=True).encode()


class NonceStore:
    """Nonces and command ids seen, kept until their command could no longer be valid (SQLite, survives restarts)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute("CREATE TABLE IF NOT EXISTS fleet_nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)")
        conn.commit()

    def seen_or_add(self, keys: list[str], expires: float, now: float) -> bool:
        """True when any of *keys* was seen already; otherwise remember them all."""
        with self._conn:
            self._conn.execute("DELETE FROM fleet_nonces WHERE expires < ?", (now - CLOCK_SKEW,))
            for k in keys:
                if self._conn.execute("SELECT 1 FROM fleet_nonces WHERE nonce = ?", (k,)).fetchone():
                    return True
            self._conn.executemany("INSERT INTO fleet_nonces VALUES (?, ?)", [(k, expires) for k in keys])
        return False

    def close(self) -> None:
        self._conn.close()


class Verifier:
    """The terminal's side: accept a command only when it is signed, addressed to us, current and new."""

    def __init__(self, platform_key: SM2PublicKey, terminal_id: str, nonces: NonceStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = platform_key
        self.key_id = key_id(platform_key)
        self.terminal_id = terminal_id
        self.nonces = nonces
        self.clock = clock

    def verify(self, payload: bytes) -> Command:
        if len(payload) > MAX_COMMAND_BYTES:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"command over {MAX_COMMAND_BYTES} bytes")
        try:
            cmd = Command.model_validate_json(payload)
        except ValidationError as e:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"not a command: {e.error_count()} problem(s)") from None
        try:
            sig = base64.b64decode(cmd.sig, validate=True)
        except ValueError:
            sig = b""
        if not sig or cmd.key_id != self.key_id or not self.key.verify(sig, _signed_part(cmd)):
            raise GtsdkError(fe.SIGNATURE_INVALID, f"command {cmd.id}")
        if cmd.terminal_id != self.terminal_id:
            raise GtsdkError(fe.WRONG_TERMINAL, f"command {cmd.id} is for {cmd.terminal_id}")
        now = self.clock()
        issued, expires = cmd.issued_at / 1000, cmd.expires_at / 1000
        if expires < now - CLOCK_SKEW:
            raise GtsdkError(fe.COMMAND_EXPIRED, f"command {cmd.id} expired {now - expires:.0f} s ago")
        if issued > now + CLOCK_SKEW or expires < issued or expires - issued > MAX_LIFETIME:
            raise GtsdkError(fe.COMMAND_EXPIRED, f"command {cmd.id} has an impossible validity window")
        if self.nonces.seen_or_add([f"n:{cmd.nonce}", f"i:{cmd.id}"], expires, now):
            raise GtsdkError(fe.COMMAND_REPLAYED, f"command {cmd.id}")
        return cmd


def peek_id(payload: bytes) -> tuple[str, str]:
    """(id, op) of a payload that may not be a valid command, for the answer to a refused one."""
    try:
        d = json.loads(payload[:MAX_COMMAND_BYTES])
        if isinstance(d, dict):
            cid, op = str(d.get("id", ""))[:64], str(d.get("op", ""))[:32]
            return cid, op
    except ValueError:
        pass
    return "", ""
