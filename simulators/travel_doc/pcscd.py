"""Run pcscd (with vsmartcard's vpcd reader driver) without systemd.

``pcscd --foreground`` reads /etc/reader.conf.d/vpcd and offers the readers
"Virtual PCD 00 00" (TCP 35963) and "Virtual PCD 00 01" (TCP 35964) (peers.md 2).
A pcscd that is already running is reused and left alone; one we start is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

PID_FILE = Path("/run/pcscd/pcscd.pid")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")


class PcscdUnavailable(RuntimeError):
    pass


def running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_bytes().replace(b"\x00", b"").strip() or b"0")  # PID then a NUL byte
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def readers() -> list[str]:
    try:
        from smartcard.System import readers as _readers

        return [str(r) for r in _readers()]
    except Exception:
        return []


class Pcscd:
    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.proc is not None

    def start(self, wait: float = 10.0) -> Pcscd:
        if running_pid() is None:
            exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
            if exe is None:
                raise PcscdUnavailable("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
            if not VPCD_CONF.exists():
                raise PcscdUnavailable("vsmartcard-vpcd is not installed (no /etc/reader.conf.d/vpcd)")
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen([exe, "--foreground"], stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if any("Virtual PCD" in r for r in readers()):
                return self
            if self.proc is not None and self.proc.poll() is not None:
                raise PcscdUnavailable(f"pcscd exited with {self.proc.returncode}; see {self.log}")
            time.sleep(0.1)
        self.stop()
        raise PcscdUnavailable("pcscd did not offer the vpcd readers in time")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None:
            return
        with contextlib.suppress(OSError):
            p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
