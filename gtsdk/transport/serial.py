"""A serial line with deadlines: every read and write honours the operation's
:class:`~gtsdk.driver.OpContext` and maps failures to catalogue codes.

- the port cannot be opened, or vanishes (EIO/ENXIO, a failing tcflush) → ``noDevice``
- the device does not answer within its answer timeout              → ``communicationError``
- the operation deadline passes / it is cancelled                   → ``timeOut`` / ``canceled``

The port is opened non-blocking once (pyserial sets the line up); reads wait with
``select`` in slices of :data:`SLICE` seconds, so cancel is noticed and no read outlives
the deadline, without re-programming the port for every wait.

A link is used from more than one thread: a driver abandoned after its deadline (gtsdk.runtime.device) may still
be inside a read while the fresh worker closes the port to reconnect.  Closing a descriptor another thread is about
to ``select``/``read`` lets that thread read from whatever reuses the number next — in a service, a TLS socket
(the client then sees ``bad record mac``) — and pyserial's ``close`` is not safe to run twice at once (it closes
five descriptors, one by one).  So every I/O step and ``close`` hold the link's lock; an I/O step is at most one
:data:`SLICE` (or the write timeout), so closing waits no longer than that.
"""

from __future__ import annotations

import errno
import select
import termios
import threading
import time
from typing import Any

import serial

from gtsdk.driver import DriverSettings, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.transport import io_timeout

__all__ = ["SLICE", "SerialLink", "SerialSettings", "bits_per_byte"]

_GONE = {errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF, errno.ENOENT}
#: longest single wait for input, so cancel is noticed promptly
SLICE = 0.05
#: what pyserial and termios raise when a port misbehaves or goes away (termios.error is not an OSError)
_PORT_ERRORS = (serial.SerialException, OSError, ValueError, termios.error)


class SerialSettings(DriverSettings):
    """Settings every serial driver accepts (extend in the driver's own model)."""

    port: str
    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    answer_timeout: float = 1.0


def bits_per_byte(bytesize: int = 8, parity: str = "N", stopbits: float = 1) -> float:
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


class SerialLink:
    def __init__(self, port: str, baudrate: int = 115200, *, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, answer_timeout: float = 1.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self.answer_timeout = answer_timeout
        self._ser: Any = None
        # held by open, close and each I/O step (see the module docstring); re-entrant: a failing step closes
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, s: SerialSettings) -> SerialLink:
        return cls(s.port, s.baudrate, bytesize=s.bytesize, parity=s.parity, stopbits=s.stopbits,
                   answer_timeout=s.answer_timeout)

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def wire_time(self, nbytes: int) -> float:
        """Seconds *nbytes* need on the wire at this line's settings."""
        return nbytes * bits_per_byte(self.bytesize, self.parity, self.stopbits) / self.baudrate

    def open(self) -> None:
        with self._lock:
            self.close()
            try:
                self._ser = serial.Serial(self.port, self.baudrate, bytesize=self.bytesize, parity=self.parity,
                                          stopbits=self.stopbits, timeout=0, write_timeout=self.answer_timeout)
            except _PORT_ERRORS as e:
                self._ser = None
                raise GtsdkError(ErrorCode.NO_DEVICE,
                                 f"cannot open serial port {self.port}: {type(e).__name__}") from None

    def close(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
            if ser is not None:
                try:
                    ser.close()
                except _PORT_ERRORS:  # closing a vanished port: it is closed either way
                    pass

    def _lost(self, e: BaseException) -> GtsdkError:
        if isinstance(e, serial.SerialTimeoutException):
            return GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"serial port {self.port} does not take data")
        if isinstance(e, serial.SerialException | termios.error | ValueError) or getattr(e, "errno", None) in _GONE:
            self.close()
            return GtsdkError(ErrorCode.NO_DEVICE, f"serial port {self.port} lost")
        return GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"serial I/O failed: {type(e).__name__}")

    def _need(self) -> Any:
        if self._ser is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"serial port {self.port} not open")
        return self._ser

    def discard_input(self) -> None:
        """Drop whatever the device sent that nobody has read yet."""
        with self._lock:
            ser = self._need()
            try:
                ser.reset_input_buffer()
            except _PORT_ERRORS as e:  # tcflush on a vanished pty raises termios.error
                raise self._lost(e) from None

    def write(self, data: bytes, ctx: OpContext | None = None) -> None:
        if ctx is not None:
            ctx.check()
        with self._lock:
            ser = self._need()
            try:
                ser.write(data)
                ser.flush()
            except _PORT_ERRORS as e:
                raise self._lost(e) from None

    def read_available(self) -> bytes:
        """What has arrived so far, without waiting."""
        with self._lock:
            ser = self._need()
            try:
                return bytes(ser.read(ser.in_waiting or 1))
            except _PORT_ERRORS as e:
                raise self._lost(e) from None

    def _read_some(self, n: int, ctx: OpContext | None, until: float) -> bytes:
        """Up to *n* bytes, waiting at most until *until* (and a slice).  Once *until* has passed it still looks
        once, without waiting: on a loaded host this thread may run only after the gap has elapsed, and bytes
        the device sent in time, waiting in the kernel's buffer, are an answer, not silence."""
        if ctx is not None:
            ctx.check()
        left = until - time.monotonic()
        with self._lock:
            ser = self._need()
            try:
                wait = io_timeout(min(SLICE, left), ctx) if left > 0 else 0.0
                ready, _, _ = select.select([ser.fileno()], [], [], wait)
                return bytes(ser.read(n)) if ready else b""
            except _PORT_ERRORS as e:
                raise self._lost(e) from None

    def read_exact(self, n: int, ctx: OpContext | None = None, *, timeout: float | None = None) -> bytes:
        """Read exactly *n* bytes; ``communicationError`` if the device stops answering for *timeout* s.

        The answer timeout restarts whenever bytes arrive, so a long frame at a
        slow baud rate is not cut short.
        """
        gap = self.answer_timeout if timeout is None else timeout
        buf = bytearray()
        until = time.monotonic() + gap
        while len(buf) < n:
            chunk = self._read_some(n - len(buf), ctx, until)
            if chunk:
                buf += chunk
                until = time.monotonic() + gap
            elif time.monotonic() >= until:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"device sent {len(buf)} of {n} bytes, then stopped",
                                 data={"received": len(buf)})
        return bytes(buf)

    def read_until(self, terminator: bytes, ctx: OpContext | None = None, *, max_len: int = 65536,
                   timeout: float | None = None) -> bytes:
        """Read up to and including *terminator* (``invalidData`` past *max_len*)."""
        gap = self.answer_timeout if timeout is None else timeout
        buf = bytearray()
        until = time.monotonic() + gap
        while not buf.endswith(terminator):
            if len(buf) >= max_len:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"no terminator within {max_len} bytes")
            chunk = self._read_some(1, ctx, until)
            if chunk:
                buf += chunk
                until = time.monotonic() + gap
            elif time.monotonic() >= until:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR,
                                 f"device sent {len(buf)} bytes, then nothing for {gap:g} s" if buf
                                 else f"device did not answer within {gap:g} s", data={"received": len(buf)})
        return bytes(buf)
