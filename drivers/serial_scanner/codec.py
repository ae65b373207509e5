"""Serial barcode/QR scanner wire formats (pure bytes ↔ values, no I/O).

Sources (docs/protocols.md §5.2):

- **Honeywell**: serial trigger ``SYN T CR`` = ``16 54 0D``, untrigger ``SYN U CR`` = ``16 55 0D``
  (needs manual/serial trigger mode); menu command ``16 4D 0D`` + tag(3) + subtag(3) + data +
  ``!`` (volatile) or ``.`` (non-volatile), e.g. ``\\x16M\\x0D232BAD9.`` (Honeywell N3680 guide).
  The reply echoes the command with ACK ``06`` / ENQ ``05`` / NAK ``15`` before the terminator
  (the HID-POS dumps of HenkVanAsselt/python_hon_usbhid show the same ``echo + ACK`` shape).
- **Newland** (new syntax): ``7E 01 30 30 30 30`` + storage (``@`` permanent / ``#`` temporary) +
  tag + subtag + data + ``3B 03``; reply ``02 01 30 30 30 30 … 06 3B 03`` (NLS-HR52 manual p. 35).
- **GM65-style** engines (GM65/GM861, Hamlet HBCS2D100W): ``7E 00`` + type + len + address(2, BE)
  + data + check(2), where check is CRC-CCITT (XModem: poly 0x1021, init 0) over type..data
  or ``AB CD`` = "no check": trigger ``7E 00 08 01 00 02 01 AB CD``, stop ``… 00 AB CD``,
  set 9600 ``7E 00 08 02 00 2A 39 01 A7 EA``, save ``7E 00 09 01 00 00 00 DE C8``; reply
  ``02 00 00 01 00 33 31`` (type 00 = OK, len 01, data 00, CRC over ``00 01 00``).

Decoded data follows the scanner's suffix (CR, LF, CRLF or none).  Everything a caller can
get wrong or a scanner can garble ends in :class:`~gtsdk.errors.GtsdkError` ``invalidData``.
"""

from __future__ import annotations

import binascii
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from gtsdk.errors import ErrorCode, GtsdkError

ACK, ENQ, NAK = 0x06, 0x05, 0x15
STATUS = {ACK: "ack", ENQ: "enq", NAK: "nak"}


class Dialect(StrEnum):
    HONEYWELL = "honeywell"
    NEWLAND = "newland"
    GM65 = "gm65"


Suffix = Literal["auto", "cr", "lf", "crlf", "none"]
SUFFIX_BYTES: dict[str, bytes] = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "none": b""}


@dataclass(frozen=True)
class Reply:
    """A command reply: the echoed command (when the dialect echoes it) and ack/enq/nak."""

    command: bytes
    status: str
    data: bytes = b""


def _bad(detail: str) -> GtsdkError:
    return GtsdkError(ErrorCode.INVALID_DATA, detail)


# ---- Honeywell -------------------------------------------------------------------
HONEYWELL_TRIGGER = b"\x16T\r"
HONEYWELL_UNTRIGGER = b"\x16U\r"
HONEYWELL_MENU = b"\x16M\r"
_HON_CMD = re.compile(rb"^[A-Z0-9]{3}[A-Z0-9]{3}[\x20-\x7e]*$")


def honeywell_menu(command: str, permanent: bool = False) -> bytes:
    """``SYN M CR`` + command + ``.`` (non-volatile) or ``!`` (volatile)."""
    body = command.encode("ascii", "strict") if command.isascii() else b""
    if not _HON_CMD.match(body) or body[-1:] in (b"!", b"."):
        raise _bad("Honeywell menu command must be TAG(3)+SUBTAG(3)+printable data")
    return HONEYWELL_MENU + body + (b"." if permanent else b"!")


def honeywell_reply(command: bytes, status: int = ACK, permanent: bool = False) -> bytes:
    return command + bytes([status]) + (b"." if permanent else b"!")


def parse_honeywell_menu(frame: bytes) -> tuple[bytes, bool]:
    """(command, permanent) of a ``SYN M CR`` menu frame (simulator side)."""
    if not frame.startswith(HONEYWELL_MENU) or frame[-1:] not in (b"!", b".") or len(frame) < 10:
        raise _bad("not a Honeywell menu command")
    return frame[3:-1], frame[-1:] == b"."


_HON_REPLY = re.compile(rb"[\x05\x06\x15][!.]")


def parse_honeywell_reply(frame: bytes) -> Reply:
    m = _HON_REPLY.search(frame)
    if m is None or m.end() != len(frame):
        raise _bad("not a Honeywell menu reply")
    return Reply(frame[:m.start()], STATUS[frame[m.start()]])


# ---- Newland ---------------------------------------------------------------------
NEWLAND_PREFIX = b"\x7e\x010000"
NEWLAND_REPLY_PREFIX = b"\x02\x010000"
NEWLAND_SUFFIX = b";\x03"


def newland_command(command: str, permanent: bool = False) -> bytes:
    body = command.encode("ascii", "strict") if command.isascii() else b""
    if len(body) < 6 or not all(0x20 < b < 0x7F and b != 0x3B for b in body):
        raise _bad("Newland command must be printable TAG+SUBTAG+data without ';'")
    return NEWLAND_PREFIX + (b"@" if permanent else b"#") + body + NEWLAND_SUFFIX


def parse_newland_command(frame: bytes) -> tuple[bytes, bool]:
    if not (frame.startswith(NEWLAND_PREFIX) and frame.endswith(NEWLAND_SUFFIX)) or len(frame) < 10:
        raise _bad("not a Newland command frame")
    storage = frame[6:7]
    if storage not in (b"@", b"#"):
        raise _bad("Newland storage flag must be @ or #")
    return frame[7:-2], storage == b"@"


def newland_reply(command: bytes, status: int = ACK, permanent: bool = False) -> bytes:
    return NEWLAND_REPLY_PREFIX + (b"@" if permanent else b"#") + command + bytes([status]) + NEWLAND_SUFFIX


def parse_newland_reply(frame: bytes) -> Reply:
    if not (frame.startswith(NEWLAND_REPLY_PREFIX) and frame.endswith(NEWLAND_SUFFIX)) or len(frame) < 10:
        raise _bad("not a Newland reply")
    st = frame[-3]
    if st not in STATUS:
        raise _bad("Newland reply without ACK/NAK/ENQ")
    return Reply(frame[7:-3], STATUS[st])


# ---- GM65-style ------------------------------------------------------------------
GM65_HEAD = b"\x7e\x00"
GM65_REPLY_HEAD = b"\x02\x00"
GM65_NO_CHECK = b"\xab\xcd"
GM65_READ, GM65_WRITE, GM65_SAVE = 0x07, 0x08, 0x09


def crc_ccitt(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0), as the GM65 command frames use."""
    return binascii.crc_hqx(data, 0)


def gm65_frame(kind: int, address: int, data: bytes, checksum: bool = True) -> bytes:
    if not (0 <= address <= 0xFFFF) or not 1 <= len(data) <= 255 or kind not in (GM65_READ, GM65_WRITE, GM65_SAVE):
        raise _bad("GM65 frame: bad type, address or data length")
    body = bytes([kind, len(data)]) + address.to_bytes(2, "big") + data
    check = crc_ccitt(body).to_bytes(2, "big") if checksum else GM65_NO_CHECK
    return GM65_HEAD + body + check


def parse_gm65_frame(frame: bytes) -> tuple[int, int, bytes]:
    """(type, address, data) of a host→engine frame; the check must be a valid CRC or ``AB CD``."""
    if len(frame) < 9 or not frame.startswith(GM65_HEAD):
        raise _bad("not a GM65 frame")
    n = frame[3]
    if len(frame) != 8 + n:
        raise _bad("GM65 frame length does not match its length byte")
    body, check = frame[2:6 + n], frame[6 + n:]
    if check != GM65_NO_CHECK and check != crc_ccitt(body).to_bytes(2, "big"):
        raise _bad("GM65 frame check failed")
    return frame[2], int.from_bytes(frame[4:6], "big"), frame[6:6 + n]


def gm65_frame_length(head: bytes) -> int | None:
    """Total length of a GM65 host frame from its first 4 bytes (None if fewer)."""
    return None if len(head) < 4 else 8 + head[3]


def gm65_reply(data: bytes = b"\x00", status: int = 0) -> bytes:
    body = bytes([status, len(data)]) + data
    return GM65_REPLY_HEAD + body + crc_ccitt(body).to_bytes(2, "big")


def gm65_reply_length(head: bytes) -> int | None:
    return None if len(head) < 4 else 6 + head[3]


def parse_gm65_reply(frame: bytes) -> Reply:
    if len(frame) < 6 or not frame.startswith(GM65_REPLY_HEAD) or len(frame) != 6 + frame[3]:
        raise _bad("not a GM65 reply")
    body = frame[2:-2]
    if frame[-2:] != crc_ccitt(body).to_bytes(2, "big") and frame[-2:] != GM65_NO_CHECK:
        raise _bad("GM65 reply check failed")
    return Reply(b"", "ack" if frame[2] == 0 else "nak", frame[4:-2])


GM65_TRIGGER = gm65_frame(GM65_WRITE, 0x0002, b"\x01", checksum=False)
GM65_STOP = gm65_frame(GM65_WRITE, 0x0002, b"\x00", checksum=False)
#: address 0x0000 bits 1..0: 00 manual, 01 command-triggered, 10 continuous, 11 sensing (GM65 manual, zone bits)
GM65_MODE_ADDRESS = 0x0000
GM65_MODE_BITS = {"manual": 0b00, "triggered": 0b01, "continuous": 0b10, "sensing": 0b11}


# ---- payloads --------------------------------------------------------------------
#: control characters a real code may carry: TAB, EOT/RS/GS (ISO/IEC 15434 envelopes, GS1 FNC1)
_ALLOWED_CTRL = {0x09, 0x04, 0x1D, 0x1E}
AIM_SYMBOLOGY = {"Q": "qr", "d": "datamatrix", "C": "code128", "E": "ean", "A": "code39", "L": "pdf417",
                 "I": "itf", "z": "aztec", "e": "gs1databar", "F": "codabar", "G": "code93"}


def check_payload(raw: bytes, max_len: int = 4096) -> None:
    if not raw:
        raise _bad("empty code")
    if len(raw) > max_len:
        raise _bad(f"code longer than {max_len} bytes")
    for b in raw:
        if (b < 0x20 and b not in _ALLOWED_CTRL) or b == 0x7F:
            raise _bad(f"control byte 0x{b:02X} in code data (line noise or wrong settings?)")


def decode_text(raw: bytes, encoding: str = "auto") -> tuple[str, str]:
    """(text, encoding used).  ``auto`` tries UTF-8 first (strict, so GB18030 Hanzi never pass as
    UTF-8 by accident) and then GB18030; undecodable bytes are ``invalidData``."""
    tries = ["utf-8", "gb18030"] if encoding == "auto" else [encoding]
    for enc in tries:
        try:
            return raw.decode(enc, "strict"), enc
        except (UnicodeDecodeError, LookupError):
            continue
    raise _bad(f"code is not valid {' or '.join(tries)}")


def strip_aim(raw: bytes) -> tuple[bytes, str | None]:
    """Remove an AIM symbology identifier (``]Q1`` …) and name the symbology."""
    if len(raw) >= 3 and raw[0:1] == b"]" and 0x30 <= raw[2] <= 0x39:
        return raw[3:], AIM_SYMBOLOGY.get(chr(raw[1]), f"aim:{chr(raw[1])}" if 0x20 < raw[1] < 0x7F else None)
    return raw, None


# ---- the byte stream from a scanner ------------------------------------------------
@dataclass
class Item:
    kind: Literal["code", "reply", "garbage"]
    data: bytes = b""
    reply: Reply | None = None
    reason: str = ""


@dataclass
class ScanParser:
    """Split what a scanner sends into code frames, command replies and garbage.

    With ``suffix="none"`` a code ends when the line has been idle for *gap* seconds
    (call :meth:`flush`).  ``auto`` accepts CR, LF and CRLF.  A run of *max_len* bytes
    without a terminator is reported as garbage and dropped, so the parser resynchronises.
    """

    dialect: Dialect
    suffix: Suffix = "auto"
    max_len: int = 4096
    gap: float = 0.05
    #: set while a Honeywell menu reply is due (its replies have no distinctive prefix)
    expect_reply: bool = False
    buf: bytearray = field(default_factory=bytearray)
    last_rx: float = 0.0

    def feed(self, data: bytes, now: float | None = None) -> list[Item]:
        if data:
            self.buf += data
            self.last_rx = time.monotonic() if now is None else now
        out: list[Item] = []
        while self.buf:
            item = self._one()
            if item is None:
                break
            out.append(item)
        return out

    def flush(self, now: float | None = None) -> list[Item]:
        """Frames completed by silence (suffix none) or stale partial replies."""
        now = time.monotonic() if now is None else now
        if not self.buf or now - self.last_rx < self.gap:
            return []
        out = self.feed(b"", now)
        if self.buf and self.suffix == "none" and not self._reply_start():
            out.append(self._code(bytes(self.buf)))
            self.buf.clear()
        elif self.buf and now - self.last_rx >= max(self.gap, 0.2):
            out.append(Item("garbage", bytes(self.buf), reason="incomplete frame"))
            self.buf.clear()
        return out

    def _reply_start(self) -> bool:
        b = bytes(self.buf[:6])
        if self.dialect is Dialect.GM65:
            return b.startswith(GM65_REPLY_HEAD[: len(b)]) and len(b) >= 1 and b[0] == 0x02
        if self.dialect is Dialect.NEWLAND:
            return len(b) >= 1 and b[0] == 0x02 and NEWLAND_REPLY_PREFIX.startswith(b[: len(NEWLAND_REPLY_PREFIX)])
        if not self.expect_reply:
            return False
        # a code that arrives before the reply ends with its suffix first (an echo never holds CR/LF)
        m = _HON_REPLY.search(self.buf)
        ends = [i for i in (self.buf.find(b"\r"), self.buf.find(b"\n")) if i >= 0]
        return not (ends and (m is None or min(ends) < m.start()))

    def _one(self) -> Item | None:
        buf = self.buf
        if self.suffix == "auto":  # the LF of a CRLF, or blank lines
            i = 0
            while i < len(buf) and buf[i] in (0x0D, 0x0A):
                i += 1
            del buf[:i]
            if not buf:
                return None
        if self._reply_start():
            return self._reply()
        if self.suffix == "none":
            return self._overflow()
        if self.suffix == "auto":
            idx = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
            if not idx:
                return self._overflow()
            i, n = min(idx), 1
        else:
            term = SUFFIX_BYTES[self.suffix]
            i, n = buf.find(term), len(term)
            if i < 0:
                return self._overflow()
        frame = bytes(buf[:i])
        del buf[: i + n]
        if not frame:
            return Item("garbage", b"", reason="empty frame")
        return self._code(frame)

    def _reply(self) -> Item | None:
        """The scanner's answer to a setting command, in its dialect; None until it is complete."""
        buf = self.buf
        if self.dialect is Dialect.GM65:
            n = gm65_reply_length(bytes(buf[:4]))
            if n is None or len(buf) < n:
                return None
            frame = bytes(buf[:n])
            del buf[:n]
            try:
                return Item("reply", frame, reply=parse_gm65_reply(frame))
            except GtsdkError as e:
                return Item("garbage", frame, reason=e.detail)
        if self.dialect is Dialect.NEWLAND:
            i = buf.find(NEWLAND_SUFFIX)
            if i < 0:
                return self._overflow()
            frame = bytes(buf[: i + 2])
            del buf[: i + 2]
            try:
                return Item("reply", frame, reply=parse_newland_reply(frame))
            except GtsdkError as e:
                return Item("garbage", frame, reason=e.detail)
        m = _HON_REPLY.search(buf)
        if m is None:
            return self._overflow()
        frame = bytes(buf[: m.end()])
        del buf[: m.end()]
        self.expect_reply = False
        return Item("reply", frame, reply=parse_honeywell_reply(frame))

    def _code(self, frame: bytes) -> Item:
        try:
            check_payload(frame, self.max_len)
        except GtsdkError as e:
            return Item("garbage", frame, reason=e.detail)
        return Item("code", frame)

    def _overflow(self) -> Item | None:
        if len(self.buf) > self.max_len:
            frame = bytes(self.buf)
            self.buf.clear()
            return Item("garbage", frame, reason=f"no terminator within {self.max_len} bytes")
        return None


class Deduper:
    """Drop a code seen again within *window* seconds (a code held under a continuous scanner)."""

    def __init__(self, window: float, size: int = 64) -> None:
        self.window = window
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._size = size

    def duplicate(self, raw: bytes, now: float) -> bool:
        if self.window <= 0:
            return False
        last = self._seen.get(raw)
        self._seen[raw] = now
        self._seen.move_to_end(raw)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return last is not None and now - last < self.window
