"""Soft keyboard driver (8.4 n) for the kiosk's own web page."""

from .driver import WebKeyboardDriver, WebKeyboardSettings

__all__ = ["WebKeyboardDriver", "WebKeyboardSettings"]
