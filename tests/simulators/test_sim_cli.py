"""``gtsdk sim MODULE`` runs until a signal, so ``gtsdk sim idcard &`` keeps running (issue #18 item 14: it
used to stop as soon as standard input closed); commands come through the named pipe in its work directory,
and with ``--stdin`` from standard input too."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

BIN = Path(sys.executable).parent / "gtsdk"


class Output:
    """The simulator's output lines, read by a thread (select() on a buffered pipe would miss buffered lines)."""

    def __init__(self, p: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert p.stdout is not None
        threading.Thread(target=self._pump, args=(p.stdout,), daemon=True).start()

    def _pump(self, f: IO[str]) -> None:
        for line in f:
            self.lines.put(line)

    def wait_for(self, contains: str, limit: float = 30.0) -> str:
        end = time.monotonic() + limit
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {contains!r} within {limit} s") from None
            if contains in line:
                return line


def test_runs_in_the_background_until_a_signal(tmp_path: Path) -> None:
    wd = tmp_path / "idcard"
    # like `gtsdk sim idcard &` from a script: standard input is /dev/null (closed at once)
    p = subprocess.Popen([str(BIN), "sim", "idcard", "--workdir", str(wd)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(p)
    try:
        out.wait_for("commands:")
        time.sleep(2.0)
        assert p.poll() is None, "the simulator stopped although no signal came"
        pty = os.path.realpath(wd / "ttySAM0")
        assert Path(pty).exists()
        (wd / "control").write_text("insert card=resident\n")
        assert '"card": "resident"' in out.wait_for("card")
        (wd / "control").write_text("no-such-action\n")
        assert "invalidData" in out.wait_for("error")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert not (wd / "control").exists() and not (wd / "ttySAM0").exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_stdin_commands_and_end_of_input(tmp_path: Path) -> None:
    p = subprocess.Popen([str(BIN), "sim", "idcard", "--stdin", "--workdir", str(tmp_path / "wd")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(p)
    try:
        out.wait_for("commands:")
        assert p.stdin is not None
        p.stdin.write("insert card=hmt\n" + "x" * 70_000 + "\nstate\n")
        p.stdin.flush()
        assert '"card": "hmt"' in out.wait_for("card")
        assert "longer than" in out.wait_for("error")
        assert '"card": "hmt"' in out.wait_for("card")  # the overlong line was dropped whole, then "state"
        p.stdin.close()
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_driver_picks_the_simulator_made_for_it(tmp_path: Path) -> None:
    """``--driver onboard``: the keyboard's D-Bus simulator instead of the web one; commands reach it."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed")
    wd = tmp_path / "kb"
    p = subprocess.Popen([str(BIN), "sim", "keyboard", "--driver", "onboard", "--workdir", str(wd), "--stdin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(p)
    try:
        assert "driver = 'onboard'" in out.wait_for("driver =")
        out.wait_for("commands:")
        assert p.stdin is not None
        p.stdin.write("unplug\n")
        p.stdin.flush()
        assert '"running": false' in out.wait_for("running")
        p.stdin.close()  # with --stdin, the end of standard input ends the simulator
        assert p.wait(timeout=20) == 0
        assert not (wd / "bus.sock").exists()  # the private bus went with it
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
