"""ICAO 9303 part 10/11 on the wire: BAC, secure messaging, BER-TLV, LDS files, SOD.

Pure bytes <-> values (no I/O).  3DES and the retail MAC come from ``cryptography``;
facts cited from ICAO Doc 9303-11 (BAC 4.3, SM 9.8, Appendix D worked example) and
9303-10 (LDS tags), as summarised in docs/protocols.md 2.3.

Errors: malformed card data raises ``GtsdkError(invalidData)``; a BAC response that does
not authenticate raises ``authenticationFailed``; a secure-messaging response whose MAC
does not verify raises ``invalidData``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from gtsdk.errors import ErrorCode, GtsdkError

LDS1_AID = bytes.fromhex("A0000002471001")
EF_COM, EF_SOD = 0x011E, 0x011D
DG_FILES = {n: 0x0100 + n for n in range(1, 17)}
#: LDS tag of each data group (9303-10 table 34); EF.COM lists these
DG_TAGS = {1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68, 9: 0x69, 10: 0x6A, 11: 0x6B,
           12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70}
TAG_DG = {v: k for k, v in DG_TAGS.items()}


def _bad(detail: str) -> GtsdkError:
    return GtsdkError(ErrorCode.INVALID_DATA, detail)


# ---- primitives -----------------------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2."""
    return data + b"\x80" + b"\x00" * ((8 - (len(data) + 1) % 8) % 8)


def unpad(data: bytes) -> bytes:
    i = data.rstrip(b"\x00")
    if not i or i[-1] != 0x80:
        raise _bad("bad ISO 9797-1 padding")
    return i[:-1]


def _des(key: bytes, mode: modes.Mode) -> Cipher:  # type: ignore[type-arg]
    # single DES as K1=K2=K3, 2-key 3DES as K1 K2 K1 (24-byte keys: the forms cryptography keeps supporting)
    full = key * 3 if len(key) == 8 else key + key[:8] if len(key) == 16 else key
    return Cipher(TripleDES(full), mode)


def tdes_enc(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    e = _des(key, modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def tdes_dec(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    if len(data) % 8:
        raise _bad("cipher text is not a multiple of 8 bytes")
    d = _des(key, modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES (K1 CBC over all blocks, then D(K2), E(K1)); data already padded."""
    k1, k2 = key[:8], key[8:16]
    h = tdes_enc(k1, data)[-8:]
    d = _des(k2, modes.ECB()).decryptor()
    h = d.update(h) + d.finalize()
    e = _des(k1, modes.ECB()).encryptor()
    return e.update(h) + e.finalize()


def kdf(seed: bytes, counter: int) -> bytes:
    """9303-11 9.7.1: SHA-1(seed || counter)[0:16] -> 2-key 3DES (parity bits are ignored by DES)."""
    return hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16]


def bac_keys(mrz_information: str) -> tuple[bytes, bytes]:
    seed = hashlib.sha1(mrz_information.encode("ascii")).digest()[:16]
    return kdf(seed, 1), kdf(seed, 2)


# ---- BAC ---------------------------------------------------------------------------------------------


@dataclass
class BacSession:
    """Host side of BAC (9303-11 4.3): build EXTERNAL AUTHENTICATE data, check the answer, derive keys."""

    k_enc: bytes
    k_mac: bytes
    rnd_ifd: bytes = field(default_factory=lambda: os.urandom(8))
    k_ifd: bytes = field(default_factory=lambda: os.urandom(16))
    rnd_ic: bytes = b""

    def authenticate_data(self, rnd_ic: bytes) -> bytes:
        if len(rnd_ic) != 8:
            raise _bad("GET CHALLENGE did not return 8 bytes")
        self.rnd_ic = rnd_ic
        e_ifd = tdes_enc(self.k_enc, self.rnd_ifd + rnd_ic + self.k_ifd)
        return e_ifd + retail_mac(self.k_mac, pad(e_ifd))

    def finish(self, resp: bytes) -> SecureMessaging:
        if len(resp) != 40 or retail_mac(self.k_mac, pad(resp[:32])) != resp[32:]:
            raise GtsdkError(ErrorCode.AUTHENTICATION_FAILED, "the chip's BAC answer does not authenticate")
        plain = tdes_dec(self.k_enc, resp[:32])
        if plain[:8] != self.rnd_ic or plain[8:16] != self.rnd_ifd:
            raise GtsdkError(ErrorCode.AUTHENTICATION_FAILED, "the chip's BAC answer holds the wrong nonces")
        seed = bytes(a ^ b for a, b in zip(self.k_ifd, plain[16:32], strict=True))
        ssc = int.from_bytes(self.rnd_ic[-4:] + self.rnd_ifd[-4:], "big")
        return SecureMessaging(kdf(seed, 1), kdf(seed, 2), ssc)


# ---- secure messaging ---------------------------------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82]) + n.to_bytes(2, "big")


@dataclass
class SecureMessaging:
    """9303-11 9.8 with 3DES: DO'87' (padding-indicator 01 + cipher text), DO'97' (Le), DO'8E' (MAC over SSC)."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: int

    def _ssc(self) -> bytes:
        self.ssc = (self.ssc + 1) % (1 << 64)
        return self.ssc.to_bytes(8, "big")

    def protect(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
        hdr = bytes([cla | 0x0C, ins, p1, p2])
        do87 = b""
        if data:
            c = b"\x01" + tdes_enc(self.ks_enc, pad(data))
            do87 = b"\x87" + _len(len(c)) + c
        do97 = b"\x97\x01" + bytes([le & 0xFF]) if le is not None else b""
        mac = retail_mac(self.ks_mac, pad(self._ssc() + pad(hdr) + do87 + do97))
        body = do87 + do97 + b"\x8e\x08" + mac
        return hdr + bytes([len(body)]) + body + b"\x00"

    def unprotect(self, resp: bytes) -> tuple[bytes, int]:
        """R-APDU data (without SW) -> (plain data, SW from DO'99'); MAC failure -> invalidData."""
        ssc = self._ssc()
        objs: dict[int, bytes] = {}
        raw: dict[int, bytes] = {}
        i = 0
        try:
            while i < len(resp):
                tag, val, nxt = read_tlv(resp, i)
                objs[tag], raw[tag] = val, resp[i:nxt]
                i = nxt
        except GtsdkError:
            raise _bad("secure messaging response is not TLV") from None
        if 0x8E not in objs or 0x99 not in objs:
            raise _bad("secure messaging response lacks DO'8E' or DO'99'")
        mac_input = raw.get(0x87, b"") + raw[0x99]
        if retail_mac(self.ks_mac, pad(ssc + mac_input)) != objs[0x8E]:
            raise _bad("secure messaging MAC does not verify")
        sw = int.from_bytes(objs[0x99], "big")
        data = b""
        if 0x87 in objs:
            c = objs[0x87]
            if not c or c[0] != 1:
                raise _bad("unexpected padding indicator in DO'87'")
            data = unpad(tdes_dec(self.ks_enc, c[1:]))
        return data, sw


# ---- BER-TLV ------------------------------------------------------------------------------------------


def read_tlv(buf: bytes, i: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, offset after) of the TLV at *i*; multi-byte tags and 81/82/83 lengths."""
    try:
        tag = buf[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                b = buf[i]
                tag = (tag << 8) | b
                i += 1
                if not b & 0x80:
                    break
                if tag > 0xFFFFFF:
                    raise _bad("TLV tag too long")
        n = buf[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 3:
                raise _bad("unsupported TLV length form")
            if i + k > len(buf):
                raise _bad("truncated TLV length")
            n = int.from_bytes(buf[i:i + k], "big")
            i += k
    except IndexError:
        raise _bad("truncated TLV") from None
    if i + n > len(buf):
        raise _bad("truncated TLV value")
    return tag, bytes(buf[i:i + n]), i + n


def tlv_length(header: bytes) -> int:
    """Total file length from the first bytes of an LDS file (tag + length)."""
    try:
        i = 1 if header[0] & 0x1F != 0x1F else 2
        n = header[i]
        if n < 0x80:
            return i + 1 + n
        k = n & 0x7F
        if k == 0 or k > 3 or len(header) < i + 1 + k:
            raise _bad("unsupported LDS file length")
        return i + 1 + k + int.from_bytes(header[i + 1:i + 1 + k], "big")
    except IndexError:
        raise _bad("LDS file header too short") from None


def children(value: bytes) -> list[tuple[int, bytes]]:
    out = []
    i = 0
    while i < len(value):
        if value[i] in (0x00, 0xFF):  # padding between objects
            i += 1
            continue
        t, v, i = read_tlv(value, i)
        out.append((t, v))
    return out


def find(value: bytes, path: list[int]) -> bytes:
    cur = value
    for tag in path:
        for t, v in children(cur):
            if t == tag:
                cur = v
                break
        else:
            raise _bad(f"LDS object {tag:X} not found")
    return cur


def tlv(tag: int, value: bytes) -> bytes:
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return t + _len(len(value)) + value


# ---- LDS files ----------------------------------------------------------------------------------------


def parse_com(data: bytes) -> list[int]:
    """EF.COM (tag 60) -> data group numbers listed in its tag list 5C."""
    tag, val, _ = read_tlv(data)
    if tag != 0x60:
        raise _bad("EF.COM does not start with tag 60")
    tags = find(val, [0x5C])
    return sorted(TAG_DG[t] for t in tags if t in TAG_DG)


def parse_dg1(data: bytes) -> str:
    tag, val, _ = read_tlv(data)
    if tag != 0x61:
        raise _bad("DG1 does not start with tag 61")
    try:
        return find(val, [0x5F1F]).decode("ascii")
    except UnicodeDecodeError:
        raise _bad("DG1 MRZ is not ASCII") from None


JP2_SIGNATURE = bytes.fromhex("0000000C6A5020200D0A870A")
J2K_CODESTREAM = bytes.fromhex("FF4FFF51")


@dataclass(frozen=True)
class FaceImage:
    data: bytes
    format: str  # "jpeg" | "jpeg2000"
    width: int = 0
    height: int = 0


def parse_dg2(data: bytes) -> FaceImage:
    """DG2 (tag 75) -> the first face image of its ISO/IEC 19794-5 record."""
    tag, val, _ = read_tlv(data)
    if tag != 0x75:
        raise _bad("DG2 does not start with tag 75")
    group = find(val, [0x7F61])
    for t, v in children(group):
        if t == 0x7F60:
            for t2, block in children(v):
                if t2 in (0x5F2E, 0x7F2E):
                    return parse_fac(block)
    raise _bad("DG2 holds no biometric data block")


def parse_fac(block: bytes) -> FaceImage:
    """ISO/IEC 19794-5:2005 record: 'FAC\\0' header (14 B), facial record header (20 B), feature points
    (8 B each), image information (12 B: type, data type 0 JPEG / 1 JPEG 2000, width, height, ...), image."""
    if block[:4] == b"FAC\x00" and len(block) >= 46:
        nfp = int.from_bytes(block[18:20], "big")
        info = 14 + 20 + 8 * nfp
        if len(block) >= info + 12:
            kind = block[info + 1]
            w, h = int.from_bytes(block[info + 2:info + 4], "big"), int.from_bytes(block[info + 4:info + 6], "big")
            img = block[info + 12:]
            fmt = "jpeg2000" if kind == 1 else "jpeg"
            if img:
                return FaceImage(img, fmt, w, h)
    for sig, fmt in ((b"\xff\xd8\xff", "jpeg"), (JP2_SIGNATURE, "jpeg2000"), (J2K_CODESTREAM, "jpeg2000")):
        i = block.find(sig)
        if i >= 0:
            return FaceImage(block[i:], fmt)
    raise _bad("no JPEG or JPEG 2000 image in the face record")


def build_fac(image: bytes, fmt: str, width: int, height: int) -> bytes:
    """Inverse of :func:`parse_fac` (simulator and tests)."""
    img_info = bytes([1, 1 if fmt == "jpeg2000" else 0]) + width.to_bytes(2, "big") + height.to_bytes(2, "big") \
        + bytes([1, 2]) + bytes(2) + bytes(2)
    record_len = 20 + len(img_info) + len(image)
    rec = record_len.to_bytes(4, "big") + bytes(2) + bytes([0, 0xFF, 0xFF]) + bytes(3) + bytes(2) + bytes(3) \
        + bytes(3)
    total = 14 + record_len
    header = b"FAC\x00" + b"010\x00" + total.to_bytes(4, "big") + (1).to_bytes(2, "big")
    return header + rec + img_info + image


def build_dg2(image: bytes, fmt: str, width: int, height: int) -> bytes:
    bht = tlv(0x80, b"\x01\x01") + tlv(0x87, b"\x01\x01") + tlv(0x88, b"\x00\x08")
    bit = tlv(0x7F60, tlv(0xA1, bht) + tlv(0x5F2E, build_fac(image, fmt, width, height)))
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + bit))


def build_dg1(mrz_text: str) -> bytes:
    return tlv(0x61, tlv(0x5F1F, mrz_text.replace("\n", "").encode("ascii")))


def build_com(dgs: list[int]) -> bytes:
    return tlv(0x60, tlv(0x5F01, b"0107") + tlv(0x5F36, b"040000") + tlv(0x5C, bytes(DG_TAGS[d] for d in dgs)))
