"""The simulated receipt printer on the fake USB bus (:mod:`gtsdk.simulators._usb`).

USB printer class interface (bInterfaceClass 7, subclass 1, protocol 2 bidirectional,
USB Printer Class 1.1 §4.2), bulk OUT 0x01 and bulk IN 0x81.  The driver keeps calling pyusb
(``usb.core.find(..., backend=...)``, bulk writes and reads) exactly as against libusb.
No kernel driver holds the interface: python-escpos, a peer in the tests, detaches one only
when its backend is pyusb's libusb1 module.
"""

from __future__ import annotations

from gtsdk.simulators._pty import flip_middle_bit
from gtsdk.simulators._usb import Endpoint, FakeUsbBackend, PacketQueue, UsbDescription

from .engine import PrinterEngine

__all__ = ["PID", "VID", "UsbPrinter", "fake_usb_printer"]

VID, PID = 0x0416, 0x5011
OUT_EP, IN_EP = 0x01, 0x81
_GET_PORT_STATUS = 1

DESCRIPTION = UsbDescription(vendor_id=VID, product_id=PID, interface_class=7, interface_subclass=1,
                             interface_protocol=2, endpoints=(Endpoint(OUT_EP), Endpoint(IN_EP)),
                             manufacturer="gtsdk", product="Simulated ESC/POS receipt printer", serial="SIM0001")


class UsbPrinter:
    """The printer's USB function: bytes to the engine, its replies back on bulk IN."""

    def __init__(self, engine: PrinterEngine) -> None:
        self.engine = engine
        self.replies = PacketQueue()
        self.mute = False
        self.garble = False

    def usb_out(self, endpoint: int, data: bytes) -> None:
        reply = self.engine.feed(data)
        if reply and self.garble:
            self.garble = False
            reply = flip_middle_bit(reply)
        if reply and not self.mute:
            self.replies.put(reply)

    def usb_in(self, endpoint: int, size: int, timeout: float) -> bytes | None:
        return self.replies.get(size, timeout)

    def usb_control(self, request_type: int, request: int, value: int, index: int, data: bytes,
                    length: int) -> bytes | None:
        if request_type & 0x80 and request == _GET_PORT_STATUS:
            # printer class GET_PORT_STATUS (§4.2.2): bit 3 not error, bit 4 selected, bit 5 paper empty
            e = self.engine
            return bytes([(0x20 if e.paper_out else 0) | 0x10 | (0 if e.offline else 0x08)])
        return None


def fake_usb_printer(engine: PrinterEngine) -> tuple[FakeUsbBackend, UsbPrinter]:
    """A printer on the fake USB bus; the backend's ``key`` is the driver's ``usb_backend_arg``."""
    function = UsbPrinter(engine)
    return FakeUsbBackend(DESCRIPTION, function), function
