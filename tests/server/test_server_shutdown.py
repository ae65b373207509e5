"""`gtsdk serve` stopped with SIGTERM: every simulator daemon it started is stopped (cupsd, ippeveprinter, pcscd,
avahi, dbus: nothing is orphaned), and an operation in flight does not hold the shutdown beyond its grace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future
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


@pytest.mark.daemons
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


SERVE_QR = """
import sys
from pathlib import Path

from gtsdk.cli.serve import run
from gtsdk.server.config import parse_service

try:  # where the simulated terminal is assembled (one layer above the runtime)
    from gtsdk.simulated import simulated_terminal
except ImportError:
    from gtsdk.runtime import Terminal
    simulated_terminal = Terminal.simulated
workdir, home, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
terminal = simulated_terminal(workdir, modules=["qr_scanner"])
run(terminal, parse_service({"shutdown_grace": 1.0}), home, port=port, simulate=True)
"""


@pytest.mark.timeout(90)
def test_sigterm_cancels_a_600_s_read_within_the_grace(tmp_path: Path) -> None:
    """Issue #18 item 4: a qr_scanner read with a long timeout held SIGTERM for as long (87.8 s for a 90 s
    read; the schema allows 600 s).  Now in-flight operations get shutdown_grace (1 s here), then they are
    cancelled on their devices and the service exits."""
    import ssl
    import threading

    import httpx

    from gtsdk.server.tokens import TokenStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    p = subprocess.Popen([sys.executable, "-c", SERVE_QR, str(tmp_path / "sim"), str(home), str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kids: set[int] = set()
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not (home / "ca.pem").exists():
            time.sleep(0.2)
        token = TokenStore(home).create(["app"])
        ctx = ssl.create_default_context(cafile=str(home / "ca.pem"))
        base = f"https://127.0.0.1:{port}"
        while time.monotonic() < end:  # up, and it has seen the token (tokens.json is re-read every 0.5 s)
            try:
                with httpx.Client(base_url=base, verify=ctx, timeout=5,
                                  headers={"Authorization": f"Bearer {token}"}) as c:
                    if c.get("/v1/services").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        answer: Future[httpx.Response] = Future()
        opened = threading.Event()

        def read() -> None:
            try:
                with httpx.Client(base_url=base, verify=ctx, timeout=60,
                                  headers={"Authorization": f"Bearer {token}"}) as c:
                    assert c.post("/v1/qr_scanner/open").status_code == 200
                    opened.set()
                    answer.set_result(c.post("/v1/qr_scanner/read", json={"timeout": 600_000}))
            except BaseException as e:  # noqa: BLE001 - handed on: answer.result() raises it in the test
                answer.set_exception(e)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        # busy after the open has returned is the read running (busy during the open let SIGTERM come before it)
        assert opened.wait(30)
        with httpx.Client(base_url=base, verify=ctx, timeout=5, headers={"Authorization": f"Bearer {token}"}) as c:
            while time.monotonic() < end and not c.get("/v1/qr_scanner/status").json()["data"].get("busy"):
                time.sleep(0.1)
        kids = children(p.pid)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        took = time.monotonic() - t0
        t.join(10)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        for k in kids:
            if alive(k):
                os.kill(k, signal.SIGTERM)
    assert took < 10, f"shutdown took {took:.1f} s with a 600 s read in flight"
    r = answer.result(0)  # the read's answer; a connection closed at shutdown instead is raised here
    assert r.json()["code"] == "canceled", r.text
