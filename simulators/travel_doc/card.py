"""A small ICAO 9303 eMRTD chip: LDS1 application, BAC and 3DES secure messaging (9303-11),
answering raw C-APDUs.  Its crypto uses PyCryptodome, not the driver's code, so the two
sides only agree if both follow the specification."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field

from Cryptodome.Cipher import DES, DES3

from gtsdk.simulators._history import History

LDS1_AID = bytes.fromhex("A0000002471001")
SW_OK = b"\x90\x00"
SW_SEC = b"\x69\x82"  # security status not satisfied
SW_SM_BAD = b"\x69\x88"  # incorrect SM data objects
SW_AUTH_FAIL = b"\x63\x00"
SW_NOT_FOUND = b"\x6a\x82"
SW_INS = b"\x6d\x00"
SW_WRONG_P = b"\x6b\x00"
SW_COND = b"\x69\x85"


def _pad(b: bytes) -> bytes:
    return b + b"\x80" + b"\x00" * ((8 - (len(b) + 1) % 8) % 8)


def _unpad(b: bytes) -> bytes:
    s = b.rstrip(b"\x00")
    return s[:-1] if s.endswith(b"\x80") else b


def _k3(k: bytes) -> bytes:
    return k + k[:8]


def _mac(k: bytes, data: bytes) -> bytes:
    y = DES.new(k[:8], DES.MODE_CBC, bytes(8)).encrypt(data)[-8:]
    return DES.new(k[:8], DES.MODE_ECB).encrypt(DES.new(k[8:16], DES.MODE_ECB).decrypt(y))


def _enc(k: bytes, d: bytes) -> bytes:
    return DES3.new(_k3(k), DES3.MODE_CBC, bytes(8)).encrypt(d)


def _dec(k: bytes, d: bytes) -> bytes:
    return DES3.new(_k3(k), DES3.MODE_CBC, bytes(8)).decrypt(d)


def _kdf(seed: bytes, c: int) -> bytes:
    return hashlib.sha1(seed + c.to_bytes(4, "big")).digest()[:16]


def _tlvs(b: bytes) -> dict[int, tuple[bytes, bytes]]:
    out: dict[int, tuple[bytes, bytes]] = {}
    i = 0
    while i < len(b):
        t = b[i]
        n = b[i + 1]
        j = i + 2
        if n == 0x81:
            n, j = b[i + 2], i + 3
        elif n == 0x82:
            n, j = int.from_bytes(b[i + 2:i + 4], "big"), i + 4
        out[t] = (b[j:j + n], b[i:j + n])
        i = j + n
    return out


@dataclass
class IcaoChip:
    mrz_information: str
    files: dict[int, bytes]
    #: fault knobs
    corrupt_next_mac: bool = False
    apdus: int = 0
    log: History[str] = field(default_factory=History)

    def __post_init__(self) -> None:
        seed = hashlib.sha1(self.mrz_information.encode()).digest()[:16]
        self.k_enc, self.k_mac = _kdf(seed, 1), _kdf(seed, 2)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.app = False
        self.rnd_ic: bytes | None = None
        self.ks_enc = self.ks_mac = b""
        self.ssc = 0
        self.sm = False
        self.ef: int | None = None

    # ---- APDU dispatch -------------------------------------------------------------------
    def handle(self, apdu: bytes) -> bytes:
        with self._lock:
            self.apdus += 1
            if len(apdu) < 4:
                return b"\x67\x00"
            cla, ins = apdu[0], apdu[1]
            self.log.append(f"{cla:02X}{ins:02X}")
            if cla & 0x0C == 0x0C:
                return self._secure(apdu)
            if self.sm and ins in (0xA4, 0xB0):  # plain access after BAC ends the session (9303-11 9.8.4)
                self.reset()
                self.app = True
            if ins == 0xA4:
                return self._select(apdu[2], apdu[5:5 + apdu[4]] if len(apdu) > 5 else b"")
            if ins == 0x84:
                if not self.app:
                    return SW_COND
                self.rnd_ic = os.urandom(8)
                return self.rnd_ic + SW_OK
            if ins == 0x82:
                return self._mutual_auth(apdu[5:5 + apdu[4]] if len(apdu) > 5 else b"")
            if ins == 0xB0:
                return SW_SEC
            return SW_INS

    def _select(self, p1: int, data: bytes) -> bytes:
        if p1 == 0x04:
            if data == LDS1_AID:
                self.reset()
                self.app = True
                return SW_OK
            return SW_NOT_FOUND
        if p1 == 0x02:
            return SW_SEC  # EFs need BAC
        return SW_WRONG_P

    def _mutual_auth(self, data: bytes) -> bytes:
        if self.rnd_ic is None or len(data) != 40:
            return SW_COND
        e, m = data[:32], data[32:]
        if _mac(self.k_mac, _pad(e)) != m:
            self.rnd_ic = None
            return SW_AUTH_FAIL
        s = _dec(self.k_enc, e)
        rnd_ifd, rnd_ic, k_ifd = s[:8], s[8:16], s[16:32]
        if rnd_ic != self.rnd_ic:
            self.rnd_ic = None
            return SW_AUTH_FAIL
        k_ic = os.urandom(16)
        r = _enc(self.k_enc, rnd_ic + rnd_ifd + k_ic)
        seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
        self.ks_enc, self.ks_mac = _kdf(seed, 1), _kdf(seed, 2)
        self.ssc = int.from_bytes(rnd_ic[-4:] + rnd_ifd[-4:], "big")
        self.sm = True
        self.rnd_ic = None
        return r + _mac(self.k_mac, _pad(r)) + SW_OK

    # ---- secure messaging ----------------------------------------------------------------
    def _secure(self, apdu: bytes) -> bytes:
        if not self.sm:
            return SW_SM_BAD
        hdr = apdu[:4]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        try:
            objs = _tlvs(body)
        except IndexError:
            self.reset()
            return SW_SM_BAD
        self.ssc += 1
        mac_in = self.ssc.to_bytes(8, "big") + _pad(hdr) + objs.get(0x87, (b"", b""))[1] + objs.get(0x97, (b"", b""))[1]
        if 0x8E not in objs or _mac(self.ks_mac, _pad(mac_in)) != objs[0x8E][0]:
            self.reset()
            return SW_SM_BAD
        data = b""
        if 0x87 in objs:
            data = _unpad(_dec(self.ks_enc, objs[0x87][0][1:]))
        le = objs[0x97][0][0] if 0x97 in objs else None
        ins = hdr[1]
        out, sw = b"", SW_OK
        if ins == 0xA4 and hdr[2] == 0x02:
            fid = int.from_bytes(data, "big")
            if fid in self.files:
                self.ef = fid
            else:
                sw = SW_NOT_FOUND
        elif ins == 0xB0:
            if self.ef is None:
                sw = b"\x69\x86"
            else:
                off = int.from_bytes(hdr[2:4], "big") & 0x7FFF
                f = self.files[self.ef]
                if off > len(f):
                    sw = SW_WRONG_P
                else:
                    out = f[off:off + (le or 256)]
        else:
            sw = SW_INS
        return self._wrap(out, sw)

    def _wrap(self, out: bytes, sw: bytes) -> bytes:
        self.ssc += 1
        do87 = b""
        if out:
            c = b"\x01" + _enc(self.ks_enc, _pad(out))
            n = len(c)
            do87 = b"\x87" + (bytes([n]) if n < 0x80 else bytes([0x81, n])) + c
        do99 = b"\x99\x02" + sw
        mac = _mac(self.ks_mac, _pad(self.ssc.to_bytes(8, "big") + do87 + do99))
        if self.corrupt_next_mac:
            self.corrupt_next_mac = False
            mac = bytes([mac[0] ^ 0x01]) + mac[1:]
        return do87 + do99 + b"\x8e\x08" + mac + SW_OK
