"""Byte transports for the ESC/POS driver: serial (pyserial via SerialLink) and USB bulk (pyusb).

The USB transport takes an injectable pyusb backend (``usb.backend.IBackend``)
so a simulated printer can stand behind it (docs/test-peers.md §8: no USB in these kernels).
"""

from __future__ import annotations

import errno
import importlib
import time
from typing import Any, Protocol

from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.transport.serial import SerialLink


class Transport(Protocol):
    kind: str

    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes, ctx: OpContext | None = None) -> None: ...
    def read(self, n: int, ctx: OpContext | None = None, timeout: float | None = None) -> bytes: ...
    def discard_input(self) -> None: ...
    def wire_time(self, nbytes: int) -> float: ...


class SerialTransport:
    kind = "serial"

    def __init__(self, port: str, baudrate: int, parity: str = "N", stopbits: float = 1,
                 answer_timeout: float = 1.0) -> None:
        self.link = SerialLink(port, baudrate, parity=parity, stopbits=stopbits, answer_timeout=answer_timeout)

    def open(self) -> None:
        self.link.open()

    def close(self) -> None:
        self.link.close()

    def write(self, data: bytes, ctx: OpContext | None = None) -> None:
        self.link.write(data, ctx)

    def read(self, n: int, ctx: OpContext | None = None, timeout: float | None = None) -> bytes:
        return self.link.read_exact(n, ctx, timeout=timeout)

    def discard_input(self) -> None:
        self.link.reset_input()

    def wire_time(self, nbytes: int) -> float:
        return self.link.wire_time(nbytes)


def load_backend(spec: str, arg: str | None) -> Any:
    """``"package.module:function"`` → ``function(arg)`` (or ``function()``): a pyusb backend."""
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
        return factory(arg) if arg else factory()
    except (ImportError, AttributeError, LookupError, TypeError, ValueError) as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"USB backend {spec} unavailable: {type(e).__name__}") from None


def parse_vid_pid(text: str) -> tuple[int, int]:
    vid, sep, pid = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(vid, 16), int(pid, 16)
    except ValueError:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "usb must look like VID:PID in hex, e.g. 0416:5011",
                         field="usb") from None


class UsbTransport:
    """USB printer class, bulk OUT/IN endpoints of interface 0."""

    kind = "usb"
    #: USB full speed bulk: 19 64-byte packets per 1 ms frame (USB 2.0 §5.8.4) ≈ 1.2 MB/s
    BYTES_PER_SECOND = 19 * 64 * 1000

    def __init__(self, vid: int, pid: int, backend: Any = None, answer_timeout: float = 1.0) -> None:
        self.vid, self.pid = vid, pid
        self.backend = backend
        self.answer_timeout = answer_timeout
        self.dev: Any = None
        self.ep_out: Any = None
        self.ep_in: Any = None

    def _lost(self, e: Exception) -> GtsdkError:
        import usb.core

        if isinstance(e, usb.core.USBTimeoutError):
            return GtsdkError(ErrorCode.COMMUNICATION_ERROR, "USB transfer timed out")
        if getattr(e, "errno", None) in (errno.ENODEV, errno.ENOENT, errno.EIO, errno.EPIPE):
            self.close()
            return GtsdkError(ErrorCode.NO_DEVICE, f"USB printer {self.vid:04x}:{self.pid:04x} lost")
        return GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"USB I/O failed: {type(e).__name__}")

    def open(self) -> None:
        import usb.core
        import usb.util

        self.close()
        try:
            dev = usb.core.find(idVendor=self.vid, idProduct=self.pid, backend=self.backend)
        except (usb.core.USBError, usb.core.NoBackendError, ValueError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"USB enumeration failed: {type(e).__name__}") from None
        if dev is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"no USB printer {self.vid:04x}:{self.pid:04x}")
        try:
            try:  # on Linux the usblp kernel driver usually owns a printer interface
                if dev.is_kernel_driver_active(0):
                    dev.detach_kernel_driver(0)
            except (NotImplementedError, usb.core.USBError):
                pass
            dev.set_configuration()
            intf = dev.get_active_configuration()[(0, 0)]
            out_dir, in_dir = usb.util.ENDPOINT_OUT, usb.util.ENDPOINT_IN
            self.ep_out = usb.util.find_descriptor(
                intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == out_dir)
            self.ep_in = usb.util.find_descriptor(
                intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == in_dir)
        except usb.core.USBError as e:
            raise self._lost(e) from None
        if self.ep_out is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "USB printer has no bulk OUT endpoint")
        self.dev = dev

    def close(self) -> None:
        dev, self.dev = self.dev, None
        if dev is not None:
            try:
                import usb.util

                usb.util.dispose_resources(dev)
            except Exception:
                pass

    def _need(self) -> Any:
        if self.dev is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "USB printer not open")
        return self.dev

    def write(self, data: bytes, ctx: OpContext | None = None) -> None:
        import usb.core

        self._need()
        for i in range(0, len(data), 4096):
            if ctx is not None:
                ctx.check()
            t = self.answer_timeout if ctx is None else min(self.answer_timeout, max(ctx.remaining(), 0.001))
            try:
                self.ep_out.write(data[i:i + 4096], timeout=max(1, int(t * 1000)))
            except usb.core.USBError as e:
                raise self._lost(e) from None

    def read(self, n: int, ctx: OpContext | None = None, timeout: float | None = None) -> bytes:
        import usb.core

        self._need()
        if self.ep_in is None:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "USB printer has no IN endpoint (no status)")
        gap = self.answer_timeout if timeout is None else timeout
        until = time.monotonic() + gap
        buf = bytearray()
        while len(buf) < n:
            if ctx is not None:
                ctx.check()
            try:
                buf += bytes(self.ep_in.read(64, timeout=20))
                until = time.monotonic() + gap
                continue
            except usb.core.USBTimeoutError:
                pass
            except usb.core.USBError as e:
                raise self._lost(e) from None
            if time.monotonic() >= until:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"device sent {len(buf)} of {n} bytes, then stopped")
            time.sleep(0.002)
        return bytes(buf[:n])

    def discard_input(self) -> None:
        import usb.core

        if self.ep_in is None:
            return
        for _ in range(64):
            try:
                self.ep_in.read(64, timeout=1)
            except usb.core.USBTimeoutError:
                return
            except usb.core.USBError as e:
                raise self._lost(e) from None

    def wire_time(self, nbytes: int) -> float:
        return nbytes / self.BYTES_PER_SECOND
