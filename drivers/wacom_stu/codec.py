"""Wire codec of Wacom STU signature pads (USB HID) and the ISO/IEC 19794-7 encoder (pure, no I/O).

Report layouts (docs/protocols.md §6.2; pabloko/Wacom-STU-WebHID ``wacomstu540.js``; DennisWacom/InkPlatform
``STU430.cs``).  Byte offsets below count the report id as byte 0, as pyusb sees HID reports.

* Input 0x01 pen data: flags/pressure (2 bytes), x u16 BE, y u16 BE.  Input 0x34 (writing mode 1)
  adds time u16 BE (ms, wraps) and sequence u16 BE.
* Feature 0x08 information: model string (7 bytes), firmware (4 bytes); 0x09 capability: tablet max x,
  max y, max pressure, screen width, screen height (u16 BE each), report rate (u8); 0x0F serial.
* Feature (set) 0x20 clear screen, 0x21 inking on/off, 0x0E writing mode, 0x25/0x26/0x27 image
  start / data (u16 LE length + ≤ 253 bytes) / end, 0x2A writing area (4 × u16, little-endian as the
  WebHID driver writes it: the one public source disagrees with its own big-endian reads, see
  docs/protocols.md §7 item 8).

Pen flags: the WebHID code tests bit 0 (in proximity) and bit 1 (tip) of the first byte while also
taking the low nibble of that byte as the top of the 12-bit pressure — the two overlap.  We read the
flags from the high nibble (bit 7 proximity, bits 4-6 tip switch) and the pressure from the low
nibble + next byte, which keeps 12-bit pressure intact; ``PEN_FLAGS`` documents the choice.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gtsdk.errors import ErrorCode, GtsdkError

VENDOR_ID = 0x056A
#: product id → (model, active area mm (w, h)); InkPlatform / WebHID; areas from Wacom data sheets
MODELS: dict[int, tuple[str, tuple[float, float]]] = {
    0x00A4: ("STU-430", (96.0, 60.0)),
    0x0098: ("STU-530", (108.0, 64.8)),
    0x00A8: ("STU-540", (108.0, 64.8)),
}

PEN_DATA = 0x01
PEN_DATA_TIMED = 0x34
INFORMATION = 0x08
CAPABILITY = 0x09
WRITING_MODE = 0x0E
SERIAL = 0x0F
CLEAR_SCREEN = 0x20
INKING = 0x21
IMAGE_START = 0x25
IMAGE_DATA = 0x26
IMAGE_END = 0x27
WRITING_AREA = 0x2A
BRIGHTNESS = 0x2B
PEN_COLOR_WIDTH = 0x2D
BACKGROUND = 0x2E
IMAGE_CHUNK = 253
IMAGE_BGR24 = 0x04

PEN_FLAGS = {"proximity": 0x80, "tip": 0x70}

#: HID class requests (HID 1.11 §7.2): GET_REPORT / SET_REPORT, report type 3 = feature
HID_GET_REPORT = 0x01
HID_SET_REPORT = 0x09
FEATURE = 3


class ReportError(GtsdkError):
    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.COMMUNICATION_ERROR, detail)


@dataclass(frozen=True)
class PenSample:
    proximity: bool
    tip: bool
    pressure: int
    x: int
    y: int
    time: int | None = None  # ms (u16, wraps) when the pad reports it
    seq: int | None = None


def encode_pen(s: PenSample) -> bytes:
    flags = (PEN_FLAGS["proximity"] if s.proximity else 0) | (0x10 if s.tip else 0)
    body = bytes([flags | ((s.pressure >> 8) & 0x0F), s.pressure & 0xFF]) + struct.pack(">HH", s.x, s.y)
    if s.time is None:
        return bytes([PEN_DATA]) + body
    return bytes([PEN_DATA_TIMED]) + body + struct.pack(">HH", s.time & 0xFFFF, (s.seq or 0) & 0xFFFF)


def decode_pen(report: bytes) -> PenSample | None:
    """A pen sample from an input report; None for report ids that are not pen data."""
    if not report:
        raise ReportError("empty input report")
    rid = report[0]
    if rid not in (PEN_DATA, PEN_DATA_TIMED):
        return None
    need = 7 if rid == PEN_DATA else 11
    if len(report) < need:
        raise ReportError(f"pen report 0x{rid:02X} is {len(report)} bytes, needs {need}")
    b0, b1 = report[1], report[2]
    x, y = struct.unpack(">HH", report[3:7])
    t = seq = None
    if rid == PEN_DATA_TIMED:
        t, seq = struct.unpack(">HH", report[7:11])
    return PenSample(bool(b0 & PEN_FLAGS["proximity"]), bool(b0 & PEN_FLAGS["tip"]), ((b0 & 0x0F) << 8) | b1, x, y,
                     t, seq)


@dataclass(frozen=True)
class Capability:
    tablet_max_x: int
    tablet_max_y: int
    max_pressure: int
    screen_width: int
    screen_height: int
    report_rate: int

    def encode(self) -> bytes:
        return struct.pack(">BHHHHHB", CAPABILITY, self.tablet_max_x, self.tablet_max_y, self.max_pressure,
                           self.screen_width, self.screen_height, self.report_rate)


def decode_capability(report: bytes) -> Capability:
    if len(report) < 12 or report[0] != CAPABILITY:
        raise ReportError("capability report too short or wrong id")
    mx, my, mp, w, h = struct.unpack(">HHHHH", report[1:11])
    if not (mx and my and w and h):
        raise ReportError("capability report has zero sizes")
    return Capability(mx, my, mp, w, h, report[11])


@dataclass(frozen=True)
class Information:
    model: str
    firmware: str

    def encode(self) -> bytes:
        return bytes([INFORMATION]) + self.model.encode("ascii")[:7].ljust(7, b"\0") + bytes(
            int(p) & 0xFF for p in (self.firmware.split(".") + ["0"] * 4)[:4])


def decode_information(report: bytes) -> Information:
    if len(report) < 12 or report[0] != INFORMATION:
        raise ReportError("information report too short or wrong id")
    model = report[1:8].split(b"\0", 1)[0].decode("ascii", "replace")
    return Information(model, ".".join(str(b) for b in report[8:12]))


def decode_serial(report: bytes) -> str:
    if not report or report[0] != SERIAL:
        raise ReportError("serial report wrong id")
    return report[1:].split(b"\0", 1)[0].decode("ascii", "replace")


# ---- host → pad feature reports ---------------------------------------------------------------

def clear_screen() -> bytes:
    return bytes([CLEAR_SCREEN, 0])


def inking(on: bool) -> bytes:
    return bytes([INKING, 1 if on else 0])


def writing_mode(mode: int) -> bytes:
    return bytes([WRITING_MODE, mode])


def writing_area(x1: int, y1: int, x2: int, y2: int) -> bytes:
    return bytes([WRITING_AREA]) + struct.pack("<HHHH", x1, y1, x2, y2)


def decode_writing_area(report: bytes) -> tuple[int, int, int, int]:
    if len(report) < 9 or report[0] != WRITING_AREA:
        raise ReportError("writing area report too short or wrong id")
    a: tuple[int, int, int, int] = struct.unpack("<HHHH", report[1:9])
    return a


def image_reports(bgr: bytes, fmt: int = IMAGE_BGR24) -> Iterator[bytes]:
    """Start, data chunks (u16 LE length + data) and end reports of an image upload."""
    yield bytes([IMAGE_START, fmt])
    for i in range(0, len(bgr), IMAGE_CHUNK):
        chunk = bgr[i:i + IMAGE_CHUNK]
        yield bytes([IMAGE_DATA]) + struct.pack("<H", len(chunk)) + chunk
    yield bytes([IMAGE_END, 0])


def decode_image_data(report: bytes) -> bytes:
    if len(report) < 3 or report[0] != IMAGE_DATA:
        raise ReportError("image data report wrong id")
    (n,) = struct.unpack("<H", report[1:3])
    if n > IMAGE_CHUNK or len(report) < 3 + n:
        raise ReportError("image data length out of range")
    return report[3:3 + n]


# ---- ISO/IEC 19794-7 (2007 edition layout as in biosignin/bsi-core, "full format") -----------

ISO7_FORMAT = b"SDI\x00"
ISO7_VERSION = b" 10\x00"
CH_X, CH_Y, CH_T, CH_F, CH_S = 15, 14, 8, 6, 5
_SIGNED = {15, 14, 13, 12, 11, 10, 9, 4, 3}  # X, Y, VX, VY, AX, AY, TX, TY: stored value − (−32768)
ATTR_SCALING, ATTR_MIN, ATTR_MAX = 7, 6, 5


@dataclass(frozen=True)
class IsoPoint:
    x: int
    y: int
    t: int  # ms since the first point
    f: int  # pressure
    s: int  # tip switch 0/1


def encode_scaling(value: float) -> int:
    """u16: 5-bit exponent (+16) and 11-bit fraction of a value > 0 (bsi-core ChannelDescription)."""
    if value <= 0:
        raise ValueError("scaling must be positive")
    e = math.floor(math.log2(value))
    frac = round((value / 2.0**e - 1.0) * 2048)
    if frac == 2048:
        e, frac = e + 1, 0
    if not -16 <= e <= 15:
        raise ValueError("scaling out of range")
    return ((e + 16) << 11) | (frac & 0x7FF)


def decode_scaling(v: int) -> float:
    return (1.0 + (v & 0x7FF) / 2048.0) * 2.0 ** (((v >> 11) & 0x1F) - 16)


def encode_iso7(points: Sequence[IsoPoint], *, x_per_mm: float, y_per_mm: float, max_pressure: int) -> bytes:
    """Header (channels X, Y, T, F, S with scaling/min/max) + body (no extended data)."""
    def desc(attrs: dict[int, int]) -> bytes:
        incl = 0
        for bit in attrs:
            incl |= 1 << bit
        return bytes([incl]) + b"".join(struct.pack(">H", attrs[b] & 0xFFFF) for b in sorted(attrs, reverse=True))

    channels = {
        CH_X: desc({ATTR_SCALING: encode_scaling(x_per_mm)}),
        CH_Y: desc({ATTR_SCALING: encode_scaling(y_per_mm)}),
        CH_T: desc({ATTR_SCALING: encode_scaling(1000.0)}),  # units per second: ms
        CH_F: desc({ATTR_MIN: 0, ATTR_MAX: max_pressure}),
        CH_S: desc({}),
    }
    incl = 0
    for ch in channels:
        incl |= 1 << ch
    head = ISO7_FORMAT + ISO7_VERSION + struct.pack(">H", incl)
    head += b"".join(channels[ch] for ch in sorted(channels, reverse=True)) + b"\x00"
    if len(points) >= 1 << 24:
        raise GtsdkError(ErrorCode.INVALID_DATA, "too many points for one record")
    body = bytearray(b"\x00" + len(points).to_bytes(3, "big"))
    for p in points:
        for ch, v in ((CH_X, p.x), (CH_Y, p.y), (CH_T, p.t), (CH_F, p.f), (CH_S, p.s)):
            stored = v + 32768 if ch in _SIGNED else v
            if not 0 <= stored <= 0xFFFF:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"channel {ch} value out of range")
            body += struct.pack(">H", stored)
    return bytes(head + body)


@dataclass(frozen=True)
class Iso7Record:
    channels: list[int]
    attributes: dict[int, dict[int, float]]
    points: list[dict[int, int]]


def decode_iso7(data: bytes) -> Iso7Record:
    """Parse a record written by :func:`encode_iso7` (or any 2007-layout record without extended data
    attributes we do not know); ``invalidData`` on malformed input."""
    try:
        if data[:4] != ISO7_FORMAT or data[4:8] != ISO7_VERSION:
            raise ValueError("not an ISO/IEC 19794-7 (2007 layout) record")
        (incl,) = struct.unpack(">H", data[8:10])
        chans = [b for b in range(15, -1, -1) if incl & (1 << b)]
        off = 10
        attrs: dict[int, dict[int, float]] = {}
        for ch in chans:
            ai = data[off]
            off += 1
            a: dict[int, float] = {}
            for bit in range(7, -1, -1):
                if ai & (1 << bit):
                    (v,) = struct.unpack(">H", data[off:off + 2])
                    off += 2
                    a[bit] = decode_scaling(v) if bit == ATTR_SCALING else float(v)
            attrs[ch] = a
        off += 1  # reserved
        if off + 4 > len(data):
            raise ValueError("truncated")
        ext = data[off]
        n = int.from_bytes(data[off + 1:off + 4], "big")
        off += 4
        if off + n * 2 * len(chans) > len(data):
            raise ValueError("point data truncated")
        pts: list[dict[int, int]] = []
        for _ in range(n):
            pt: dict[int, int] = {}
            for ch in chans:
                (v,) = struct.unpack(">H", data[off:off + 2])
                off += 2
                pt[ch] = v - 32768 if ch in _SIGNED else v
            pts.append(pt)
        if ext:
            (m,) = struct.unpack(">H", data[off:off + 2])
            if off + 2 + m > len(data):
                raise ValueError("extended data truncated")
        return Iso7Record(chans, attrs, pts)
    except (struct.error, ValueError, IndexError) as e:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"ISO/IEC 19794-7 record: {e}") from None
