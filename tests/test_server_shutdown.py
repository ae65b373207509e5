"""`gtsdk serve --simulate` stopped with SIGTERM stops every simulator daemon it started
(cupsd, ippeveprinter, pcscd, avahi, dbus): nothing is orphaned."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "gtsdk"


def children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(d.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(180)
def test_sigterm_stops_the_simulators(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kids: set[int] = set()
    p = subprocess.Popen([str(BIN), "serve", "--simulate", "--home", str(tmp_path / "home"), "--port", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            with socket.socket() as c:
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("service did not start")
        kids = children(p.pid)
        assert kids, "the simulated terminal started no helper processes"
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        end = time.monotonic() + 10
        while time.monotonic() < end and any(alive(k) for k in kids):
            time.sleep(0.2)
        left = [k for k in kids if alive(k)]
        assert not left, f"orphaned after SIGTERM: {left}"
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        for k in kids:  # never leave daemons behind, even when the check failed
            if alive(k):
                os.kill(k, signal.SIGTERM)
