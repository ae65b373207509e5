"""Soft keyboard driver (8.4 n) for the operating system's on-screen keyboard "Onboard" over D-Bus."""

from .driver import OnboardKeyboardDriver, OnboardSettings

__all__ = ["OnboardKeyboardDriver", "OnboardSettings"]
