"""A small, strict DER reader and writer (ITU-T X.690 §10, distinguished rules).

Only what the SM2 formats, PKCS#8/SPKI keys and GB/T 35275 messages need:
definite minimal lengths, single-byte tags (plus context tags), minimal
INTEGERs, no trailing bytes, a size cap.  Every violation raises
:class:`DerError`; the public API turns that into one ``invalidData`` error.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LEN = 1 << 28  # 256 MiB: far beyond any envelope we produce

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
SEQUENCE = 0x30
SET = 0x31


class DerError(ValueError):
    """Malformed or non-canonical DER."""


# ---------------------------------------------------------------------------- writing


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _len(len(value)) + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """SET OF with DER ordering (elements sorted by their encodings)."""
    return tlv(SET, b"".join(sorted(items)))


def integer(v: int) -> bytes:
    if v == 0:
        return tlv(INTEGER, b"\x00")
    if v > 0:
        b = v.to_bytes(v.bit_length() // 8 + 1, "big")  # room for the sign bit
        if len(b) > 1 and b[0] == 0 and b[1] < 0x80:
            b = b[1:]
        return tlv(INTEGER, b)
    n = (v + 1).bit_length() // 8 + 1
    return tlv(INTEGER, v.to_bytes(n, "big", signed=True))


def octets(b: bytes) -> bytes:
    return tlv(OCTET_STRING, b)


def bit_string(b: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + b)


def null() -> bytes:
    return b"\x05\x00"


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] > 39):
        raise ValueError(f"bad OID {dotted}")
    arcs = [parts[0] * 40 + parts[1], *parts[2:]]
    out = bytearray()
    for a in arcs:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def explicit(n: int, inner: bytes) -> bytes:
    """[n] EXPLICIT (constructed context tag)."""
    return tlv(0xA0 | n, inner)


def implicit_prim(n: int, value: bytes) -> bytes:
    """[n] IMPLICIT on a primitive type (e.g. OCTET STRING)."""
    return tlv(0x80 | n, value)


def implicit_cons(n: int, content: bytes) -> bytes:
    """[n] IMPLICIT on a constructed type (e.g. SET OF); *content* is the inner TLVs."""
    return tlv(0xA0 | n, content)


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes
    raw: bytes  # the whole encoding (tag, length and value)


def read(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """Read one TLV at *pos*; return it and the position after it."""
    end = len(data)
    if pos + 2 > end:
        raise DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used")
    first = data[pos + 1]
    p = pos + 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        if k == 0:
            raise DerError("indefinite length")
        if k > 4 or p + k > end:
            raise DerError("bad length")
        n = int.from_bytes(data[p : p + k], "big")
        if data[p] == 0 or n < 0x80:
            raise DerError("non-minimal length")
        p += k
    if n > MAX_LEN or p + n > end:
        raise DerError("truncated")
    return Tlv(tag, data[p : p + n], data[pos : p + n]), p + n


def read_all(data: bytes) -> list[Tlv]:
    """Split *data* into consecutive TLVs (the content of a constructed value)."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        t, pos = read(data, pos)
        out.append(t)
    return out


def parse(data: bytes, tag: int) -> Tlv:
    """Exactly one TLV with *tag* and nothing after it."""
    t, end = read(data)
    if end != len(data):
        raise DerError("trailing data")
    if t.tag != tag:
        raise DerError("unexpected tag")
    return t


def children(t: Tlv, expected: int | None = None, *, min_n: int = 0, max_n: int | None = None) -> list[Tlv]:
    if not t.tag & 0x20:
        raise DerError("not constructed")
    items = read_all(t.value)
    if expected is not None and len(items) != expected:
        raise DerError("wrong number of elements")
    if len(items) < min_n or (max_n is not None and len(items) > max_n):
        raise DerError("wrong number of elements")
    return items


def expect(t: Tlv, tag: int) -> Tlv:
    if t.tag != tag:
        raise DerError("unexpected tag")
    return t


def as_int(t: Tlv, *, nonneg: bool = True) -> int:
    expect(t, INTEGER)
    v = t.value
    if not v:
        raise DerError("empty integer")
    if len(v) > 1 and ((v[0] == 0 and v[1] < 0x80) or (v[0] == 0xFF and v[1] >= 0x80)):
        raise DerError("non-minimal integer")
    if nonneg and v[0] >= 0x80:
        raise DerError("negative integer")
    return int.from_bytes(v, "big", signed=True)


def as_octets(t: Tlv) -> bytes:
    return expect(t, OCTET_STRING).value


def as_bits(t: Tlv) -> bytes:
    v = expect(t, BIT_STRING).value
    if not v or v[0] != 0:
        raise DerError("bit string with unused bits")
    return v[1:]


def as_oid(t: Tlv) -> str:
    v = expect(t, OID).value
    if not v or v[-1] & 0x80:
        raise DerError("bad OID")
    arcs: list[int] = []
    acc = 0
    start = True
    for b in v:
        if start and b == 0x80:
            raise DerError("non-minimal OID arc")
        acc = (acc << 7) | (b & 0x7F)
        start = not b & 0x80
        if start:
            arcs.append(acc)
            acc = 0
    first = arcs[0]
    head = [0, first] if first < 40 else ([1, first - 40] if first < 80 else [2, first - 80])
    return ".".join(str(a) for a in head + arcs[1:])


def as_null(t: Tlv) -> None:
    if expect(t, NULL).value:
        raise DerError("bad NULL")
