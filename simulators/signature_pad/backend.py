"""A pyusb ``IBackend`` that presents a simulated pad as a USB HID device (no kernel, no libusb).

The kernels this project is tested on have no USB stack (docs/test-peers.md §8), so the driver's pyusb calls
(``usb.core.find``, ``set_configuration``, HID GET/SET_REPORT control transfers, interrupt IN reads)
land here and are answered by :class:`~gtsdk.simulators.signature_pad.pad.Pad`.
"""

from __future__ import annotations

import array
import errno
import types
from typing import Any

import usb.backend
import usb.core
import usb.util

from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.simulators.signature_pad.pad import Pad


def _ns(**kw: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**kw)


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class PadBackend(usb.backend.IBackend):  # type: ignore[misc]
    def __init__(self, pad: Pad) -> None:
        self.pad = pad

    def _check(self) -> None:
        if self.pad.unplugged:
            raise _gone()

    def enumerate_devices(self) -> Any:
        if not self.pad.unplugged:
            yield "stu0"

    def get_device_descriptor(self, dev: Any) -> Any:
        return _ns(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                   bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=K.VENDOR_ID, idProduct=self.pad.model.product_id,
                   bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=0, bNumConfigurations=1,
                   address=1, bus=1, port_number=1, port_numbers=(1,), speed=usb.util.SPEED_FULL)

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        return _ns(bLength=9, bDescriptorType=2, wTotalLength=34, bNumInterfaces=1, bConfigurationValue=1,
                   iConfiguration=0, bmAttributes=0x80, bMaxPower=250, extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        if intf != 0 or alt != 0:
            raise IndexError("no such interface")
        return _ns(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=1,
                   bInterfaceClass=3, bInterfaceSubClass=0, bInterfaceProtocol=0, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        if ep != 0:
            raise IndexError("no such endpoint")
        return _ns(bLength=7, bDescriptorType=5, bEndpointAddress=0x81, bmAttributes=3, wMaxPacketSize=64,
                   bInterval=5, bRefresh=0, bSynchAddress=0, extra_descriptors=[])

    def open_device(self, dev: Any) -> Any:
        self._check()
        return "handle"

    def close_device(self, h: Any) -> None:
        pass

    def set_configuration(self, h: Any, v: int) -> None:
        self._check()

    def get_configuration(self, h: Any) -> int:
        self._check()
        return 1

    def set_interface_altsetting(self, h: Any, intf: int, alt: int) -> None:
        self._check()

    def claim_interface(self, h: Any, intf: int) -> None:
        self._check()

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

    def intr_read(self, h: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self._check()
        data = self.pad.read_report(timeout or 1000)
        if data is None:
            self._check()
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        n = min(len(buff), len(data))
        buff[:n] = array.array("B", data[:n])
        return n

    def ctrl_transfer(self, h: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int, data: Any,
                      timeout: int) -> int:
        self._check()
        rtype, rid = wValue >> 8, wValue & 0xFF
        if bmRequestType == 0xA1 and bRequest == K.HID_GET_REPORT and rtype == K.FEATURE:
            r = self.pad.get_feature(rid)[: len(data)]
            data[: len(r)] = array.array("B", r)
            return len(r)
        if bmRequestType == 0x21 and bRequest == K.HID_SET_REPORT and rtype == K.FEATURE:
            payload = bytes(data)
            if not payload or payload[0] != rid:
                raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
            self.pad.set_feature(payload)
            return len(payload)
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
