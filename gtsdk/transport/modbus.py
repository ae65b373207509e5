"""A Modbus RTU master on a serial line, shared by every board on it; two interchangeable back ends.

One RS-485 line carries several boards (a light board and a sensor board with their own
device ids): every :class:`ModbusLine` configured with the same port uses one open port
and one transaction at a time (the port is keyed by its real path and closes when its
last user releases it).

- ``native`` (default): frames from :mod:`gtsdk.transport.modbus_frames` over
  :class:`gtsdk.transport.serial.SerialLink`; every read honours the operation deadline
  exactly (the answer timeout is capped by ``ctx.remaining()``) and the response length
  is computed from its header, so there is no waiting for line silence.
- ``pymodbus``: pymodbus' own ``ModbusSerialClient`` (RTU framer); the per-call timeout is
  set to the same cap.  Useful when a board needs a pymodbus quirk, and as a cross-check.

Both raise only catalogue errors: no answer → ``communicationError``; port gone →
``noDevice``; Modbus exception responses via :data:`.modbus_frames.EXCEPTIONS`.
"""

from __future__ import annotations

import os
import termios
import threading
import time
from typing import Any, Literal

from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.transport import io_timeout
from gtsdk.transport import modbus_frames as codec
from gtsdk.transport.serial import SerialLink, SerialSettings

__all__ = ["Backend", "ModbusLine", "ModbusSettings"]

Backend = Literal["native", "pymodbus"]


class ModbusSettings(SerialSettings):
    """Serial + Modbus settings shared by the light and sensor drivers."""

    baudrate: int = 9600
    answer_timeout: float = 0.5
    device: int = 1
    backend: Backend = "native"
    #: extra attempts after a CRC error or a silent board (per command)
    retries: int = 1


class _Port:
    """One physical RS-485 line, shared by every ModbusLine configured on the same port
    (a light board and a sensor board with different device ids on one bus)."""

    def __init__(self, settings: ModbusSettings) -> None:
        self.settings = settings
        self.link = SerialLink.from_settings(settings)
        self.client: Any = None
        self.lock = threading.RLock()  # one transaction at a time on the wire
        self.users = 0

    def signature(self) -> tuple[Any, ...]:
        s = self.settings
        return (s.backend, s.baudrate, s.bytesize, s.parity, s.stopbits)


_PORTS: dict[str, _Port] = {}
_PORTS_LOCK = threading.Lock()


def _port_key(port: str) -> str:
    return os.path.realpath(port) if os.path.exists(port) else port


class ModbusLine:
    def __init__(self, settings: ModbusSettings) -> None:
        self.s = settings
        self._port: _Port | None = None
        self._key = ""
        self.frames_sent = 0
        self.last_request = b""

    # ---- lifecycle -------------------------------------------------------------
    @property
    def port(self) -> _Port:
        if self._port is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"Modbus line {self.s.port} not open")
        return self._port

    @property
    def link(self) -> SerialLink:
        return self.port.link

    @property
    def is_open(self) -> bool:
        p = self._port
        if p is None:
            return False
        return p.client is not None if self.s.backend == "pymodbus" else p.link.is_open

    def open(self) -> None:
        if self._port is None:
            key = self._key = _port_key(self.s.port)
            with _PORTS_LOCK:
                port = _PORTS.get(key)
                if port is None or port.users <= 0:  # a device path reused after its last user left
                    port = _PORTS[key] = _Port(self.s)
                elif port.signature() != _Port(self.s).signature():
                    raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{self.s.port} is shared with different line settings "
                                     "(backend, baudrate, bytesize, parity, stopbits must match)", field="port")
                port.users += 1
            self._port = port
        with self._port.lock:
            self._open_transport(self._port)

    def _open_transport(self, port: _Port) -> None:
        if self.s.backend == "native":
            if not port.link.is_open:
                port.link.open()
            return
        if port.client is not None:
            return
        from pymodbus import FramerType
        from pymodbus.client import ModbusSerialClient

        client = ModbusSerialClient(self.s.port, framer=FramerType.RTU, baudrate=self.s.baudrate,
                                    bytesize=self.s.bytesize, parity=self.s.parity, stopbits=int(self.s.stopbits),
                                    timeout=self.s.answer_timeout, retries=0)
        if not client.connect():
            raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot open serial port {self.s.port}")
        port.client = client

    @staticmethod
    def _close_transport(port: _Port) -> None:
        port.link.close()
        client, port.client = port.client, None
        if client is not None:
            try:
                client.close()
            except (OSError, ValueError, termios.error):  # closing a vanished port: it is closed either way
                pass

    def close(self) -> None:
        """Release the line; the port closes when its last user releases it."""
        port, self._port = self._port, None
        if port is None:
            return
        with _PORTS_LOCK:
            port.users -= 1
            last = port.users <= 0
            # the key of open(): the path may point elsewhere (or nowhere) by now
            if last and _PORTS.get(self._key) is port:
                del _PORTS[self._key]
        if last:
            with port.lock:
                self._close_transport(port)

    def wire_time(self, nbytes: int) -> float:
        return self.port.link.wire_time(nbytes)

    # ---- one transaction ------------------------------------------------------------
    def transact(self, request: bytes, ctx: OpContext | None = None) -> codec.Response:
        """Send *request* (a full RTU frame) and return the decoded answer."""
        port = self.port
        with port.lock:
            last: GtsdkError | None = None
            for _attempt in range(1 + max(0, self.s.retries)):
                if ctx is not None:
                    ctx.check()
                try:
                    if self.s.backend == "native":
                        return self._native(port, request, ctx)
                    return self._pymodbus(port, request, ctx)
                except GtsdkError as e:
                    if e.code != ErrorCode.COMMUNICATION_ERROR:
                        raise
                    last = e
            assert last is not None
            raise last

    def _answer_timeout(self, ctx: OpContext | None) -> float:
        return io_timeout(self.s.answer_timeout, ctx)

    def _native(self, port: _Port, request: bytes, ctx: OpContext | None) -> codec.Response:
        link = port.link
        if not link.is_open:  # another user of the line lost it, or it vanished before
            link.open()
        # drop a late answer of an earlier, timed-out request
        link.read_available()
        self.last_request = request
        link.write(request, ctx)
        self.frames_sent += 1
        tmo = self._answer_timeout(ctx)
        try:
            head = link.read_exact(3, ctx, timeout=tmo)
        except GtsdkError as e:
            if e.code == ErrorCode.COMMUNICATION_ERROR:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"Modbus device {request[0]} does not answer",
                                 data={"device": request[0]}) from None
            raise
        if head[0] != request[0] or head[1] & 0x7F != request[1]:
            # not an answer to us: drain what follows so the next request starts clean
            time.sleep(min(0.02, tmo))
            link.read_available()
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "unexpected bytes on the Modbus line")
        total = codec.response_length(request, head)
        rest = link.read_exact(total - 3, ctx, timeout=tmo)
        return codec.decode_response(request, head + rest)

    def _pymodbus(self, port: _Port, request: bytes, ctx: OpContext | None) -> codec.Response:
        from pymodbus.exceptions import ModbusException

        if port.client is None:
            self._open_transport(port)
        client = port.client
        client.comm_params.timeout_connect = self._answer_timeout(ctx)
        dev, fc = request[0], request[1]
        val = int.from_bytes(request[4:6], "big")
        self.last_request = request
        self.frames_sent += 1
        try:
            r = _pymodbus_call(client, request)
        except ModbusException as e:
            text = str(e)
            if "serial" in text.lower() and "open" in text.lower():
                self._close_transport(port)
                raise GtsdkError(ErrorCode.NO_DEVICE, f"serial port {self.s.port} lost") from None
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"Modbus device {dev} does not answer",
                             data={"device": dev}) from None
        except (OSError, ValueError) as e:
            self._close_transport(port)
            raise GtsdkError(ErrorCode.NO_DEVICE, f"serial port {self.s.port} lost: {type(e).__name__}") from None
        if r.isError():
            exc = getattr(r, "exception_code", 0)
            code, text = codec.EXCEPTIONS.get(exc, (ErrorCode.HARDWARE_ERROR, "unknown exception"))
            raise GtsdkError(code, f"Modbus exception {exc}: {text}", data={"modbusException": exc})
        if fc in (codec.READ_COILS, codec.READ_DISCRETE_INPUTS):
            return codec.Response(dev, fc, bits=list(r.bits[:val]))
        if fc in (codec.READ_HOLDING_REGISTERS, codec.READ_INPUT_REGISTERS):
            return codec.Response(dev, fc, registers=list(r.registers))
        return codec.Response(dev, fc)

    # ---- conveniences ---------------------------------------------------------------
    def read_bits(self, function: int, address: int, count: int, ctx: OpContext | None = None,
                  device: int | None = None) -> list[bool]:
        r = self.transact(codec.read_request(device or self.s.device, function, address, count), ctx)
        assert r.bits is not None
        return r.bits

    def read_registers(self, function: int, address: int, count: int, ctx: OpContext | None = None,
                       device: int | None = None) -> list[int]:
        r = self.transact(codec.read_request(device or self.s.device, function, address, count), ctx)
        assert r.registers is not None
        return r.registers

    def write_coil(self, address: int, on: bool, ctx: OpContext | None = None, device: int | None = None) -> None:
        self.transact(codec.write_coil_request(device or self.s.device, address, on), ctx)

    def write_register(self, address: int, value: int, ctx: OpContext | None = None,
                       device: int | None = None) -> None:
        self.transact(codec.write_register_request(device or self.s.device, address, value), ctx)


def _pymodbus_call(client: Any, request: bytes) -> Any:
    """Make the request frame *request* as the pymodbus client call it stands for."""
    dev, fc = request[0], request[1]
    addr = int.from_bytes(request[2:4], "big")
    val = int.from_bytes(request[4:6], "big")
    if fc == codec.READ_COILS:
        return client.read_coils(addr, count=val, device_id=dev)
    if fc == codec.READ_DISCRETE_INPUTS:
        return client.read_discrete_inputs(addr, count=val, device_id=dev)
    if fc == codec.READ_HOLDING_REGISTERS:
        return client.read_holding_registers(addr, count=val, device_id=dev)
    if fc == codec.READ_INPUT_REGISTERS:
        return client.read_input_registers(addr, count=val, device_id=dev)
    if fc == codec.WRITE_SINGLE_COIL:
        return client.write_coil(addr, val == 0xFF00, device_id=dev)
    if fc == codec.WRITE_SINGLE_REGISTER:
        return client.write_register(addr, val, device_id=dev)
    if fc == codec.WRITE_MULTIPLE_COILS:
        return client.write_coils(addr, codec.unpack_bits(request[7:-2], val), device_id=dev)
    if fc == codec.WRITE_MULTIPLE_REGISTERS:
        regs = [int.from_bytes(request[7 + 2 * i:9 + 2 * i], "big") for i in range(val)]
        return client.write_registers(addr, regs, device_id=dev)
    raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, f"function {fc}")
