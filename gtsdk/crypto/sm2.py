"""SM2 keys, signatures (GB/T 32918.2) and public-key encryption (GB/T 32918.4).

Signing computes ``e = SM3(ZA ‖ M)`` with ``ZA = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)``
(GB/T 32918.2-2016); ZA is cached per key and user ID.  The default user ID
``1234567812345678`` is the one of GM/T 0009-2012.  The private-key operations run
in the configured backend (system OpenSSL by default, see :mod:`gtsdk.crypto.backend`).

Keys are PKCS#8 (private) and SubjectPublicKeyInfo (public) in DER or PEM, with
algorithm ``id-ecPublicKey`` and named curve ``1.2.156.10197.1.301`` — the form
``openssl pkey`` reads and writes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Literal

from gtsdk.crypto import _der, pkcs8
from gtsdk.crypto._errors import bad_argument, rejected
from gtsdk.crypto.backend import SM2Backend, get_backend
from gtsdk.crypto.formats import (
    GX,
    GY,
    A,
    B,
    N,
    decode_point,
    encode_point,
    parse_ciphertext,
    parse_signature,
)
from gtsdk.crypto.hashing import SM3, sm3
from gtsdk.errors import GtsdkError

DEFAULT_UID = b"1234567812345678"
MAX_UID = 8191  # ENTL is a 16-bit bit length

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2 = "1.2.156.10197.1.301"

_ZA_CACHE_MAX = 16
_CURVE_PREFIX = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))


def _uid(uid: bytes | str) -> bytes:
    b = uid.encode("utf-8") if isinstance(uid, str) else bytes(uid)
    if len(b) > MAX_UID:
        raise bad_argument("SM2 user ID is too long (at most 8191 bytes)")
    return b


def za(point: bytes, uid: bytes | str = DEFAULT_UID) -> bytes:
    """ZA for the public key ``04‖x‖y`` and user ID on the recommended curve."""
    u = _uid(uid)
    return sm3((len(u) * 8).to_bytes(2, "big") + u + _CURVE_PREFIX + point[1:])


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    body = b"".join(line + b"\n" for line in lines)
    return f"-----BEGIN {label}-----\n".encode() + body + f"-----END {label}-----\n".encode()


_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def _unpem(data: bytes, labels: tuple[str, ...]) -> tuple[str, bytes]:
    for m in _PEM_RE.finditer(data):
        label = m.group(1).decode()
        if label in labels:
            body = m.group(2)
            if b":" in body:  # "Proc-Type: 4,ENCRYPTED" — legacy encrypted PEM is not supported
                raise bad_argument("encrypted PEM keys are not supported")
            try:
                return label, base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
            except (binascii.Error, ValueError):
                raise rejected() from None
    raise rejected()


def _check_alg(t: _der.Tlv) -> None:
    """AlgorithmIdentifier: id-ecPublicKey + sm2 curve, or (GM/T 0015-2023) sm2 + optional sm2 curve."""
    items = _der.children(t, min_n=1, max_n=2)
    alg = _der.as_oid(items[0])
    param = _der.as_oid(items[1]) if len(items) == 2 else None
    if alg == OID_EC_PUBLIC_KEY and param == OID_SM2:
        return
    if alg == OID_SM2 and param in (None, OID_SM2):
        return
    raise _der.DerError("not an SM2 key")


class SM2PublicKey:
    """An SM2 public key.  Equal keys compare equal and hash alike."""

    __slots__ = ("_backend", "_handle", "_point", "_za")

    def __init__(self, point: bytes, *, _handle: object = None, _backend: SM2Backend | None = None) -> None:
        """From ``04‖x‖y`` (65 bytes) or a compressed point; it must lie on the curve."""
        x, y = decode_point(bytes(point))
        self._point = encode_point(x, y)
        self._backend = _backend or get_backend()
        if _handle is None:
            try:
                _handle = self._backend.load_public(self._point)
            except ValueError:
                raise rejected() from None
        self._handle = _handle
        self._za: dict[bytes, bytes] = {}

    # -- construction / export

    @classmethod
    def from_der(cls, der: bytes) -> SM2PublicKey:
        """SubjectPublicKeyInfo DER."""
        try:
            items = _der.children(_der.parse(der, _der.SEQUENCE), 2)
            _check_alg(_der.expect(items[0], _der.SEQUENCE))
            point = _der.as_bits(items[1])
        except _der.DerError:
            raise rejected() from None
        return cls(point)

    @classmethod
    def from_pem(cls, pem: bytes | str) -> SM2PublicKey:
        data = pem.encode() if isinstance(pem, str) else pem
        return cls.from_der(_unpem(data, ("PUBLIC KEY",))[1])

    def to_der(self) -> bytes:
        return _der.seq(_der.seq(_der.oid(OID_EC_PUBLIC_KEY), _der.oid(OID_SM2)), _der.bit_string(self._point))

    def to_pem(self) -> bytes:
        return _pem("PUBLIC KEY", self.to_der())

    @property
    def point(self) -> bytes:
        """``04‖x‖y`` (65 bytes)."""
        return self._point

    def fingerprint(self) -> str:
        """Hex SM3 of ``04‖x‖y``: a stable identifier for the key."""
        return sm3(self._point).hex()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and hmac.compare_digest(self._point, other._point)

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.fingerprint()[:16]}…)"

    # -- signatures

    def za(self, uid: bytes | str = DEFAULT_UID) -> bytes:
        """ZA for this key and user ID (cached)."""
        u = _uid(uid)
        z = self._za.get(u)
        if z is None:
            z = za(self._point, u)
            if len(self._za) >= _ZA_CACHE_MAX:
                self._za.clear()
            self._za[u] = z
        return z

    def digest(self, data: bytes, uid: bytes | str = DEFAULT_UID) -> bytes:
        """``e = SM3(ZA ‖ data)``, the value that is actually signed."""
        return SM3(self.za(uid)).update(data).digest()

    def verify(self, sig_der: bytes, data: bytes, uid: bytes | str = DEFAULT_UID) -> bool:
        """True iff *sig_der* (strict DER) is a signature of *data* by this key under *uid*."""
        return self.verify_digest(sig_der, self.digest(data, uid))

    def verify_digest(self, sig_der: bytes, e: bytes) -> bool:
        try:
            parse_signature(sig_der)
        except GtsdkError:
            return False
        if len(e) != 32:
            return False
        return self._backend.verify_digest(self._handle, e, bytes(sig_der))

    # -- encryption

    def encrypt(self, data: bytes) -> bytes:
        """SM2 encryption; DER SM2Cipher (C1C3C2).  *data* must be at least one byte."""
        if not data:
            raise bad_argument("SM2 plaintext must not be empty")
        return self._backend.encrypt(self._handle, bytes(data))


class SM2PrivateKey:
    """An SM2 private key held by the backend (the scalar is only read back for export)."""

    __slots__ = ("_backend", "_handle", "_public")

    def __init__(self, handle: object, backend: SM2Backend) -> None:
        self._handle = handle
        self._backend = backend
        self._public = SM2PublicKey(backend.public_point(handle), _handle=handle, _backend=backend)

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A fresh key from the backend's CSPRNG."""
        b = get_backend()
        return cls(b.generate(), b)

    @classmethod
    def from_bytes(cls, d: bytes) -> SM2PrivateKey:
        """From the 32-byte big-endian scalar; 1 <= d <= n-2 (GB/T 32918.1)."""
        if len(d) != 32:
            raise rejected()
        v = int.from_bytes(d, "big")
        if not 1 <= v <= N - 2:
            raise rejected()
        b = get_backend()
        try:
            return cls(b.load_private(bytes(d)), b)
        except ValueError:
            raise rejected() from None

    @classmethod
    def from_der(cls, der: bytes) -> SM2PrivateKey:
        """PKCS#8 PrivateKeyInfo or SEC1 ECPrivateKey (curve sm2p256v1) in DER."""
        try:
            top = _der.children(_der.parse(der, _der.SEQUENCE), min_n=2, max_n=5)
            if top[0].tag == _der.INTEGER and _der.as_int(top[0]) in (0, 1) and top[1].tag == _der.SEQUENCE:
                _check_alg(top[1])  # PKCS#8 (RFC 5208 / RFC 5958)
                for extra in top[3:]:
                    if extra.tag not in (0xA0, 0x81):
                        raise _der.DerError("bad PKCS#8")
                sec1 = _der.parse(_der.as_octets(top[2]), _der.SEQUENCE)
                need_curve = False
            else:
                sec1 = _der.parse(der, _der.SEQUENCE)
                need_curve = True
            d, pub = cls._parse_sec1(sec1, need_curve)
        except _der.DerError:
            raise rejected() from None
        key = cls.from_bytes(d)
        if pub is not None and not hmac.compare_digest(pub, key.public_key().point):
            raise rejected()
        return key

    @staticmethod
    def _parse_sec1(t: _der.Tlv, need_curve: bool) -> tuple[bytes, bytes | None]:
        items = _der.children(t, min_n=2, max_n=4)
        if _der.as_int(items[0]) != 1:
            raise _der.DerError("bad ECPrivateKey version")
        d = _der.as_octets(items[1])
        if not 1 <= len(d) <= 32:
            raise _der.DerError("bad private key length")
        d = d.rjust(32, b"\x00")
        pub: bytes | None = None
        seen_curve = False
        last = -1
        for opt in items[2:]:
            if opt.tag == 0xA0 and last < 0:
                if _der.as_oid(_der.parse(opt.value, _der.OID)) != OID_SM2:
                    raise _der.DerError("not the SM2 curve")
                seen_curve, last = True, 0
            elif opt.tag == 0xA1 and last < 1:
                pub = _der.as_bits(_der.parse(opt.value, _der.BIT_STRING))
                last = 1
            else:
                raise _der.DerError("bad ECPrivateKey")
        if need_curve and not seen_curve:
            raise _der.DerError("curve not stated")
        if pub is not None:
            try:
                pub = encode_point(*decode_point(pub))
            except GtsdkError:
                raise _der.DerError("bad public key") from None
        return d, pub

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | str | None = None) -> SM2PrivateKey:
        """PKCS#8, SEC1, or password-protected PKCS#8 (``ENCRYPTED PRIVATE KEY``, e.g. from GmSSL)."""
        data = pem.encode() if isinstance(pem, str) else pem
        label, der = _unpem(data, ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY", "ENCRYPTED PRIVATE KEY"))
        if label == "ENCRYPTED PRIVATE KEY":
            if password is None:
                raise bad_argument("the private key is encrypted: a password is needed")
            der = pkcs8.decrypt(der, password)
        return cls.from_der(der)

    def private_bytes(self) -> bytes:
        """The 32-byte scalar.  Handle with care."""
        return self._backend.private_scalar(self._handle)

    def to_der(self, *, curve_in_sec1: bool = False) -> bytes:
        """PKCS#8 PrivateKeyInfo, the same layout ``openssl genpkey -algorithm SM2`` writes.

        *curve_in_sec1* also states the curve inside the SEC1 structure (``[0] parameters``),
        which GmSSL 3.1 requires.
        """
        parts = [_der.integer(1), _der.octets(self.private_bytes())]
        if curve_in_sec1:
            parts.append(_der.explicit(0, _der.oid(OID_SM2)))
        parts.append(_der.explicit(1, _der.bit_string(self._public.point)))
        sec1 = _der.seq(*parts)
        return _der.seq(_der.integer(0), _der.seq(_der.oid(OID_EC_PUBLIC_KEY), _der.oid(OID_SM2)), _der.octets(sec1))

    def to_pem(self, password: bytes | str | None = None, *, prf: Literal["sm3", "sha256"] = "sm3") -> bytes:
        """PKCS#8 PEM; with *password*, ``ENCRYPTED PRIVATE KEY`` (PBES2: PBKDF2-HMAC-SM3 and SM4-CBC,
        the GmSSL form; ``prf="sha256"`` for a form OpenSSL 3.0 reads)."""
        if password is None:
            return _pem("PRIVATE KEY", self.to_der())
        inner = self.to_der(curve_in_sec1=True)
        return _pem("ENCRYPTED PRIVATE KEY", pkcs8.encrypt(inner, password, prf=prf))

    def public_key(self) -> SM2PublicKey:
        return self._public

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public.fingerprint()[:16]}…)"

    # -- operations

    def sign(self, data: bytes, uid: bytes | str = DEFAULT_UID) -> bytes:
        """DER SM2Signature of ``SM3(ZA ‖ data)``."""
        return self._backend.sign_digest(self._handle, self._public.digest(data, uid))

    def sign_digest(self, e: bytes) -> bytes:
        """DER signature of a precomputed 32-byte ``e = SM3(ZA ‖ M)``."""
        if len(e) != 32:
            raise bad_argument("SM2 digest must be 32 bytes")
        return self._backend.sign_digest(self._handle, bytes(e))

    def decrypt(self, ct_der: bytes) -> bytes:
        """Decrypt a DER SM2Cipher; any malformed or tampered input raises the one ``invalidData`` error."""
        canonical = parse_ciphertext(bytes(ct_der)).to_der()
        out = self._backend.decrypt(self._handle, canonical)
        if out is None:
            raise rejected()
        return out


def load_private_pem(data: bytes | str, password: bytes | str | None = None) -> SM2PrivateKey:
    """Read an SM2 private key from PEM: PKCS#8 (``PRIVATE KEY``), SEC1 (``EC PRIVATE KEY``,
    ``SM2 PRIVATE KEY``) or, with *password*, ``ENCRYPTED PRIVATE KEY``."""
    return SM2PrivateKey.from_pem(data, password)


def load_public_pem(data: bytes | str) -> SM2PublicKey:
    """Read a SubjectPublicKeyInfo (``PUBLIC KEY``) SM2 key from PEM text."""
    return SM2PublicKey.from_pem(data)


def load_private_der(data: bytes) -> SM2PrivateKey:
    return SM2PrivateKey.from_der(data)


def load_public_der(data: bytes) -> SM2PublicKey:
    return SM2PublicKey.from_der(data)
