"""Helpers for the microphone, voice, keyboard and imaging tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from _peripherals_fixtures import Recorder, terminal_for, wait_for  # shared with the serial peripherals

__all__ = ["Recorder", "need", "sox_stat", "terminal_for", "wait_for"]


def need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not installed")


def sox_stat(path: Path) -> dict[str, float]:
    """sox's own measurement of a sound file (an independent peer, not our code)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    stats: dict[str, float] = {}
    for line in out.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            try:
                stats[k.strip()] = float(v.split()[0])
            except (ValueError, IndexError):
                pass
    return stats
