"""The simulated pad on the fake USB bus (:mod:`gtsdk.simulators._usb`): a Wacom STU as a USB HID device.

One HID interface (class 3) with an interrupt IN endpoint 0x81 for pen reports; feature
reports travel as HID GET_REPORT / SET_REPORT control requests (HID 1.11 §7.2.1, §7.2.2)
and are answered by :class:`~gtsdk.simulators.signature_pad.pad.Pad`.  ``usbhid`` owns the
interface until the driver detaches it, as on a real Linux host.
"""

from __future__ import annotations

from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.simulators._usb import Endpoint, FakeUsbBackend, UsbDescription
from gtsdk.simulators.signature_pad.pad import Pad

__all__ = ["PadUsb", "fake_usb_pad"]

_CLASS_IN, _CLASS_OUT = 0xA1, 0x21  # class request to/from the interface


class PadUsb:
    """The pad's USB function."""

    def __init__(self, pad: Pad) -> None:
        self.pad = pad

    def usb_out(self, endpoint: int, data: bytes) -> None:
        """The STU has no OUT endpoint; everything the host says goes through feature reports."""

    def usb_in(self, endpoint: int, size: int, timeout: float) -> bytes | None:
        report = self.pad.read_report(max(1, round(timeout * 1000)))
        return None if report is None else report[:size]

    def usb_control(self, request_type: int, request: int, value: int, index: int, data: bytes,
                    length: int) -> bytes | None:
        rtype, rid = value >> 8, value & 0xFF
        if request_type == _CLASS_IN and request == K.HID_GET_REPORT and rtype == K.FEATURE:
            return self.pad.get_feature(rid)[:length]
        if request_type == _CLASS_OUT and request == K.HID_SET_REPORT and rtype == K.FEATURE and data[:1] == \
                bytes([rid]):
            self.pad.set_feature(data)
            return b""
        return None  # a stall, as the pad answers anything else


def fake_usb_pad(pad: Pad) -> FakeUsbBackend:
    """*pad* on the fake USB bus; the backend's ``key`` is the driver's ``backend_arg``."""
    m = pad.model
    description = UsbDescription(vendor_id=K.VENDOR_ID, product_id=m.product_id, interface_class=3,
                                 endpoints=(Endpoint(0x81, "interrupt", 64, 5),), manufacturer="Wacom Co.,Ltd.",
                                 product=m.name, serial=m.serial, max_power_ma=500)
    return FakeUsbBackend(description, PadUsb(pad), kernel_driver=True)
