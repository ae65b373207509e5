"""Time sources of the records (injectable, so tests can jump the wall clock and advance the monotonic one).

Durations come from the monotonic clock; on Linux ``time.monotonic`` is CLOCK_MONOTONIC, which counts from
boot and is shared by every process, so two runs of the service within one boot can be compared exactly.  The
boot id (``/proc/sys/kernel/random/boot_id``) tells whether that holds.  The wall clock only places intervals
on calendar days.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Protocol

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch (may jump)."""

    def mono(self) -> float:
        """Seconds on a clock that never jumps, comparable between processes of one boot."""

    def boot_id(self) -> str:
        """Changes at every boot (a fresh value per process where the host does not say)."""


class SystemClock:
    def __init__(self) -> None:
        try:
            self._boot = BOOT_ID.read_text().strip()
        except OSError:  # not Linux: treat every process as a new boot (the wall clock bridges restarts)
            self._boot = f"process-{uuid.uuid4().hex}"

    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()

    def boot_id(self) -> str:
        return self._boot
