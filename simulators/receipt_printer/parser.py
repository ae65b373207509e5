"""Streaming ESC/POS parser for the simulated receipt printer.

It splits a byte stream, fed in arbitrary chunks, into whole commands the way a
printer's command interpreter does: it always knows whether it is inside a
command's parameters or data, so a DLE EOT is only recognised at a command
boundary (bytes 10 04 inside raster data are data).  It never raises: bytes it
does not know become ``unknown`` commands.

Lengths follow python-escpos ``constants.py`` and the vendor manuals cited in
docs/protocols.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10

#: ESC x with this many parameter bytes
_ESC_FIXED = {
    0x40: 0, 0x32: 0, 0x3C: 0,  # @ 2 <
    0x61: 1, 0x45: 1, 0x2D: 1, 0x21: 1, 0x64: 1, 0x4A: 1, 0x74: 1, 0x4D: 1, 0x47: 1, 0x7B: 1, 0x56: 1, 0x33: 1,
    0x52: 1, 0x20: 1, 0x3D: 1, 0x72: 1, 0x55: 1, 0x41: 1, 0x2B: 1, 0x65: 1, 0x4B: 1, 0x53: 0, 0x4C: 0, 0x54: 1,
    0x63: 2, 0x24: 2, 0x5C: 2, 0x70: 3, 0x3F: 1,
}
#: GS x with this many parameter bytes
_GS_FIXED = {
    0x21: 1, 0x42: 1, 0x68: 1, 0x77: 1, 0x48: 1, 0x66: 1, 0x61: 1, 0x72: 1, 0x62: 1, 0x7C: 1, 0x2F: 1, 0x49: 1,
    0x4C: 2, 0x57: 2, 0x24: 2, 0x5C: 2, 0x50: 2, 0x3A: 0,
}
#: FS x with this many parameter bytes
_FS_FIXED = {0x26: 0, 0x2E: 0, 0x21: 1, 0x2D: 1, 0x57: 1, 0x43: 1, 0x70: 2, 0x53: 2}
#: DLE DC4 fn → parameter bytes after fn (Epson: fn1 m t, fn2 m n, fn7 m, fn8 d1..d7)
_DC4 = {1: 2, 2: 2, 7: 1, 8: 7}


@dataclass(frozen=True)
class Command:
    """One parsed command: ``name`` such as ``"ESC a"``, ``"text"``, ``"LF"``; ``raw`` its bytes."""

    name: str
    raw: bytes

    @property
    def params(self) -> bytes:
        """Bytes after the command prefix (two bytes for ESC/GS/FS/DLE commands)."""
        return self.raw[2:] if self.name not in ("text", "LF", "CR", "HT", "FF", "CAN", "unknown") else self.raw


def _name(prefix: str, b: int) -> str:
    return f"{prefix} {chr(b) if 0x21 <= b <= 0x7E else f'0x{b:02x}'}"


class EscPosParser:
    """Feed bytes, get back the commands completed so far (incomplete tails wait for more bytes)."""

    def __init__(self, max_pending: int = 4 * 1024 * 1024) -> None:
        self.buf = bytearray()
        self.max_pending = max_pending

    def feed(self, data: bytes) -> list[Command]:
        self.buf += data
        out: list[Command] = []
        i = 0
        buf = self.buf
        while i < len(buf):
            n = self._length(buf, i)
            if n is None:  # need more bytes
                if len(buf) - i > self.max_pending:  # a command claiming absurd length: drop it
                    out.append(Command("unknown", bytes(buf[i:i + 1])))
                    i += 1
                    continue
                break
            cmd = bytes(buf[i:i + n])
            out.append(Command(self._classify(cmd), cmd))
            i += n
        del buf[:i]
        return out

    # -- lengths -------------------------------------------------------------------------------
    @staticmethod
    def _classify(cmd: bytes) -> str:
        b0 = cmd[0]
        if b0 >= 0x20:
            return "text"
        if b0 == 0x0A:
            return "LF"
        if b0 == 0x0D:
            return "CR"
        if b0 == 0x09:
            return "HT"
        if b0 == 0x0C:
            return "FF"
        if b0 == 0x18:
            return "CAN"
        if len(cmd) < 2:
            return "unknown"
        prefix = {ESC: "ESC", GS: "GS", FS: "FS", DLE: "DLE"}.get(b0)
        if prefix is None:
            return "unknown"
        if b0 == DLE:
            return {0x04: "DLE EOT", 0x05: "DLE ENQ", 0x14: "DLE DC4"}.get(cmd[1], "unknown")
        table = {ESC: _ESC_FIXED, GS: _GS_FIXED, FS: _FS_FIXED}[b0]
        if cmd[1] in table or (b0 == GS and cmd[1] in b"Vk(v8*") or (b0 == ESC and cmd[1] in b"*D"):
            return _name(prefix, cmd[1])
        return "unknown"

    @staticmethod
    def _length(buf: bytearray, i: int) -> int | None:
        """Length of the command at *buf[i]*, or None while more bytes are needed."""
        b0 = buf[i]
        if b0 >= 0x20:
            j = i
            while j < len(buf) and buf[j] >= 0x20:
                j += 1
            return j - i
        if b0 not in (ESC, GS, FS, DLE):
            return 1
        if len(buf) - i < 2:
            return None
        if b0 == FS:
            return _fixed(buf, i, _FS_FIXED.get(buf[i + 1], 0))
        return {DLE: _dle_length, ESC: _esc_length, GS: _gs_length}[b0](buf, i)


# -- command lengths by prefix (buf[i] is the prefix, buf[i + 1] is there) --------------------------
def _fixed(buf: bytearray, i: int, k: int) -> int | None:
    """A command of the prefix, its code and *k* more bytes; None until they are all there."""
    return 2 + k if len(buf) - i >= 2 + k else None


def _terminated(buf: bytearray, i: int, start: int, limit: int) -> int | None:
    """A command whose data from *buf[i + start]* ends with NUL (at most *limit* bytes in all)."""
    j = i + start
    while j < len(buf) and buf[j] != 0 and j - i < limit:
        j += 1
    return (j - i + 1) if j < len(buf) else None


def _dle_length(buf: bytearray, i: int) -> int | None:
    c = buf[i + 1]
    if c in (0x04, 0x05):
        return _fixed(buf, i, 1)
    if c == 0x14:
        if len(buf) - i < 3:
            return None
        return _fixed(buf, i, 1 + _DC4.get(buf[i + 2], 2))
    return 1  # a lone DLE


def _esc_length(buf: bytearray, i: int) -> int | None:
    c = buf[i + 1]
    if c == 0x2A:  # ESC * m nL nH d…: 8-dot modes 1 byte/column, 24-dot modes 3 bytes/column
        if len(buf) - i < 5:
            return None
        m, cols = buf[i + 2], buf[i + 3] | (buf[i + 4] << 8)
        return _fixed(buf, i, 3 + cols * (3 if m in (32, 33) else 1))
    if c == 0x44:  # ESC D n1…nk NUL (tab stops, at most 32)
        return _terminated(buf, i, 2, 34)
    return _fixed(buf, i, _ESC_FIXED.get(c, 0))


def _gs_length(buf: bytearray, i: int) -> int | None:
    c, avail = buf[i + 1], len(buf) - i
    #: the bytes a variable-length GS command needs before its length is known
    header = {0x56: 3, 0x6B: 3, 0x28: 5, 0x76: 8, 0x38: 7, 0x2A: 4}.get(c, 0)
    if avail < header:
        return None
    if c == 0x56:  # GS V m [n]
        return _fixed(buf, i, 2 if buf[i + 2] in (65, 66, 97, 98, 103, 104) else 1)
    if c == 0x6B:  # GS k m …: format A (m <= 6) NUL-terminated, format B counted
        if buf[i + 2] <= 6:
            return _terminated(buf, i, 3, 260)
        return _fixed(buf, i, 2 + buf[i + 3]) if avail >= 4 else None
    if c == 0x28:  # GS ( fn pL pH data
        return _fixed(buf, i, 3 + (buf[i + 3] | (buf[i + 4] << 8)))
    if c == 0x76:  # GS v 0 m xL xH yL yH data
        x = buf[i + 4] | (buf[i + 5] << 8)
        y = buf[i + 6] | (buf[i + 7] << 8)
        return _fixed(buf, i, 6 + x * y)
    if c == 0x38:  # GS 8 L p1 p2 p3 p4 data
        return _fixed(buf, i, 5 + int.from_bytes(buf[i + 3:i + 7], "little"))
    if c == 0x2A:  # GS * x y d… (x*y*8 bytes)
        return _fixed(buf, i, 2 + buf[i + 2] * buf[i + 3] * 8)
    return _fixed(buf, i, _GS_FIXED.get(c, 0))
