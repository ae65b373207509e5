"""The platform's home and enrolment (7.4.3 安全可控).

``<platform home>/`` holds the fleet CA (``ca/``), the SM2 key that signs commands (``command-sm2.pem``, 0600;
terminals get ``command-sm2.pub.pem`` at enrolment), the key/certificate of each platform identity
(``identities/<name>/``) and the platform's HTTPS certificate.

Enrolment of a terminal:

1. a province or city user creates a **one-time code** for a terminal id and region (``gtsdk fleet code`` or
   ``POST /api/v1/enrolment-codes``).  Only its SHA-256 is stored; it expires (default 72 h) and works once;
2. on the terminal, ``gtsdk fleet enrol --platform https://… --code …`` makes a P-256 key that never leaves the
   terminal, sends a CSR with the code, and receives its certificate (CN = the terminal id bound to the code),
   the fleet CA, the platform's SM2 public key and the broker URL, all written under ``<home>/fleet/``.  It also
   registers the terminal's **SM2 public key** (``<home>/terminal-sm2-key.pem``, the key that signs its audit log)
   with a proof of possession — an SM2 signature over the CSR — so the platform can verify what the terminal signs
   later, e.g. its self-certification reports (:mod:`gtsdk.fleet.certifications`).

A wrong, used or expired code is refused with ``fleet.enrolmentRefused`` and audited.  Re-enrolling a terminal (a
new code for the same id) issues a new certificate and revokes the previous one.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update

from gtsdk.crypto import SM2PrivateKey, SM2PublicKey, load_private_pem, load_public_pem
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet import errors as fe
from gtsdk.fleet import topics
from gtsdk.fleet.mqtt import Identity
from gtsdk.fleet.pki import FleetCA
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.db import writer
from gtsdk.home import write_private, write_public

CODE_HOURS = 72.0
#: alphabet of one-time codes: no 0/O, 1/I/L look-alikes (they are read off a screen and typed on a kiosk)
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16


def now_naive() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class PlatformHome:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ca = FleetCA.open(path / "ca")
        key_path = path / "command-sm2.pem"
        if not key_path.exists():
            key = SM2PrivateKey.generate()
            write_private(key_path, key.to_pem())
            write_public(path / "command-sm2.pub.pem", key.public_key().to_pem())
        self.command_key: SM2PrivateKey = load_private_pem(key_path.read_bytes())

    @property
    def command_public_pem(self) -> bytes:
        return (self.path / "command-sm2.pub.pem").read_bytes()

    @property
    def command_public(self) -> SM2PublicKey:
        return self.command_key.public_key()

    def identity(self, name: str) -> Identity:
        """Key and certificate of a platform identity (``gtsdk.platform.N``), issued on first use."""
        d = self.path / "identities" / name
        ident = Identity(self.ca.cert_path, d / "cert.pem", d / "key.pem")
        if not ident.cert.exists() or not ident.key.exists():
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            key, issued = self.ca.issue_client_key(name)
            write_private(ident.key, key)
            write_public(ident.cert, issued.cert_pem)
        return ident

    def https_files(self, hosts: list[str]) -> tuple[Path, Path]:
        """(certificate, key) of the platform's HTTPS listener, issued by the fleet CA on first use."""
        d = self.path / "https"
        cert, key = d / "cert.pem", d / "key.pem"
        if not cert.exists() or not key.exists():
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            k, c = self.ca.issue_server("gtsdk.platform.https", hosts)
            write_private(key, k)
            write_public(cert, c)
        return cert, key


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


def new_code(engine: Engine, terminal_id: str, region: str, *, created_by: str, maintainer: str | None = None,
             hours: float = CODE_HOURS) -> str:
    """A one-time enrolment code for *terminal_id* in *region* (shown once; only its hash is stored)."""
    if not topics.TERMINAL_ID.match(terminal_id):
        raise GtsdkError(ErrorCode.INVALID_DATA, f"terminal id must match {topics.TERMINAL_ID.pattern}",
                         field="terminalId")
    if not topics.valid_region(region):
        raise GtsdkError(ErrorCode.INVALID_DATA, "region must be a 6-digit GB/T 2260 code", field="region")
    if not 0 < hours <= 24 * 30:
        raise GtsdkError(ErrorCode.INVALID_DATA, "validity must be within 30 days", field="hours")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = now_naive()
    with writer(engine).begin() as conn:
        conn.execute(s.enrol_codes.insert().values(code_hash=_hash(code), terminal_id=terminal_id, region=region,
                                                   maintainer=maintainer, created=now,
                                                   expires=now + timedelta(hours=hours), used=None,
                                                   created_by=created_by[:64]))
    return "-".join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))


@dataclass(frozen=True)
class Enrolment:
    terminal_id: str
    region: str
    cert_pem: bytes
    ca_pem: bytes
    command_key_pem: bytes


def sm2_proof(key: SM2PrivateKey, csr_pem: bytes) -> str:
    """The terminal's proof that it holds its SM2 key: an SM2 signature over the CSR it enrols with (base64)."""
    return base64.b64encode(key.sign(csr_pem)).decode()


def _sm2_key(pem: bytes, proof: str | None, csr_pem: bytes) -> SM2PublicKey:
    try:
        pub = load_public_pem(pem)
    except (ValueError, GtsdkError):
        raise GtsdkError(ErrorCode.INVALID_DATA, "not an SM2 public key in PEM", field="sm2PublicKey") from None
    try:
        sig = base64.b64decode(proof or "", validate=True)
    except ValueError:
        sig = b""
    if not sig or not pub.verify(sig, csr_pem):
        raise GtsdkError(ErrorCode.INVALID_DATA, "the SM2 signature over the CSR does not verify", field="sm2Proof")
    return pub


def enrol(engine: Engine, home: PlatformHome, code: str, csr_pem: bytes, *, sm2_public_pem: bytes | None = None,
          sm2_proof: str | None = None) -> Enrolment:
    """Redeem *code*: register (or re-register) the terminal and certify the CSR's key for it; with
    *sm2_public_pem* (and its proof, :func:`sm2_proof`) register the terminal's SM2 key too."""
    sm2 = _sm2_key(sm2_public_pem, sm2_proof, csr_pem) if sm2_public_pem is not None else None
    h = _hash(code)
    now = now_naive()
    with writer(engine).begin() as conn:
        row = conn.execute(select(s.enrol_codes).where(s.enrol_codes.c.code_hash == h).with_for_update()).first()
        if row is None or row.used is not None or row.expires < now:
            conn.execute(s.audit.insert().values(time=now, actor="enrolment", action="enrol.refused",
                                                 target=(row.terminal_id if row else ""), code=fe.ENROLMENT_REFUSED,
                                                 detail="unknown code" if row is None else
                                                 ("used" if row.used is not None else "expired")))
            refused = True
        else:
            refused = False
    if refused or row is None:
        raise GtsdkError(fe.ENROLMENT_REFUSED)
    issued = home.ca.issue_client(csr_pem, row.terminal_id)  # raises on a bad CSR; the code stays unused
    t = s.terminals
    with writer(engine).begin() as conn:
        claimed = conn.execute(update(s.enrol_codes).where(s.enrol_codes.c.code_hash == h,
                                                           s.enrol_codes.c.used.is_(None)).values(used=now))
        if not claimed.rowcount:  # a concurrent redemption of the same code won
            raise GtsdkError(fe.ENROLMENT_REFUSED)
        old = conn.execute(select(t.c.cert_serial).where(t.c.id == row.terminal_id)).first()
        if old is None:
            conn.execute(t.insert().values(id=row.terminal_id, region=row.region, maintainer=row.maintainer,
                                           enrolled=now, cert_serial=f"{issued.serial:x}", name="", address="",
                                           vendor="", model="", software_version="", modules={},
                                           profile_version=0, low_use_exempt=False, online=False, session=0))
        else:
            conn.execute(update(t).where(t.c.id == row.terminal_id).values(
                region=row.region, maintainer=row.maintainer, enrolled=now, cert_serial=f"{issued.serial:x}",
                revoked=None))
        # the SM2 key belongs to this enrolment: a re-enrolment without one leaves none to verify against
        conn.execute(s.terminal_keys.delete().where(s.terminal_keys.c.terminal_id == row.terminal_id))
        if sm2 is not None:
            conn.execute(s.terminal_keys.insert().values(terminal_id=row.terminal_id,
                                                         sm2_public=sm2.to_pem().decode(),
                                                         fingerprint=sm2.fingerprint()[:64], registered=now))
        conn.execute(s.audit.insert().values(time=now, actor="enrolment", action="enrol", target=row.terminal_id,
                                             code="success", detail=f"serial={issued.serial:x}"
                                             + (f" sm2={sm2.fingerprint()[:16]}" if sm2 is not None else "")))
    if old is not None and old.cert_serial:
        home.ca.revoke(int(old.cert_serial, 16), row.terminal_id)
    return Enrolment(row.terminal_id, row.region, issued.cert_pem, home.ca.cert_pem, home.command_public_pem)


def revoke(engine: Engine, home: PlatformHome, terminal_id: str, *, actor: str) -> None:
    """Revoke the terminal's certificate (CRL) and stop accepting its records at once."""
    t = s.terminals
    now = now_naive()
    with writer(engine).begin() as conn:
        row = conn.execute(select(t.c.cert_serial).where(t.c.id == terminal_id)).first()
        if row is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, f"terminal {terminal_id}")
        conn.execute(update(t).where(t.c.id == terminal_id).values(revoked=now))
        conn.execute(s.audit.insert().values(time=now, actor=actor[:64], action="revoke", target=terminal_id,
                                             code="success", detail=f"serial={row.cert_serial}"))
    if row.cert_serial:
        home.ca.revoke(int(row.cert_serial, 16), terminal_id)


def write_terminal_files(fleet_dir: Path, e: Enrolment, key_pem: bytes) -> None:
    """What a terminal keeps after enrolment, in ``<home>/fleet/`` (the key 0600)."""
    fleet_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(fleet_dir / "key.pem", key_pem)
    write_public(fleet_dir / "cert.pem", e.cert_pem)
    write_public(fleet_dir / "ca.pem", e.ca_pem)
    write_public(fleet_dir / "platform-sm2.pem", e.command_key_pem)
