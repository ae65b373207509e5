"""Soft keyboard: the web driver needs no device, so its simulation only names it; the onboard driver
gets a private D-Bus session bus with a stand-in for Onboard (``gtsdk sim keyboard --driver onboard``).

The web keyboard itself is the page component ``/sdk/keyboard.js``; the tests drive it in
headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import Simulation, unknown_action


class KeyboardSimulation:
    module = "keyboard"
    driver = "web"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.settings: dict[str, Any] = {}

    def describe(self) -> str:
        return "no device: the web keyboard is drawn by /sdk/keyboard.js on the kiosk page"

    def actions(self) -> dict[str, str]:
        return {}

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        raise unknown_action(self, action)

    def stop(self) -> None:
        pass


def start(workdir: Path) -> KeyboardSimulation:
    return KeyboardSimulation(workdir)


def start_onboard(workdir: Path) -> Simulation:
    """Onboard's D-Bus interface on a private session bus (dbus-daemon), for the onboard driver."""
    try:
        from .dbus_onboard import OnboardSimulation
    except ImportError as e:  # jeepney is in the peripherals extra
        raise GtsdkError(ErrorCode.NO_DEVICE, f"onboard simulator needs jeepney: {e}") from None
    return OnboardSimulation(workdir)


#: a simulator per driver (gtsdk.sim.start's *driver*)
DRIVERS = {"web": start, "onboard": start_onboard}
