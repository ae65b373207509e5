"""Soft keyboard: the web driver needs no device, so the simulation only names it.

The keyboard itself is the page component ``/sdk/keyboard.js``; the tests drive it in
headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk.sim import unknown_action


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
