"""GA 467 SAM host-protocol frames: pure bytes <-> values, no I/O.

Frame layout (GA 467 section 5 as republished by eastcoms
http://eastcoms.com/service/downdrive/508.html; see docs/identity-documents.md)::

    host -> SAM:  AA AA AA 96 69 | Len1 Len2 | CMD  Para      | Data... | CHK
    SAM -> host:  AA AA AA 96 69 | Len1 Len2 | SW1  SW2  SW3  | Data... | CHK

``Len`` is big-endian and counts every byte after ``Len2`` (CHK included);
``CHK`` is the XOR of every byte from ``Len1`` to the last data byte.

Errors: every malformed frame raises :class:`FrameError` (a ``GtsdkError`` with
code ``communicationError``: the line delivered something that is not a valid
frame); a well-framed payload that does not hold what the command promises
raises ``GtsdkError(invalidData)``.  Nothing else escapes this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from gtsdk.errors import ErrorCode, GtsdkError

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
#: largest Len we accept; the biggest documented reply (30 10) has Len 0x090A
MAX_LEN = 0x1000
TEXT_LEN = 256
PHOTO_LEN = 1024
FP_MAX_LEN = 1024
ADDRESS_LEN = 70


class FrameError(GtsdkError):
    """The bytes on the line are not a valid SAM frame."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.COMMUNICATION_ERROR, detail)


class Command(Enum):
    """(CMD, Para) pairs, table 9 of the SAM_V protocol text (eastcoms 508.html; csdn 85242964)."""

    RESET = (0x10, 0xFF)  # 复位 SAM
    STATUS = (0x11, 0xFF)  # SAM 状态检测
    SAM_ID = (0x12, 0xFF)  # 读 SAM 管理信息
    FIND = (0x20, 0x01)  # 寻找证/卡
    SELECT = (0x20, 0x02)  # 选取证/卡
    READ_BASE = (0x30, 0x01)  # 读固定信息 (text + photo)
    READ_ADDRESS = (0x30, 0x03)  # 读追加住址
    READ_MID = (0x30, 0x05)  # 读卡体管理号
    READ_BASE_FP = (0x30, 0x10)  # 读固定信息 + 指纹
    SET_RF_MAX = (0x61, 0xFF)  # 设置射频适配器最大通信字节数 (hevz/hev-idcard-reader)

    @property
    def cmd(self) -> int:
        return self.value[0]

    @property
    def para(self) -> int:
        return self.value[1]

    @classmethod
    def lookup(cls, cmd: int, para: int) -> Command | None:
        for c in cls:
            if c.value == (cmd, para):
                return c
        return None


class SW3(int, Enum):
    """Status byte SW3 (libsamv.h / HslCommunication SAMSerial.GetErrorDescription)."""

    OK = 0x90  # 操作成功
    NO_CONTENT = 0x91  # 证/卡中此项无内容
    FIND_OK = 0x9F  # 寻找证/卡成功
    CHECKSUM_ERROR = 0x10  # 接收业务终端数据的校验和错
    LENGTH_ERROR = 0x11  # 接收业务终端数据的长度错
    COMMAND_ERROR = 0x21  # 命令错误
    UNAUTHORISED_OP = 0x23  # 越权操作
    UNKNOWN_ERROR = 0x24  # 无法识别的错误
    CARD_AUTH_SAM_FAILED = 0x31  # 证/卡认证SAM失败
    SAM_AUTH_CARD_FAILED = 0x32  # SAM认证证/卡失败
    INFO_VERIFY_FAILED = 0x33  # 信息验证错误
    UNKNOWN_CARD_TYPE = 0x40  # 无法识别的证/卡类型
    READ_FAILED = 0x41  # 读证/卡操作失败
    RANDOM_FAILED = 0x47  # 取随机数失败
    SELF_TEST_FAILED = 0x60  # SAM自检失败,不能接收命令
    NOT_AUTHORISED = 0x66  # SAM没有经过授权
    FIND_FAILED = 0x80  # 寻找证/卡失败
    SELECT_FAILED = 0x81  # 选取证/卡失败


SW3_TEXT = {
    0x90: "success", 0x91: "no such content on the card", 0x9F: "card found",
    0x10: "SAM received a bad checksum", 0x11: "SAM received a bad length", 0x21: "command error",
    0x23: "operation not permitted", 0x24: "unrecognised error", 0x31: "card failed to authenticate the SAM",
    0x32: "SAM failed to authenticate the card", 0x33: "information verification error",
    0x40: "unrecognised card type", 0x41: "card read failed", 0x47: "get random failed",
    0x60: "SAM self-test failed", 0x66: "SAM not authorised", 0x80: "no card found", 0x81: "card select failed",
}


def sw3_error(sw3: int) -> GtsdkError:
    """The catalogue error for a failing SW3 (see docs/identity-documents.md, 'SW3 mapping')."""
    text = f"SAM status 0x{sw3:02X}: {SW3_TEXT.get(sw3, 'undocumented status')}"
    data = {"sw3": f"{sw3:02X}"}
    if sw3 in (0x80, 0x81):
        return GtsdkError(ErrorCode.NO_MEDIA, text, data=data)
    if sw3 == 0x41:
        return GtsdkError(ErrorCode.USER_ERROR, text + "; keep the card still on the reader and retry",
                          retryable=True, data=data)
    if sw3 in (0x10, 0x11):
        return GtsdkError(ErrorCode.COMMUNICATION_ERROR, text, data=data)
    if sw3 in (0x31, 0x32, 0x33):
        return GtsdkError(ErrorCode.AUTHENTICATION_FAILED, text, data=data)
    if sw3 == 0x40:
        return GtsdkError(ErrorCode.UNSUPPORTED_DATA, text, data=data)
    return GtsdkError(ErrorCode.HARDWARE_ERROR, text, data=data)


def checksum(body: bytes) -> int:
    """XOR of Len1 .. last data byte."""
    c = 0
    for b in body:
        c ^= b
    return c


def _frame(payload: bytes) -> bytes:
    n = len(payload) + 1
    if n > MAX_LEN:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"frame payload too long ({n} bytes)")
    body = struct.pack(">H", n) + payload
    return PREAMBLE + body + bytes([checksum(body)])


def build_request(command: Command | tuple[int, int], data: bytes = b"") -> bytes:
    cmd, para = command.value if isinstance(command, Command) else command
    return _frame(bytes([cmd, para]) + data)


def build_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return _frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class Request:
    cmd: int
    para: int
    data: bytes

    @property
    def command(self) -> Command | None:
        return Command.lookup(self.cmd, self.para)


@dataclass(frozen=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.sw3 in (SW3.OK, SW3.FIND_OK)


def _unframe(frame: bytes, minimum: int) -> bytes:
    if len(frame) < 7 + minimum + 1:
        raise FrameError(f"frame too short ({len(frame)} bytes)")
    if frame[:5] != PREAMBLE:
        raise FrameError("frame does not start with the preamble AA AA AA 96 69")
    n = struct.unpack(">H", frame[5:7])[0]
    if n < minimum + 1 or n > MAX_LEN:
        raise FrameError(f"frame length field {n} out of range")
    if len(frame) != 7 + n:
        raise FrameError(f"frame length field says {n} bytes after it, got {len(frame) - 7}")
    if checksum(frame[5:-1]) != frame[-1]:
        raise FrameError("frame checksum mismatch")
    return frame[7:-1]


def parse_request(frame: bytes) -> Request:
    p = _unframe(bytes(frame), 2)
    return Request(p[0], p[1], p[2:])


def parse_response(frame: bytes) -> Response:
    p = _unframe(bytes(frame), 3)
    return Response(p[0], p[1], p[2], p[3:])


def body_length(header: bytes) -> int:
    """Bytes that follow a 7-byte header (``FrameError`` if it is no header)."""
    if len(header) != 7 or header[:5] != PREAMBLE:
        raise FrameError("not a frame header")
    n: int = struct.unpack(">H", header[5:7])[0]
    if n < 3 or n > MAX_LEN:
        raise FrameError(f"frame length field {n} out of range")
    return n


class StreamParser:
    """Splits a byte stream into frames, skipping noise before a preamble.

    ``feed`` returns the complete frames found so far (raw bytes, not yet
    checksum-verified); a length field out of range drops that preamble and
    resynchronises on the next one.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            i = self._buf.find(PREAMBLE)
            if i < 0:
                keep = len(PREAMBLE) - 1
                if len(self._buf) > keep:
                    self.dropped += len(self._buf) - keep
                    del self._buf[: len(self._buf) - keep]
                return out
            if i:
                self.dropped += i
                del self._buf[:i]
            if len(self._buf) < 7:
                return out
            n = struct.unpack(">H", self._buf[5:7])[0]
            if n < 3 or n > MAX_LEN:
                self.dropped += 1
                del self._buf[:1]
                continue
            if len(self._buf) < 7 + n:
                return out
            out.append(bytes(self._buf[: 7 + n]))
            del self._buf[: 7 + n]


# ---- payloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CardBlocks:
    text: bytes
    photo: bytes
    fingerprint: bytes | None


def build_read_payload(text: bytes, photo: bytes, fingerprint: bytes | None = None) -> bytes:
    """Data of a 30 01 (fingerprint None) or 30 10 reply: lengths (u16 BE each), then the blocks."""
    if fingerprint is None:
        return struct.pack(">HH", len(text), len(photo)) + text + photo
    return struct.pack(">HHH", len(text), len(photo), len(fingerprint)) + text + photo + fingerprint


def parse_read_payload(data: bytes, with_fingerprint: bool) -> CardBlocks:
    """Data of a 30 01 / 30 10 reply (docs/protocols.md 1.5: text at frame offset 14, or 16 with FP)."""
    hdr = 6 if with_fingerprint else 4
    if len(data) < hdr:
        raise GtsdkError(ErrorCode.INVALID_DATA, "card data reply too short")
    if with_fingerprint:
        tl, pl, fl = struct.unpack(">HHH", data[:6])
    else:
        (tl, pl), fl = struct.unpack(">HH", data[:4]), 0
    if tl != TEXT_LEN or pl > PHOTO_LEN or fl > FP_MAX_LEN:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"unexpected block lengths text={tl} photo={pl} fp={fl}")
    if len(data) != hdr + tl + pl + fl:
        raise GtsdkError(ErrorCode.INVALID_DATA, "card data reply length does not match its block lengths")
    text = data[hdr:hdr + tl]
    photo = data[hdr + tl:hdr + tl + pl]
    fp = data[hdr + tl + pl:] if with_fingerprint else None
    return CardBlocks(text, photo, fp)


def format_sam_id(data: bytes) -> str:
    """SAM management number as printed by HslCommunication ``SAMSerial`` (docs/protocols.md 1.5):
    ``b0.b2-u32LE-u32LE(9)-u32LE(9)``; vendors disagree on the zero padding of the last two fields."""
    if len(data) < 16:
        raise GtsdkError(ErrorCode.INVALID_DATA, "SAM id reply too short")
    a, b, c = struct.unpack("<III", data[4:16])
    return f"{data[0]:02d}.{data[2]:02d}-{a}-{b:09d}-{c:09d}"


def parse_address(data: bytes) -> str | None:
    """30 03 reply data: 70 bytes UCS-2LE, space padded (None when blank)."""
    if len(data) != ADDRESS_LEN:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"appended address block is {len(data)} bytes, expected 70")
    try:
        s = data.decode("utf-16-le")
    except UnicodeDecodeError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "appended address is not UCS-2") from None
    s = s.rstrip(" \x00")
    return s or None
