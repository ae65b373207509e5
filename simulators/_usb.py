"""A fake USB bus: one pyusb backend (``usb.backend.IBackend``) in front of any simulated device.

The kernels these simulators run on have no USB stack (docs/test-peers.md), so a simulated
USB device lives in-process: a driver's setting ``usb_backend``/``backend`` =
``"gtsdk.simulators._usb:backend"`` with the argument naming the device (its :attr:`key`)
makes pyusb enumerate it, read its descriptors, claim its interface and run bulk,
interrupt and control transfers against it, exactly as against libusb.

A simulated device is a :class:`UsbDescription` (ids, one interface, its endpoints,
strings) and a :class:`UsbFunction` (what the device does with transfers).  The bus
answers the standard requests itself (string descriptors), models a kernel driver that
owns the interface until it is detached (``usblp``, ``usbhid``), counts open handles
and claimed interfaces (so tests see that a driver released everything) and makes
every call fail with ENODEV / libusb NO_DEVICE while the device is unplugged.
"""

from __future__ import annotations

import array
import collections
import errno
import itertools
import threading
import time
import types
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import usb.backend
import usb.core
import usb.util

from gtsdk.simulators._history import History

__all__ = ["Endpoint", "FakeUsbBackend", "PacketQueue", "UsbDescription", "UsbFunction", "backend", "devices"]

_LIBUSB_NO_DEVICE = -4
_LIBUSB_PIPE = -9
_LIBUSB_TIMEOUT = -7
_GET_DESCRIPTOR = 6
_STRING = 3
_LANGID_EN_US = 0x0409


@dataclass(frozen=True)
class Endpoint:
    address: int  # bit 7 set: IN
    kind: Literal["bulk", "interrupt"] = "bulk"
    max_packet: int = 64
    interval: int = 0


@dataclass(frozen=True)
class UsbDescription:
    """The descriptors of a one-configuration, one-interface device."""

    vendor_id: int
    product_id: int
    interface_class: int
    endpoints: tuple[Endpoint, ...]
    interface_subclass: int = 0
    interface_protocol: int = 0
    manufacturer: str = ""
    product: str = ""
    serial: str = ""
    max_power_ma: int = 100


class UsbFunction(Protocol):
    """What a simulated device does with transfers (timeouts in seconds)."""

    def usb_out(self, endpoint: int, data: bytes) -> None:
        """Bytes the host sent to an OUT endpoint."""

    def usb_in(self, endpoint: int, size: int, timeout: float) -> bytes | None:
        """Up to *size* bytes for an IN endpoint, or ``None`` if nothing comes within *timeout*."""

    def usb_control(self, request_type: int, request: int, value: int, index: int, data: bytes,
                    length: int) -> bytes | None:
        """A class or vendor request: the answer (IN; at most *length*), ``b""`` (OUT accepted) or ``None`` (stall)."""


class PacketQueue:
    """What a device has queued for the host: :meth:`get` waits up to its timeout, like a pending IN transfer."""

    def __init__(self) -> None:
        self._q: collections.deque[bytes] = collections.deque()
        self._cv = threading.Condition()

    def put(self, data: bytes) -> None:
        with self._cv:
            self._q.append(data)
            self._cv.notify_all()

    def get(self, size: int, timeout: float) -> bytes | None:
        end = time.monotonic() + timeout
        with self._cv:
            while not self._q:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)
            d = self._q.popleft()
            if len(d) > size:
                self._q.appendleft(d[size:])
            return d[:size]

    def clear(self) -> None:
        with self._cv:
            self._q.clear()

    def __len__(self) -> int:
        return len(self._q)


def _ns(**kw: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**kw)


def _error(text: str, code: int, err: int) -> usb.core.USBError:
    return usb.core.USBError(text, code, err)


_REGISTRY: dict[str, FakeUsbBackend] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


class FakeUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """One simulated device on its own bus, registered under :attr:`key` until :meth:`release`."""

    def __init__(self, description: UsbDescription, function: UsbFunction, *, kernel_driver: bool = False) -> None:
        self.description = description
        self.function = function
        self.unplugged = False
        #: a kernel driver owns the interface until the host detaches it
        self.kernel_driver_active = self._kernel_driver = kernel_driver
        self.handles = 0
        self.claimed: set[int] = set()
        self.log: History[str] = History()  # detach/attach/claim/release, in order (the newest)
        self._strings = [s for s in (description.manufacturer, description.product, description.serial)]
        with _lock:
            self.key = f"usb{next(_ids)}"
            _REGISTRY[self.key] = self

    def unplug(self) -> None:
        """The device leaves the bus: every call fails with ENODEV, its handles and claims are gone."""
        self.unplugged = True
        self.handles = 0
        self.claimed.clear()

    def replug(self) -> None:
        """The device enumerates again (and its kernel driver, if it has one, binds to it again)."""
        if self.unplugged:
            self.unplugged = False
            self.kernel_driver_active = self._kernel_driver

    def release(self) -> None:
        """Take the device off the registry (the simulation stops)."""
        with _lock:
            _REGISTRY.pop(self.key, None)

    def _check(self) -> None:
        if self.unplugged:
            raise _error("No such device (it may have been disconnected)", _LIBUSB_NO_DEVICE, errno.ENODEV)

    def _string_index(self, i: int) -> int:
        return i + 1 if self._strings[i] else 0

    # ---- descriptors -------------------------------------------------------------------------
    def enumerate_devices(self) -> Any:
        if not self.unplugged:
            yield "dev0"

    def get_device_descriptor(self, dev: Any) -> Any:
        d = self.description
        return _ns(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                   bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=d.vendor_id, idProduct=d.product_id,
                   bcdDevice=0x0100, iManufacturer=self._string_index(0), iProduct=self._string_index(1),
                   iSerialNumber=self._string_index(2), bNumConfigurations=1, address=1, bus=1, port_number=1,
                   port_numbers=(1,), speed=usb.util.SPEED_FULL)

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        if config != 0:
            raise IndexError("no such configuration")
        return _ns(bLength=9, bDescriptorType=2, wTotalLength=18 + 7 * len(self.description.endpoints),
                   bNumInterfaces=1, bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80,
                   bMaxPower=self.description.max_power_ma // 2, extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        if intf != 0 or alt != 0:
            raise IndexError("no such interface")
        d = self.description
        return _ns(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                   bNumEndpoints=len(d.endpoints), bInterfaceClass=d.interface_class,
                   bInterfaceSubClass=d.interface_subclass, bInterfaceProtocol=d.interface_protocol, iInterface=0,
                   extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        if not 0 <= ep < len(self.description.endpoints):
            raise IndexError("no such endpoint")
        e = self.description.endpoints[ep]
        return _ns(bLength=7, bDescriptorType=5, bEndpointAddress=e.address,
                   bmAttributes=usb.util.ENDPOINT_TYPE_BULK if e.kind == "bulk" else usb.util.ENDPOINT_TYPE_INTR,
                   wMaxPacketSize=e.max_packet, bInterval=e.interval, bRefresh=0, bSynchAddress=0,
                   extra_descriptors=[])

    # ---- the device handle ------------------------------------------------------------------------
    def open_device(self, dev: Any) -> Any:
        self._check()
        self.handles += 1
        return "handle"

    def close_device(self, h: Any) -> None:
        self.handles = max(0, self.handles - 1)
        self.claimed.clear()

    def set_configuration(self, h: Any, v: int) -> None:
        self._check()

    def get_configuration(self, h: Any) -> int:
        self._check()
        return 1

    def set_interface_altsetting(self, h: Any, intf: int, alt: int) -> None:
        self._check()

    def claim_interface(self, h: Any, intf: int) -> None:
        self._check()
        if self.kernel_driver_active:  # libusb: LIBUSB_ERROR_BUSY while a kernel driver holds it
            raise _error("Resource busy", -6, errno.EBUSY)
        self.claimed.add(intf)
        self.log.append(f"claim {intf}")

    def release_interface(self, h: Any, intf: int) -> None:
        self._check()
        if intf in self.claimed:
            self.claimed.discard(intf)
            self.log.append(f"release {intf}")

    def is_kernel_driver_active(self, h: Any, intf: int) -> bool:
        self._check()
        return self.kernel_driver_active

    def detach_kernel_driver(self, h: Any, intf: int) -> None:
        self._check()
        self.kernel_driver_active = False
        self.log.append("detach")

    def attach_kernel_driver(self, h: Any, intf: int) -> None:
        self._check()
        self.kernel_driver_active = True
        self.log.append("attach")

    def clear_halt(self, h: Any, ep: int) -> None:
        self._check()

    def reset_device(self, h: Any) -> None:
        self._check()

    # ---- transfers ------------------------------------------------------------------------------------
    def _read(self, ep: int, buff: Any, timeout: int) -> int:
        self._check()
        data = self.function.usb_in(ep, len(buff), (timeout or 1000) / 1000.0)
        self._check()  # unplugged while waiting
        if data is None:
            raise usb.core.USBTimeoutError("Operation timed out", _LIBUSB_TIMEOUT, errno.ETIMEDOUT)
        n = min(len(buff), len(data))
        buff[:n] = array.array("B", data[:n])
        return n

    def _write(self, ep: int, data: Any) -> int:
        self._check()
        self.function.usb_out(ep, bytes(data))
        return len(data)

    def bulk_read(self, h: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(ep, buff, timeout)

    def intr_read(self, h: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(ep, buff, timeout)

    def bulk_write(self, h: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        return self._write(ep, data)

    def intr_write(self, h: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        return self._write(ep, data)

    def ctrl_transfer(self, h: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int, data: Any,
                      timeout: int) -> int:
        self._check()
        device_to_host = bool(bmRequestType & 0x80)
        payload = b"" if device_to_host else bytes(data)
        if bmRequestType & 0x60 == 0:  # standard request: the bus answers
            answer = self._standard(bRequest, wValue)
        else:
            answer = self.function.usb_control(bmRequestType, bRequest, wValue, wIndex, payload, len(data))
        if answer is None:
            raise _error("Pipe error", _LIBUSB_PIPE, errno.EPIPE)
        if not device_to_host:
            return len(payload)
        r = answer[: len(data)]
        data[: len(r)] = array.array("B", r)
        return len(r)

    def _standard(self, request: int, value: int) -> bytes | None:
        if request != _GET_DESCRIPTOR or value >> 8 != _STRING:
            return None
        index = value & 0xFF
        if index == 0:
            return bytes([4, _STRING]) + _LANGID_EN_US.to_bytes(2, "little")
        if index > len(self._strings) or not self._strings[index - 1]:
            return None
        text = self._strings[index - 1].encode("utf-16-le")
        return bytes([2 + len(text), _STRING]) + text


def backend(key: str) -> FakeUsbBackend:
    """The simulated device registered under *key*: the factory a driver's backend setting names."""
    with _lock:
        found = _REGISTRY.get(key)
    if found is None:
        raise LookupError(f"no simulated USB device {key!r}")
    return found


def devices() -> dict[str, FakeUsbBackend]:
    """The simulated USB devices now on the bus, by key."""
    with _lock:
        return dict(_REGISTRY)
