"""Wire codec of the ZhianTec / Synochip AS608 / R30x fingerprint module UART protocol (pure bytes, no I/O).

Packet (docs/protocols.md §3; pyfingerprint ``__writePacket``/``__readPacket``; Adafruit ``Adafruit_Fingerprint.h``)::

    EF 01 | address u32 BE | PID | length u16 BE (= payload + 2) | payload | checksum u16 BE

checksum = (PID + lenHi + lenLo + Σ payload) & 0xFFFF.  PID 01 command, 02 data, 07 acknowledge,
08 end of data.  The first payload byte of an acknowledge is the confirmation code.
Bulk transfers (UpImage, UpChar, DownChar) follow the acknowledge as data packets of the
module's packet size (32/64/128/256 bytes), the last one with PID 08.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from gtsdk.errors import ErrorCode, GtsdkError

START = b"\xef\x01"
HEADER_LEN = 9  # start(2) + address(4) + pid(1) + length(2)
MIN_PACKET = 12  # header + 1 payload byte + checksum
MAX_PAYLOAD = 256 + 64  # longest legal payload (packet size code 3 = 256 B) with room for commands
DEFAULT_ADDRESS = 0xFFFFFFFF

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2  # 4 bits per pixel → 36864
CHAR_SIZE = 512  # bytes UpChar returns / DownChar accepts (pyfingerprint downloadCharacteristics: 512)
PACKET_SIZES = (32, 64, 128, 256)  # ReadSysPara packet size code 0..3
#: R307 sensor resolution (500 dpi) in pixels per centimetre, as ISO/IEC 19794-2 records it
RESOLUTION_PPCM = 197


class Pid(IntEnum):
    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END = 0x08


class Ins(IntEnum):
    """Instruction codes (docs/protocols.md §3; pyfingerprint constants)."""

    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    LOAD_CHAR = 0x07
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    UP_IMAGE = 0x0A
    DOWN_IMAGE = 0x0B
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    SET_SYS_PARA = 0x0E
    READ_SYS_PARA = 0x0F
    SET_PWD = 0x12
    VFY_PWD = 0x13
    GET_RANDOM = 0x14
    SET_ADDR = 0x15
    HIGH_SPEED_SEARCH = 0x1B
    TEMPLATE_NUM = 0x1D
    READ_INDEX_TABLE = 0x1F


class Confirm(IntEnum):
    """Confirmation codes (docs/protocols.md §3: pyfingerprint and Adafruit agree)."""

    OK = 0x00
    PACKET_RECEIVE_ERR = 0x01
    NO_FINGER = 0x02
    IMAGE_FAIL = 0x03
    IMAGE_MESSY = 0x06
    FEATURE_FAIL = 0x07
    NO_MATCH = 0x08
    NOT_FOUND = 0x09
    ENROLL_MISMATCH = 0x0A
    BAD_LOCATION = 0x0B
    DB_RANGE_FAIL = 0x0C
    UPLOAD_FEATURE_FAIL = 0x0D
    PACKET_RESPONSE_FAIL = 0x0E
    UPLOAD_FAIL = 0x0F
    DELETE_FAIL = 0x10
    DB_CLEAR_FAIL = 0x11
    PASS_FAIL = 0x13
    INVALID_IMAGE = 0x15
    FLASH_ERR = 0x18
    INVALID_REG = 0x1A
    ADDR_CODE = 0x20
    PASS_VERIFY = 0x21


#: confirmation code → (catalogue code, developer text).  Codes that a caller must treat as a
#: result (no match, not found) are handled by the command helpers before this table is used.
CONFIRMATION: dict[int, tuple[ErrorCode, str]] = {
    0x01: (ErrorCode.COMMUNICATION_ERROR, "module reports a packet receive error"),
    0x02: (ErrorCode.NO_MEDIA, "no finger on the sensor"),
    0x03: (ErrorCode.HARDWARE_ERROR, "sensor failed to take the image"),
    0x06: (ErrorCode.USER_ERROR, "image too messy; lift the finger and place it again"),
    0x07: (ErrorCode.USER_ERROR, "too few features in the image; lift the finger and place it again"),
    0x08: (ErrorCode.USER_ERROR, "the two fingerprints do not match"),
    0x09: (ErrorCode.NOT_FOUND, "no matching template in the library"),
    0x0A: (ErrorCode.USER_ERROR, "the enrolment images are not of the same finger"),
    0x0B: (ErrorCode.INVALID_DATA, "template page number out of range"),
    0x0C: (ErrorCode.INVALID_DATA, "template library read failed or page empty"),
    0x0D: (ErrorCode.COMMUNICATION_ERROR, "template upload failed"),
    0x0E: (ErrorCode.COMMUNICATION_ERROR, "module cannot receive the following data packets"),
    0x0F: (ErrorCode.COMMUNICATION_ERROR, "image upload failed"),
    0x10: (ErrorCode.HARDWARE_ERROR, "template delete failed"),
    0x11: (ErrorCode.HARDWARE_ERROR, "template library clear failed"),
    0x13: (ErrorCode.CONFIG_ERROR, "module rejected the password (setting 'password')"),
    0x15: (ErrorCode.USER_ERROR, "no valid image in the image buffer"),
    0x18: (ErrorCode.HARDWARE_ERROR, "module flash write error"),
    0x1A: (ErrorCode.INVALID_DATA, "invalid register number"),
    0x20: (ErrorCode.CONFIG_ERROR, "module rejected the address (setting 'address')"),
    0x21: (ErrorCode.CONFIG_ERROR, "module requires password verification (setting 'password')"),
}


def confirmation_error(code: int, what: str = "") -> GtsdkError:
    """The catalogue error for a non-OK confirmation code (unknown codes → ``hardwareError``)."""
    cat, text = CONFIRMATION.get(code, (ErrorCode.HARDWARE_ERROR, f"unknown confirmation code 0x{code:02X}"))
    detail = f"{what}: {text}" if what else text
    return GtsdkError(cat, detail, data={"confirmation": code})


def checksum(pid: int, payload: bytes) -> int:
    n = len(payload) + 2
    return (pid + (n >> 8) + (n & 0xFF) + sum(payload)) & 0xFFFF


@dataclass(frozen=True)
class Packet:
    pid: int
    payload: bytes
    address: int = DEFAULT_ADDRESS

    def encode(self) -> bytes:
        return encode(self.pid, self.payload, self.address)

    @property
    def code(self) -> int:
        """Confirmation code of an acknowledge (first payload byte)."""
        return self.payload[0] if self.payload else -1


def encode(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError("address must be a u32")
    if len(payload) > 0xFFFD:
        raise ValueError("payload too long")
    n = len(payload) + 2
    return START + struct.pack(">IBH", address, pid, n) + payload + struct.pack(">H", checksum(pid, payload))


def command(ins: int, args: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return encode(Pid.COMMAND, bytes([ins]) + args, address)


def ack(code: int, extra: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return encode(Pid.ACK, bytes([code]) + extra, address)


class FrameError(GtsdkError):
    """A malformed packet (bad start, length or checksum): ``communicationError``."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.COMMUNICATION_ERROR, detail)


def decode(frame: bytes, *, max_payload: int = 0xFFFD) -> Packet:
    """Decode exactly one complete packet (raises :class:`FrameError`)."""
    if len(frame) < MIN_PACKET:
        raise FrameError(f"packet too short ({len(frame)} bytes)")
    if frame[:2] != START:
        raise FrameError("packet does not start with EF 01")
    address, pid, n = struct.unpack(">IBH", frame[2:HEADER_LEN])
    if n < 3 or n - 2 > max_payload:
        raise FrameError(f"bad packet length {n}")
    if pid not in (Pid.COMMAND, Pid.DATA, Pid.ACK, Pid.END):
        raise FrameError(f"unknown packet id 0x{pid:02X}")
    if len(frame) != HEADER_LEN + n:
        raise FrameError(f"packet length field says {HEADER_LEN + n} bytes, got {len(frame)}")
    payload = bytes(frame[HEADER_LEN:-2])
    (got,) = struct.unpack(">H", frame[-2:])
    if got != checksum(pid, payload):
        raise FrameError("packet checksum mismatch")
    return Packet(pid, payload, address)


class Parser:
    """Incremental packet parser for a byte stream (resynchronises on ``EF 01`` after garbage).

    ``feed()`` returns the complete packets; a packet with a bad header, length or checksum raises
    :class:`FrameError` (packets completed before it in the same feed are lost) and the parser
    continues after it on the next feed.
    """

    def __init__(self, max_payload: int = 0xFFFD) -> None:
        self.buf = bytearray()
        self.max_payload = max_payload
        self.skipped = 0

    def need(self) -> int:
        """Bytes still needed for the packet being received (at least 1)."""
        if len(self.buf) < HEADER_LEN:
            return HEADER_LEN - len(self.buf)
        n = int.from_bytes(self.buf[7:9], "big")
        return max(1, HEADER_LEN + n - len(self.buf))

    def feed(self, data: bytes) -> list[Packet]:
        self.buf += data
        out: list[Packet] = []
        while True:
            i = self.buf.find(START)
            if i < 0:
                keep = 1 if self.buf.endswith(START[:1]) else 0
                self.skipped += len(self.buf) - keep
                del self.buf[: len(self.buf) - keep]
                return out
            if i:
                self.skipped += i
                del self.buf[:i]
            if len(self.buf) < HEADER_LEN:
                return out
            n = int.from_bytes(self.buf[7:9], "big")
            if n < 3 or n - 2 > self.max_payload or self.buf[6] not in (1, 2, 7, 8):
                pid = self.buf[6]
                del self.buf[:2]  # not a usable header; the next feed looks for the next one
                self.skipped += 2
                raise FrameError(f"corrupted packet header (packet id 0x{pid:02X}, length {n})")
            total = HEADER_LEN + n
            if len(self.buf) < total:
                return out
            frame = bytes(self.buf[:total])
            del self.buf[:total]
            out.append(decode(frame, max_payload=self.max_payload))


# ---- bulk data --------------------------------------------------------------------------------

def split_data(data: bytes, packet_size: int, address: int = DEFAULT_ADDRESS) -> Iterator[bytes]:
    """Encoded data packets carrying *data* (the last one with PID 08)."""
    if packet_size not in PACKET_SIZES:
        raise ValueError(f"packet size must be one of {PACKET_SIZES}")
    if not data:
        raise ValueError("no data to send")
    for i in range(0, len(data), packet_size):
        chunk = data[i:i + packet_size]
        last = i + packet_size >= len(data)
        yield encode(Pid.END if last else Pid.DATA, chunk, address)


def join_data(packets: Iterable[Packet]) -> bytes:
    """Concatenate data payloads; every packet must be 02 or 08."""
    out = bytearray()
    for p in packets:
        if p.pid not in (Pid.DATA, Pid.END):
            raise FrameError(f"expected a data packet, got packet id 0x{p.pid:02X}")
        out += p.payload
    return bytes(out)


# ---- command builders (golden vectors in tests/drivers/test_fingerprint_codec.py) ----------------------

def vfy_pwd(password: int, address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.VFY_PWD, struct.pack(">I", password), address)


def read_sys_para(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.READ_SYS_PARA, b"", address)


def gen_img(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.GEN_IMG, b"", address)


def img2tz(buffer: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.IMG2TZ, bytes([buffer]), address)


def match(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.MATCH, b"", address)


def search(buffer: int, start: int, count: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.SEARCH, struct.pack(">BHH", buffer, start, count), address)


def reg_model(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.REG_MODEL, b"", address)


def store(buffer: int, page: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.STORE, struct.pack(">BH", buffer, page), address)


def load_char(buffer: int, page: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.LOAD_CHAR, struct.pack(">BH", buffer, page), address)


def up_char(buffer: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.UP_CHAR, bytes([buffer]), address)


def down_char(buffer: int, address: int = DEFAULT_ADDRESS) -> bytes:
    _buf(buffer)
    return command(Ins.DOWN_CHAR, bytes([buffer]), address)


def up_image(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.UP_IMAGE, b"", address)


def delete_char(page: int, count: int = 1, address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.DELETE_CHAR, struct.pack(">HH", page, count), address)


def empty(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.EMPTY, b"", address)


def template_num(address: int = DEFAULT_ADDRESS) -> bytes:
    return command(Ins.TEMPLATE_NUM, b"", address)


def _buf(buffer: int) -> None:
    if buffer not in (1, 2):
        raise ValueError("char buffer must be 1 or 2")


# ---- acknowledge payload parsers --------------------------------------------------------------

@dataclass(frozen=True)
class SysPara:
    status: int
    system_id: int
    capacity: int
    security_level: int
    address: int
    packet_size: int  # bytes (decoded from the size code)
    baudrate: int  # bits/s (decoded from N × 9600)

    def encode(self) -> bytes:
        return struct.pack(">HHHHIHH", self.status, self.system_id, self.capacity, self.security_level,
                           self.address, PACKET_SIZES.index(self.packet_size), self.baudrate // 9600)


def parse_sys_para(p: Packet) -> SysPara:
    _ok(p, 1 + 16, "ReadSysPara")
    status, sysid, cap, sec, addr, size_code, baud_n = struct.unpack(">HHHHIHH", p.payload[1:17])
    if size_code > 3:
        raise FrameError(f"packet size code {size_code} out of range")
    return SysPara(status, sysid, cap, sec, addr, PACKET_SIZES[size_code], baud_n * 9600)


def parse_search(p: Packet) -> tuple[int, int] | None:
    """(page, score), or None when the module found no match (code 09)."""
    if p.code == Confirm.NOT_FOUND:
        return None
    _ok(p, 5, "Search")
    page, score = struct.unpack(">HH", p.payload[1:5])
    return page, score


def parse_match(p: Packet) -> int:
    """The match score (code 08 = no match still carries a score, 0 when absent)."""
    if p.code == Confirm.NO_MATCH:
        return int.from_bytes(p.payload[1:3], "big") if len(p.payload) >= 3 else 0
    _ok(p, 3, "Match")
    return int.from_bytes(p.payload[1:3], "big")


def parse_template_num(p: Packet) -> int:
    _ok(p, 3, "TemplateNum")
    return int.from_bytes(p.payload[1:3], "big")


def check_ack(p: Packet, what: str) -> None:
    _ok(p, 1, what)


def _ok(p: Packet, min_len: int, what: str) -> None:
    if p.pid != Pid.ACK:
        raise FrameError(f"{what}: expected an acknowledge, got packet id 0x{p.pid:02X}")
    if not p.payload:
        raise FrameError(f"{what}: empty acknowledge")
    if p.code != Confirm.OK:
        raise confirmation_error(p.code, what)
    if len(p.payload) < min_len:
        raise FrameError(f"{what}: acknowledge too short ({len(p.payload)} bytes)")


# ---- image ----------------------------------------------------------------------------------

def unpack_image(data: bytes) -> np.ndarray:
    """36864 bytes, 2 pixels per byte (high nibble first) → 288×256 uint8 grey (×17: 0..255)."""
    if len(data) != IMAGE_BYTES:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"image is {len(data)} bytes, expected {IMAGE_BYTES}")
    raw = np.frombuffer(data, dtype=np.uint8)
    px = np.empty(raw.size * 2, dtype=np.uint8)
    px[0::2] = raw >> 4
    px[1::2] = raw & 0x0F
    out: np.ndarray = (px * 17).reshape(IMAGE_HEIGHT, IMAGE_WIDTH)
    return out


def pack_image(img: np.ndarray) -> bytes:
    """288×256 uint8 grey → 4-bit packed bytes (the inverse of :func:`unpack_image` up to quantisation)."""
    if img.shape != (IMAGE_HEIGHT, IMAGE_WIDTH):
        raise ValueError(f"image must be {IMAGE_HEIGHT}×{IMAGE_WIDTH}")
    q = ((img.astype(np.uint16) + 8) // 17).clip(0, 15).astype(np.uint8).ravel()
    return bytes((q[0::2] << 4) | q[1::2])


def image_png(img: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    # 500 dpi sensor: record the resolution so other systems scale the image correctly
    Image.fromarray(img, mode="L").save(buf, format="PNG", dpi=(500, 500))
    return buf.getvalue()
