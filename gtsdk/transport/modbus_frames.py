"""Modbus RTU application data units: pure bytes ↔ values, no I/O.

Frame: ``<device id> <function code> <data> <CRC-16/MODBUS, low byte first>``
(Modbus over Serial Line V1.02 §2.5.1; CRC polynomial 0xA001 reflected, init 0xFFFF, §6.2.2).
Golden vector from the public IO-Box README cited in docs/protocols.md §5.1:
``01 05 00 00 FF 00 8C 3A`` switches relay 0 on, ``01 01 00 00 00 08 3D CC`` reads 8 relays.

Only the function codes a light or sensor board needs are built here:
01 read coils, 02 read discrete inputs, 03 read holding registers, 04 read input
registers, 05 write single coil, 06 write single register, 15 write multiple coils,
16 write multiple registers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gtsdk.errors import ErrorCode, GtsdkError

READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
READ_HOLDING_REGISTERS = 0x03
READ_INPUT_REGISTERS = 0x04
WRITE_SINGLE_COIL = 0x05
WRITE_SINGLE_REGISTER = 0x06
WRITE_MULTIPLE_COILS = 0x0F
WRITE_MULTIPLE_REGISTERS = 0x10

READS = (READ_COILS, READ_DISCRETE_INPUTS, READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS)
WRITES = (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER, WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS)

#: Modbus exception code → (catalogue code, short text).  Application Protocol V1.1b3 §7.
EXCEPTIONS: dict[int, tuple[ErrorCode, str]] = {
    1: (ErrorCode.UNSUPPORTED_COMMAND, "illegal function"),
    2: (ErrorCode.CONFIG_ERROR, "illegal data address (check the register map in the configuration)"),
    3: (ErrorCode.INVALID_DATA, "illegal data value"),
    4: (ErrorCode.HARDWARE_ERROR, "server device failure"),
    5: (ErrorCode.DEVICE_BUSY, "acknowledge (long command running)"),
    6: (ErrorCode.DEVICE_BUSY, "server device busy"),
    8: (ErrorCode.HARDWARE_ERROR, "memory parity error"),
    10: (ErrorCode.COMMUNICATION_ERROR, "gateway path unavailable"),
    11: (ErrorCode.COMMUNICATION_ERROR, "gateway target failed to respond"),
}


def _table() -> list[int]:
    out = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        out.append(crc)
    return out


_CRC_TABLE = _table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of *data* (the value; it goes on the wire low byte first)."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]


def _check_device(device: int) -> None:
    if not 1 <= device <= 247:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"Modbus device id must be 1..247, got {device}", field="device")


def _check_address(address: int, count: int = 1) -> None:
    if not (0 <= address <= 0xFFFF and address + count <= 0x10000):
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"Modbus address out of range: {address}+{count}", field="address")


# ---- requests ------------------------------------------------------------------
def read_request(device: int, function: int, address: int, count: int) -> bytes:
    if function not in READS:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"not a read function: {function}")
    limit = 2000 if function in (READ_COILS, READ_DISCRETE_INPUTS) else 125
    if not 1 <= count <= limit:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"count must be 1..{limit}", field="count")
    _check_device(device)
    _check_address(address, count)
    return with_crc(struct.pack(">BBHH", device, function, address, count))


def write_coil_request(device: int, address: int, on: bool) -> bytes:
    _check_device(device)
    _check_address(address)
    return with_crc(struct.pack(">BBHH", device, WRITE_SINGLE_COIL, address, 0xFF00 if on else 0x0000))


def write_register_request(device: int, address: int, value: int) -> bytes:
    _check_device(device)
    _check_address(address)
    if not 0 <= value <= 0xFFFF:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"register value out of range: {value}", field="value")
    return with_crc(struct.pack(">BBHH", device, WRITE_SINGLE_REGISTER, address, value))


def pack_bits(bits: list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[bool]:
    return [bool(data[i // 8] >> (i % 8) & 1) for i in range(count)]


def write_coils_request(device: int, address: int, bits: list[bool]) -> bytes:
    _check_device(device)
    if not 1 <= len(bits) <= 1968:
        raise GtsdkError(ErrorCode.INVALID_DATA, "1..1968 coils per write", field="count")
    _check_address(address, len(bits))
    data = pack_bits(bits)
    return with_crc(struct.pack(">BBHHB", device, WRITE_MULTIPLE_COILS, address, len(bits), len(data)) + data)


def write_registers_request(device: int, address: int, values: list[int]) -> bytes:
    _check_device(device)
    if not 1 <= len(values) <= 123:
        raise GtsdkError(ErrorCode.INVALID_DATA, "1..123 registers per write", field="count")
    _check_address(address, len(values))
    if any(not 0 <= v <= 0xFFFF for v in values):
        raise GtsdkError(ErrorCode.INVALID_DATA, "register value out of range", field="value")
    body = struct.pack(">BBHHB", device, WRITE_MULTIPLE_REGISTERS, address, len(values), 2 * len(values))
    return with_crc(body + b"".join(struct.pack(">H", v) for v in values))


# ---- responses -----------------------------------------------------------------
def response_length(request: bytes, head: bytes) -> int:
    """Total length of the response frame given its first 3 bytes (id, function, byte 3)."""
    if len(head) < 3:
        raise ValueError("need 3 bytes")
    function = head[1]
    if function & 0x80:
        return 5
    if function in READS:
        return 5 + head[2]
    if function in WRITES:
        return 8
    raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"unexpected function code 0x{function:02X} in response")


@dataclass(frozen=True)
class Response:
    device: int
    function: int
    bits: list[bool] | None = None
    registers: list[int] | None = None


def decode_response(request: bytes, frame: bytes) -> Response:
    """Check *frame* answers *request*; return its values or raise the catalogue code.

    A CRC error or a frame that does not match the request is ``communicationError``
    (retryable: line noise); a Modbus exception response maps through :data:`EXCEPTIONS`.
    """
    if len(request) < 8:
        raise ValueError("request too short")
    if len(frame) < 5:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"short Modbus frame ({len(frame)} bytes)")
    if not crc_ok(frame):
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "Modbus CRC error")
    device, function = frame[0], frame[1]
    if device != request[0]:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"answer from device {device}, asked {request[0]}")
    if function == request[1] | 0x80:
        if len(frame) != 5:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "bad exception frame length")
        code, text = EXCEPTIONS.get(frame[2], (ErrorCode.HARDWARE_ERROR, "unknown exception"))
        raise GtsdkError(code, f"Modbus exception {frame[2]}: {text}", data={"modbusException": frame[2]})
    if function != request[1]:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"answer function 0x{function:02X}, asked 0x{request[1]:02X}")
    if function in READS:
        return _read_response(request, frame)
    if len(frame) != 8:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "bad write echo length")
    if function in (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER):
        if frame[:6] != request[:6]:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "write echo differs from request")
    elif frame[2:6] != request[2:6]:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "write echo differs from request")
    return Response(device, function)


def _read_response(request: bytes, frame: bytes) -> Response:
    """The values of a read answer whose device and function already match *request*."""
    device, function, n = frame[0], frame[1], frame[2]
    count = struct.unpack(">H", request[4:6])[0]
    if len(frame) != 5 + n:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "byte count does not match frame length")
    data = frame[3:3 + n]
    if function in (READ_COILS, READ_DISCRETE_INPUTS):
        if n != (count + 7) // 8:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "wrong number of coil bytes")
        return Response(device, function, bits=unpack_bits(data, count))
    if n != 2 * count:
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "wrong number of register bytes")
    return Response(device, function, registers=list(struct.unpack(f">{count}H", data)))


# ---- server side (used by tests and by simulators that build their own answers) ----
def exception_response(device: int, function: int, code: int) -> bytes:
    return with_crc(bytes([device, function | 0x80, code]))


def registers_response(device: int, function: int, values: list[int]) -> bytes:
    data = b"".join(struct.pack(">H", v & 0xFFFF) for v in values)
    return with_crc(bytes([device, function, len(data)]) + data)


def bits_response(device: int, function: int, bits: list[bool]) -> bytes:
    data = pack_bits(bits)
    return with_crc(bytes([device, function, len(data)]) + data)


def to_signed(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value
