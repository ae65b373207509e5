"""Transports shared by drivers: the device access, bounded in time, with catalogue errors.

- :mod:`gtsdk.transport.serial` — a serial line (pyserial)
- :mod:`gtsdk.transport.usb` — a USB interface (pyusb, injectable backend)
- :mod:`gtsdk.transport.pcsc` — a PC/SC reader and the card on it (pyscard)
- :mod:`gtsdk.transport.modbus` — a Modbus RTU line shared by several boards (native frames or pymodbus)

Every call takes the operation's :class:`~gtsdk.driver.OpContext` (or none, for set-up and
polling): no transfer outlives the operation's deadline, cancel is noticed between
transfers, and failures are catalogue codes (``noDevice`` when the device went away,
``communicationError`` when it stopped answering, ``timeOut``/``canceled`` from the context).
Printing through CUPS, video and audio have no module here: pycups, OpenCV and sounddevice
are their transports, each used by one driver (see docs/transports.md).
"""

from __future__ import annotations

from typing import Protocol

from gtsdk.driver import OpContext

__all__ = ["ByteStream", "io_timeout"]

#: the shortest timeout handed to a blocking call (0 means "forever" to libusb and pyserial)
MIN_TIMEOUT = 0.001


def io_timeout(cap: float, ctx: OpContext | None) -> float:
    """Seconds one blocking call may wait: *cap*, cut to what is left of the operation."""
    if ctx is None:
        return cap
    return max(MIN_TIMEOUT, min(cap, ctx.remaining()))


class ByteStream(Protocol):
    """A byte pipe to a device (a serial line, a USB bulk pair): what stream drivers such as ESC/POS need."""

    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes, ctx: OpContext | None = None) -> None: ...
    def read_exact(self, n: int, ctx: OpContext | None = None, *, timeout: float | None = None) -> bytes: ...
    def discard_input(self) -> None: ...
    def wire_time(self, nbytes: int) -> float: ...
