"""A pyusb backend that puts the simulated receipt printer on a (fake) USB bus.

There is no USB in these kernels (docs/test-peers.md §8), so the
device lives in-process behind a ``usb.backend.IBackend``: the driver keeps
calling ``usb.core.find(..., backend=...)``, ``ep_out.write`` and ``ep_in.read``
exactly as against libusb.
Printer class interface (bInterfaceClass 7, subclass 1, protocol 2 bidirectional),
bulk OUT 0x01 and bulk IN 0x81.
"""

from __future__ import annotations

import array
import collections
import errno
import itertools
import threading
import types
from typing import Any

import usb.backend
import usb.core
import usb.util

from .engine import PrinterEngine

VID, PID = 0x0416, 0x5011

_REGISTRY: dict[str, FakeUsbBackend] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


def _ns(**kw: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**kw)


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device", errno.ENODEV, errno.ENODEV)


class FakeUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """One USB receipt printer wrapping a :class:`PrinterEngine`."""

    def __init__(self, engine: PrinterEngine, vid: int = VID, pid: int = PID) -> None:
        self.engine = engine
        self.vid, self.pid = vid, pid
        self.inq: collections.deque[bytes] = collections.deque()
        self.unplugged = False
        self.mute = False
        self.garble = False
        with _lock:
            self.key = f"usb{next(_ids)}"
            _REGISTRY[self.key] = self

    def release(self) -> None:
        with _lock:
            _REGISTRY.pop(self.key, None)

    # descriptors
    def enumerate_devices(self) -> Any:
        if not self.unplugged:
            yield "dev0"

    def get_device_descriptor(self, dev: Any) -> Any:
        return _ns(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                   bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=self.vid, idProduct=self.pid, bcdDevice=0x0100,
                   iManufacturer=0, iProduct=0, iSerialNumber=0, bNumConfigurations=1,
                   address=1, bus=1, port_number=1, port_numbers=(1,), speed=usb.util.SPEED_FULL)

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        return _ns(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1, bConfigurationValue=1,
                   iConfiguration=0, bmAttributes=0x80, bMaxPower=50, extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        if intf != 0 or alt != 0:
            raise IndexError
        return _ns(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=2,
                   bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        addr = [0x01, 0x81][ep]
        return _ns(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=2, wMaxPacketSize=64,
                   bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[])

    # device handle
    def open_device(self, dev: Any) -> Any:
        if self.unplugged:
            raise _gone()
        return "handle"

    def close_device(self, h: Any) -> None:
        pass

    def set_configuration(self, h: Any, v: int) -> None:
        if self.unplugged:
            raise _gone()

    def get_configuration(self, h: Any) -> int:
        return 1

    def set_interface_altsetting(self, h: Any, intf: int, alt: int) -> None:
        pass

    def claim_interface(self, h: Any, intf: int) -> None:
        pass

    def release_interface(self, h: Any, intf: int) -> None:
        pass

    def is_kernel_driver_active(self, h: Any, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, h: Any, intf: int) -> None:
        pass

    def attach_kernel_driver(self, h: Any, intf: int) -> None:
        pass

    def clear_halt(self, h: Any, ep: int) -> None:
        pass

    def reset_device(self, h: Any) -> None:
        pass

    # transfers
    def bulk_write(self, h: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        if self.unplugged:
            raise _gone()
        reply = self.engine.feed(bytes(data))
        if reply and self.garble:
            self.garble = False
            i = len(reply) // 2
            reply = reply[:i] + bytes([reply[i] ^ 0x01]) + reply[i + 1:]
        if reply and not self.mute:
            self.inq.append(reply)
        return len(data)

    def bulk_read(self, h: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        if self.unplugged:
            raise _gone()
        if not self.inq:
            raise usb.core.USBTimeoutError("timeout", errno.ETIMEDOUT, errno.ETIMEDOUT)
        d = self.inq.popleft()
        n = min(len(d), len(buff))
        if n < len(d):
            self.inq.appendleft(d[n:])
        buff[:n] = array.array("B", d[:n])
        return n

    def ctrl_transfer(self, h: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int, data: Any,
                      timeout: int) -> int:
        if self.unplugged:
            raise _gone()
        if bmRequestType & 0x80:
            # USB printer class GET_PORT_STATUS (bRequest 1): bit3 not error, bit4 selected, bit5 paper empty
            e = self.engine
            r = bytes([(0x20 if e.paper_out else 0) | 0x10 | (0 if e.offline else 0x08)]) if bRequest == 1 else b""
            data[:len(r)] = array.array("B", r)
            return len(r)
        return len(data)


def backend(key: str) -> FakeUsbBackend:
    """The backend registered under *key* (the driver's ``usb_backend_arg``)."""
    with _lock:
        be = _REGISTRY.get(key)
    if be is None:
        raise LookupError(f"no simulated USB printer {key!r}")
    return be
