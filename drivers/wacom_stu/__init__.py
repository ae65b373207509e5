"""Wacom STU signature pads over USB HID (pyusb; clause 8.4 c)."""

from gtsdk.drivers.wacom_stu.driver import WacomStuDriver, WacomStuSettings

__all__ = ["WacomStuDriver", "WacomStuSettings"]
