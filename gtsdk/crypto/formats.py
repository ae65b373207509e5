"""SM2 wire formats: strict DER and explicit converters to the raw forms.

Canonical forms (what gtsdk emits and expects):

* signature: DER ``SM2Signature ::= SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009-2012);
* ciphertext: DER ``SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
  HASH OCTET STRING (SIZE(32)), CipherText OCTET STRING }`` (GM/T 0009-2012 §7.2), i.e. C1C3C2.

Other systems use raw concatenations: C1‖C3‖C2 (GB/T 32918.4-2016) or the older C1‖C2‖C3
(2010 draft, duanhongyi ``gmssl`` default), with C1 as ``04‖x‖y`` (65 bytes) or ``x‖y``
(64 bytes).  A raw blob cannot be told apart reliably, so the converters take the
order and the C1 form as required arguments and never guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gtsdk.crypto import _der
from gtsdk.crypto._errors import bad_argument, rejected

# Recommended curve sm2p256v1 (GB/T 32918.5-2017 / GM/T 0003.5-2012).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

Order = Literal["C1C3C2", "C1C2C3"]
HASH_SIZE = 32


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def decode_point(data: bytes) -> tuple[int, int]:
    """``04‖x‖y`` (or compressed ``02/03‖x``) → (x, y), checked to be on the curve."""
    if len(data) == 65 and data[0] == 4:
        x = int.from_bytes(data[1:33], "big")
        y = int.from_bytes(data[33:], "big")
    elif len(data) == 33 and data[0] in (2, 3):
        x = int.from_bytes(data[1:], "big")
        if x >= P:
            raise rejected()
        y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)  # p ≡ 3 (mod 4)
        if (y & 1) != (data[0] & 1):
            y = P - y
    else:
        raise rejected()
    if not on_curve(x, y):
        raise rejected()
    return x, y


def encode_point(x: int, y: int) -> bytes:
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


# ---------------------------------------------------------------------------- signatures


def parse_signature(der: bytes) -> tuple[int, int]:
    """Strict DER SM2Signature → (r, s) with 1 <= r, s <= n-1."""
    try:
        items = _der.children(_der.parse(der, _der.SEQUENCE), 2)
        r, s = _der.as_int(items[0]), _der.as_int(items[1])
    except _der.DerError:
        raise rejected() from None
    if not (1 <= r < N and 1 <= s < N):
        raise rejected()
    return r, s


def encode_signature(r: int, s: int) -> bytes:
    return _der.seq(_der.integer(r), _der.integer(s))


def signature_der_to_raw(der: bytes) -> bytes:
    """DER SM2Signature → 64-byte ``r‖s``."""
    r, s = parse_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signature_raw_to_der(raw: bytes) -> bytes:
    """64-byte ``r‖s`` → DER SM2Signature."""
    if len(raw) != 64:
        raise rejected()
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        raise rejected()
    return encode_signature(r, s)


# ---------------------------------------------------------------------------- ciphertexts


@dataclass(frozen=True, slots=True)
class SM2Ciphertext:
    """The parts of an SM2 ciphertext: C1 = (x, y), C3 = SM3(x2‖M‖y2), C2 = M xor KDF."""

    x: int
    y: int
    c3: bytes
    c2: bytes

    @property
    def c1(self) -> bytes:
        return encode_point(self.x, self.y)

    def to_der(self) -> bytes:
        return _der.seq(_der.integer(self.x), _der.integer(self.y), _der.octets(self.c3), _der.octets(self.c2))


def parse_ciphertext(der: bytes) -> SM2Ciphertext:
    """Strict DER SM2Cipher: minimal INTEGERs in [0, p), C1 on the curve, 32-byte C3, non-empty C2."""
    try:
        items = _der.children(_der.parse(der, _der.SEQUENCE), 4)
        x, y = _der.as_int(items[0]), _der.as_int(items[1])
        c3, c2 = _der.as_octets(items[2]), _der.as_octets(items[3])
    except _der.DerError:
        raise rejected() from None
    if len(c3) != HASH_SIZE or not c2 or not on_curve(x, y):
        raise rejected()
    return SM2Ciphertext(x, y, c3, c2)


def ciphertext_der_to_raw(der: bytes, *, order: Order, c1_prefix: bool) -> bytes:
    """DER SM2Cipher → raw ``C1C3C2`` or ``C1C2C3``; C1 with the ``04`` byte iff *c1_prefix*."""
    ct = parse_ciphertext(der)
    c1 = ct.c1 if c1_prefix else ct.c1[1:]
    if order == "C1C3C2":
        return c1 + ct.c3 + ct.c2
    if order == "C1C2C3":
        return c1 + ct.c2 + ct.c3
    raise bad_argument("order must be 'C1C3C2' or 'C1C2C3'")


def ciphertext_raw_to_der(raw: bytes, *, order: Order, c1_prefix: bool) -> bytes:
    """Raw ``C1C3C2``/``C1C2C3`` (C1 with or without ``04``, as stated) → DER SM2Cipher."""
    if order not in ("C1C3C2", "C1C2C3"):
        raise bad_argument("order must be 'C1C3C2' or 'C1C2C3'")
    c1_len = 65 if c1_prefix else 64
    if len(raw) <= c1_len + HASH_SIZE:
        raise rejected()
    if c1_prefix:
        if raw[0] != 4:
            raise rejected()
        c1, rest = raw[1:65], raw[65:]
    else:
        c1, rest = raw[:64], raw[64:]
    if order == "C1C3C2":
        c3, c2 = rest[:HASH_SIZE], rest[HASH_SIZE:]
    else:
        c2, c3 = rest[:-HASH_SIZE], rest[-HASH_SIZE:]
    x, y = int.from_bytes(c1[:32], "big"), int.from_bytes(c1[32:], "big")
    if not on_curve(x, y):
        raise rejected()
    return SM2Ciphertext(x, y, c3, c2).to_der()
