"""A slow, independent SM2 reference (affine arithmetic, GB/T 32918) for the official vectors.

It exists only to reproduce the standard's examples with an injected k; gtsdk never uses it.
SM3 comes from ``hashlib`` (the platform OpenSSL), not from gtsdk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def sm3(b: bytes) -> bytes:
    return hashlib.new("sm3", b).digest()


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int


SM2P256V1 = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)

# GM/T 0003.2-2012 / GB/T 32918.2-2016 Annex A test curve (Fp-256); NOT for production.
TEST_CURVE = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
)

Point = tuple[int, int] | None


def add(c: Curve, P: Point, Q: Point) -> Point:
    if P is None:
        return Q
    if Q is None:
        return P
    x1, y1 = P
    x2, y2 = Q
    if x1 == x2 and (y1 + y2) % c.p == 0:
        return None
    lam = (3 * x1 * x1 + c.a) * pow(2 * y1, -1, c.p) % c.p if P == Q else (y2 - y1) * pow(x2 - x1, -1, c.p) % c.p
    x3 = (lam * lam - x1 - x2) % c.p
    return x3, (lam * (x1 - x3) - y1) % c.p


def mul(c: Curve, k: int, P: Point) -> Point:
    R: Point = None
    while k:
        if k & 1:
            R = add(c, R, P)
        P = add(c, P, P)
        k >>= 1
    return R


def b32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def za(c: Curve, uid: bytes, pub: tuple[int, int]) -> bytes:
    return sm3(
        (len(uid) * 8).to_bytes(2, "big") + uid + b"".join(b32(v) for v in (c.a, c.b, c.gx, c.gy, pub[0], pub[1]))
    )


def sign(c: Curve, d: int, msg: bytes, uid: bytes, k: int) -> tuple[int, int]:
    pub = mul(c, d, (c.gx, c.gy))
    assert pub is not None
    e = int.from_bytes(sm3(za(c, uid, pub) + msg), "big")
    x1 = mul(c, k, (c.gx, c.gy))
    assert x1 is not None
    r = (e + x1[0]) % c.n
    s = pow(1 + d, -1, c.n) * (k - r * d) % c.n
    return r, s


def kdf(z: bytes, klen: int) -> bytes:
    out = b""
    ct = 1
    while len(out) < klen:
        out += sm3(z + ct.to_bytes(4, "big"))
        ct += 1
    return out[:klen]


def encrypt(c: Curve, pub: tuple[int, int], msg: bytes, k: int) -> tuple[bytes, bytes, bytes]:
    """(C1 = 04‖x1‖y1, C3, C2)."""
    c1 = mul(c, k, (c.gx, c.gy))
    x2y2 = mul(c, k, pub)
    assert c1 is not None and x2y2 is not None
    t = kdf(b32(x2y2[0]) + b32(x2y2[1]), len(msg))
    c2 = bytes(a ^ b for a, b in zip(msg, t, strict=True))
    c3 = sm3(b32(x2y2[0]) + msg + b32(x2y2[1]))
    return b"\x04" + b32(c1[0]) + b32(c1[1]), c3, c2
