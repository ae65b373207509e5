"""One USB interface through pyusb: find, claim, transfer with deadlines, release.

:meth:`UsbLink.open` finds the device by vendor id (and product ids, serial number), takes
the interface from a kernel driver that owns it (``usblp`` for a printer, ``usbhid`` for
a signature pad) remembering to give it back, sets the configuration, claims the
interface and picks its IN and OUT endpoints (bulk or interrupt).  :meth:`UsbLink.close`
releases the interface, re-attaches the kernel driver it detached and frees pyusb's
resources; a device that vanished closes the link itself, and the next :meth:`open`
finds it again wherever it re-enumerated (the runtime's reconnect).

Every transfer waits at most ``min(answer_timeout, what is left of the operation)``;
reads wait in slices of :data:`SLICE` seconds so cancel is noticed, and ask for one
packet at a time (a cancelled single-packet transfer loses nothing).  Failures:

- no backend, no such device, the device went away (ENODEV/EIO, libusb NO_DEVICE) → ``noDevice``
- the device does not answer in time, stalls (EPIPE) or another USB error     → ``communicationError``
- the operation deadline passes / it is cancelled                             → ``timeOut`` / ``canceled``

The pyusb backend is injectable: a ``usb.backend.IBackend`` object, or a driver setting
``"package.module:factory"`` (:func:`load_backend`) — the simulators' fake USB bus, a
USB/IP client — so the same driver code runs against real and simulated devices.
"""

from __future__ import annotations

import errno
import importlib
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from gtsdk.driver import OpContext
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.transport import io_timeout

try:  # the printers/biometrics extras; imported once here because pyusb's package import is not thread-safe
    import usb.core
    import usb.util
except ImportError:  # pragma: no cover - reported by UsbLink.open
    usb = None

__all__ = ["SLICE", "UsbLink", "UsbMatch", "load_backend", "parse_vid_pid"]

#: longest single blocking read, so cancel is noticed promptly
SLICE = 0.05
#: USB full speed bulk: 19 64-byte packets per 1 ms frame (USB 2.0 §5.8.4) ≈ 1.2 MB/s
FULL_SPEED_BULK_BYTES_PER_SECOND = 19 * 64 * 1000
_GONE_ERRNO = {errno.ENODEV, errno.ENOENT, errno.EIO, errno.ENXIO, errno.ESHUTDOWN}
_LIBUSB_NO_DEVICE = -4


def load_backend(spec: str, arg: str | None = None, *, field: str = "backend") -> Any:
    """``"package.module:factory"`` → ``factory(arg)`` (or ``factory()``): a pyusb backend.

    A spec that does not name a callable is a ``configError`` on *field*; a factory that
    finds no device (``LookupError``) is ``noDevice``; its own catalogue errors pass through.
    """
    mod_name, sep, attr = spec.partition(":")
    try:
        if not sep or not mod_name or not attr:
            raise ValueError(spec)
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(field, f"cannot load USB backend {spec!r}: {type(e).__name__}") from None
    if not callable(factory):
        raise ConfigError(field, f"USB backend {spec!r} is not a factory")
    try:
        return factory(arg) if arg is not None else factory()
    except LookupError as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"USB backend {spec}: {e}") from None
    except TypeError as e:
        raise ConfigError(field, f"USB backend {spec!r} cannot be called so: {type(e).__name__}") from None


def parse_vid_pid(text: str, field: str = "usb") -> tuple[int, int]:
    """``"0416:5011"`` → ``(0x0416, 0x5011)``; anything else is a ``configError`` on *field*."""
    vid, sep, pid = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        v, p = int(vid, 16), int(pid, 16)
        if not (0 <= v <= 0xFFFF and 0 <= p <= 0xFFFF):
            raise ValueError(text)
        return v, p
    except ValueError:
        raise ConfigError(field, "must look like VID:PID in hex, e.g. 0416:5011") from None


@dataclass(frozen=True)
class UsbMatch:
    """Which device to open: a vendor, optionally some of its products and one serial number."""

    vendor_id: int
    product_ids: frozenset[int] | None = None  # None: any product of the vendor
    serial: str | None = None

    @classmethod
    def of(cls, vendor_id: int, product_ids: int | Collection[int] | None = None,
           serial: str | None = None) -> UsbMatch:
        pids = frozenset([product_ids]) if isinstance(product_ids, int) else \
            frozenset(product_ids) if product_ids is not None else None
        return cls(vendor_id, pids, serial or None)

    def __call__(self, dev: Any) -> bool:
        if int(dev.idVendor) != self.vendor_id:
            return False
        if self.product_ids is not None and int(dev.idProduct) not in self.product_ids:
            return False
        if self.serial is None:
            return True
        try:
            return bool(usb.util.get_string(dev, dev.iSerialNumber) == self.serial)
        except (usb.core.USBError, ValueError, NotImplementedError):  # no permission / no string descriptors
            return False

    def __str__(self) -> str:
        pids = "/".join(f"{p:04x}" for p in sorted(self.product_ids)) if self.product_ids else "*"
        return f"{self.vendor_id:04x}:{pids}" + (f" serial {self.serial}" if self.serial else "")


def _gone(e: BaseException) -> bool:
    return (getattr(e, "errno", None) in _GONE_ERRNO or getattr(e, "backend_error_code", None) == _LIBUSB_NO_DEVICE
            or isinstance(e, usb.core.NoBackendError))


def _ms(seconds: float) -> int:
    """A libusb timeout: whole milliseconds, at least 1 (0 would mean forever)."""
    return max(1, math.ceil(seconds * 1000))


class UsbLink:
    """One claimed interface of one USB device."""

    def __init__(self, match: UsbMatch, *, backend: Any = None, interface: int = 0, answer_timeout: float = 1.0,
                 name: str = "USB device") -> None:
        self.match = match
        self.backend = backend
        self.interface = interface
        self.answer_timeout = answer_timeout
        self.name = name
        self.device: Any = None
        self.ep_in: Any = None
        self.ep_out: Any = None
        self._detached = False
        self._rx = bytearray()  # bytes of a packet beyond what a read_exact asked for

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.device is not None

    def open(self) -> None:
        """Find, take over and claim the interface (closing a previous session first)."""
        if usb is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "pyusb is not installed (pip install gtsdk[printers] or "
                             "gtsdk[biometrics])")
        self.close()
        try:
            dev = usb.core.find(idVendor=self.match.vendor_id, custom_match=self.match, backend=self.backend)
        except usb.core.NoBackendError:
            raise GtsdkError(ErrorCode.NO_DEVICE, "no USB backend (libusb) available") from None
        except (usb.core.USBError, ValueError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"USB enumeration failed: {type(e).__name__}") from None
        if dev is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"no {self.name} {self.match} on USB")
        try:
            self._claim(dev)
        except usb.core.USBError as e:
            self._release(dev)
            raise self._error(e, "USB set-up") from None
        except (KeyError, IndexError):  # get_active_configuration()[(intf, 0)]: no such interface
            self._release(dev)
            raise GtsdkError(ErrorCode.NO_DEVICE, f"{self.name} has no interface {self.interface}") from None
        self.device = dev

    def _claim(self, dev: Any) -> None:
        self._detached = False
        try:  # on Linux a kernel driver (usblp, usbhid) usually owns the interface
            if dev.is_kernel_driver_active(self.interface):
                dev.detach_kernel_driver(self.interface)
                self._detached = True
        except NotImplementedError:  # not on this platform or backend
            pass
        dev.set_configuration()
        intf = dev.get_active_configuration()[(self.interface, 0)]
        usb.util.claim_interface(dev, self.interface)

        def direction(d: int) -> Any:
            return usb.util.find_descriptor(
                intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == d)

        self.ep_in, self.ep_out = direction(usb.util.ENDPOINT_IN), direction(usb.util.ENDPOINT_OUT)

    def close(self) -> None:
        """Release the interface, give it back to its kernel driver, free pyusb's handle."""
        dev, self.device = self.device, None
        self._rx.clear()
        if dev is not None:
            self._release(dev)

    def _release(self, dev: Any) -> None:
        steps: list[Callable[[], object]] = [lambda: usb.util.release_interface(dev, self.interface)]
        if self._detached:
            steps.append(lambda: dev.attach_kernel_driver(self.interface))
        steps.append(lambda: usb.util.dispose_resources(dev))
        for step in steps:
            try:
                step()
            except (usb.core.USBError, NotImplementedError, ValueError):  # a vanished device: nothing to give back
                continue
        self._detached = False
        self.ep_in = self.ep_out = None

    def _error(self, e: BaseException, what: str) -> GtsdkError:
        if isinstance(e, usb.core.USBTimeoutError):
            return GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{what}: {self.name} did not answer in time")
        if _gone(e):
            self.close()
            return GtsdkError(ErrorCode.NO_DEVICE, f"{what}: {self.name} is gone")
        name = errno.errorcode.get(getattr(e, "errno", None) or 0, "USB error")
        return GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{what}: {name}")

    def _need(self) -> Any:
        if self.device is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"{self.name} not open")
        return self.device

    # ---- transfers ------------------------------------------------------------------------------
    def write(self, data: bytes, ctx: OpContext | None = None, *, chunk: int = 4096) -> None:
        """Send *data* to the OUT endpoint in transfers of *chunk* bytes, each within the deadline."""
        dev = self._need()
        if self.ep_out is None:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, f"{self.name} has no OUT endpoint")
        for i in range(0, len(data), chunk):
            if ctx is not None:
                ctx.check()
            try:
                dev.write(self.ep_out.bEndpointAddress, data[i:i + chunk], _ms(io_timeout(self.answer_timeout, ctx)))
            except usb.core.USBError as e:
                raise self._error(e, "USB write") from None

    def read_packet(self, ctx: OpContext | None = None, *, timeout: float | None = None) -> bytes | None:
        """One packet from the IN endpoint, or ``None`` if none came within *timeout* (default: the
        answer timeout; always cut to the operation's deadline, and waited for in slices)."""
        dev = self._need()
        if self.ep_in is None:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, f"{self.name} has no IN endpoint")
        if self._rx:
            out, self._rx = bytes(self._rx), bytearray()
            return out
        until = time.monotonic() + (self.answer_timeout if timeout is None else timeout)
        size = int(getattr(self.ep_in, "wMaxPacketSize", 64)) or 64
        while True:
            if ctx is not None:
                ctx.check()
            wait = io_timeout(min(SLICE, max(until - time.monotonic(), 0.0)), ctx)
            try:
                return bytes(dev.read(self.ep_in.bEndpointAddress, size, _ms(wait)))
            except usb.core.USBTimeoutError:
                if time.monotonic() >= until:
                    return None
            except usb.core.USBError as e:
                raise self._error(e, "USB read") from None

    def read_exact(self, n: int, ctx: OpContext | None = None, *, timeout: float | None = None) -> bytes:
        """Exactly *n* bytes; ``communicationError`` if the device stops sending for *timeout* s
        (the wait restarts whenever a packet arrives).  Bytes beyond *n* wait for the next read."""
        gap = self.answer_timeout if timeout is None else timeout
        buf = bytearray()
        while len(buf) < n:
            packet = self.read_packet(ctx, timeout=gap)
            if packet is None:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"device sent {len(buf)} of {n} bytes, then stopped",
                                 data={"received": len(buf)})
            buf += packet
        self._rx[:0] = buf[n:]
        return bytes(buf[:n])

    def discard_input(self, max_packets: int = 64) -> None:
        """Drop what the device has queued (at most *max_packets* packets)."""
        dev = self._need()
        self._rx.clear()
        if self.ep_in is None:
            return
        size = int(getattr(self.ep_in, "wMaxPacketSize", 64)) or 64
        for _ in range(max_packets):
            try:
                dev.read(self.ep_in.bEndpointAddress, size, 1)
            except usb.core.USBTimeoutError:
                return
            except usb.core.USBError as e:
                raise self._error(e, "USB read") from None

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int,
                   ctx: OpContext | None = None) -> bytes:
        """A control transfer from the device (e.g. HID GET_REPORT), within the deadline."""
        return bytes(self._control(request_type, request, value, index, length, ctx))

    def control_out(self, request_type: int, request: int, value: int, index: int, data: bytes,
                    ctx: OpContext | None = None) -> None:
        """A control transfer to the device (e.g. HID SET_REPORT), within the deadline."""
        self._control(request_type, request, value, index, data, ctx)

    def _control(self, request_type: int, request: int, value: int, index: int, data_or_length: bytes | int,
                 ctx: OpContext | None) -> Any:
        dev = self._need()
        if ctx is not None:
            ctx.check()
        try:
            return dev.ctrl_transfer(request_type, request, value, index, data_or_length,
                                     _ms(io_timeout(self.answer_timeout, ctx)))
        except usb.core.USBError as e:
            raise self._error(e, f"control request 0x{request:02X}") from None

    @staticmethod
    def wire_time(nbytes: int) -> float:
        """Seconds *nbytes* need on a full-speed bulk pipe (a lower bound for a printer's job)."""
        return nbytes / FULL_SPEED_BULK_BYTES_PER_SECOND
