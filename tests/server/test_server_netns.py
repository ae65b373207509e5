"""Clause 8.3: no access from other computers on the LAN.

Two throw-away network namespaces joined by a veth pair play the kiosk and a LAN host
(docs/test-peers.md §10).  ``gtsdk serve`` runs inside the kiosk namespace with the
default config: the kiosk reaches it on 127.0.0.1, the LAN host cannot reach it on the
kiosk's address.  A second service with ``listen = ["0.0.0.0"]`` (explicit
``allow_remote``) shows the LAN host *can* reach a non-loopback bind, so the check is
able to fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GTSDK = Path(sys.executable).parent / "gtsdk"
TAG = f"{os.getpid() % 100000}"
KIOSK, LAN = f"gtsk{TAG}", f"gtsl{TAG}"
VK, VL = f"gtvk{TAG}", f"gtvl{TAG}"
KIOSK_IP, LAN_IP = "10.254.77.1", "10.254.77.2"

PROBE = textwrap.dedent("""
    import json, socket, ssl, sys
    host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        raw = socket.create_connection((host, port), timeout=3)
    except ConnectionRefusedError:
        print("REFUSED"); sys.exit(0)
    except OSError as e:
        print("UNREACHABLE", e.errno); sys.exit(0)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    with ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    print("HTTP", data.split(b" ", 2)[1].decode())
""")


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[None]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    if sh("ip", "netns", "add", KIOSK, check=False).returncode != 0:
        pytest.skip("ip netns add is not permitted here")
    try:
        sh("ip", "netns", "add", LAN)
        sh("ip", "link", "add", VK, "type", "veth", "peer", "name", VL)
        sh("ip", "link", "set", VK, "netns", KIOSK)
        sh("ip", "link", "set", VL, "netns", LAN)
        sh("ip", "-n", KIOSK, "addr", "add", f"{KIOSK_IP}/24", "dev", VK)
        sh("ip", "-n", LAN, "addr", "add", f"{LAN_IP}/24", "dev", VL)
        for ns, dev in ((KIOSK, VK), (LAN, VL)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield
    finally:
        sh("ip", "netns", "del", LAN, check=False)
        sh("ip", "netns", "del", KIOSK, check=False)  # also removes the veth pair


def probe(ns: str, host: str, port: int, ca: Path, script: Path) -> str:
    r = sh("ip", "netns", "exec", ns, sys.executable, str(script), host, str(port), str(ca), check=False)
    return (r.stdout.strip() or r.stderr.strip()[-200:])


def wait_ready(port: int, ca: Path, script: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "service exited"
        if ca.exists() and probe(KIOSK, "127.0.0.1", port, ca, script) == "HTTP 200":
            return
        time.sleep(0.3)
    raise AssertionError("service did not come up in the kiosk namespace")


@pytest.mark.peer
def test_lan_host_cannot_reach_service_but_loopback_can(namespaces: None, tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    home = tmp_path / "home"
    remote_cfg = tmp_path / "remote.toml"
    remote_cfg.write_text('[service]\nlisten = ["0.0.0.0"]\nallow_remote = true\n')
    port, control_port = 8801, 8802  # inside the kiosk namespace nothing else uses them
    env = dict(os.environ, GTSDK_HOME=str(home))
    procs = []
    try:
        for args in ((), ("--config", str(remote_cfg))):
            listen = control_port if args else port
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", KIOSK, str(GTSDK), "serve", "--home", str(home), "--port", str(listen),
                 "--no-audit", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True))
            wait_ready(listen, home / "ca.pem", script, procs[-1])
        ca = home / "ca.pem"
        assert probe(KIOSK, "127.0.0.1", port, ca, script) == "HTTP 200"
        assert probe(LAN, KIOSK_IP, port, ca, script) == "REFUSED"  # clause 8.3
        assert probe(LAN, KIOSK_IP, control_port, ca, script) == "HTTP 200"  # a 0.0.0.0 bind would be reachable
        assert probe(KIOSK, KIOSK_IP, port, ca, script) == "REFUSED"  # not even the kiosk's own LAN address
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    out = procs[1].stdout.read() if procs[1].stdout else ""
    assert "WARNING" in out and "0.0.0.0" in out
