"""Through `gtsdk serve` with a bridge mapping (a real service process): the card over HTTPS; a crash and a
hang in the vendor library each give hardwareError while the service keeps serving, and the next read
succeeds; the same service on the vendor middleware; the worker's folder is empty throughout."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _bridge_fixtures import HTTP_MAPPING, NATIVE_MAPPING, needs_cc

BIN = Path(sys.executable).parent / "gtsdk"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _toml(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v).lower() if isinstance(v, bool) else str(v)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serve(tmp_path: Path, driver: str, settings: dict[str, Any]) -> Iterator[httpx.Client]:
    home = tmp_path / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = ["[modules.idcard]", f'driver = "{driver}"', "reconnect_interval = 0.2",
             f"mapping = {_toml(settings['mapping'])}", "[modules.idcard.params]"]
    lines += [f"{k} = {_toml(v)}" for k, v in settings["params"].items()]
    config = tmp_path / "terminal.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    token = subprocess.run([str(BIN), "token", "--scope", "app", "--home", str(home)], capture_output=True,
                           text=True, check=True, timeout=60).stdout.strip().splitlines()[-1]
    p = subprocess.Popen([str(BIN), "serve", "--config", str(config), "--home", str(home), "--port", str(port),
                          "--no-audit"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 60
        while not (home / "ca.pem").exists() or not listening(port):
            if time.monotonic() > end or p.poll() is not None:
                pytest.fail("the bridged service did not start")
            time.sleep(0.2)
        ca = ssl.create_default_context(cafile=str(home / "ca.pem"))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ca, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}, trust_env=False) as c:
            end = time.monotonic() + 60
            while True:
                try:
                    if c.get("/v1/idcard/status").json()["data"]["state"] == "online":
                        break
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                if time.monotonic() > end or p.poll() is not None:
                    pytest.fail("the bridged service did not come up")
                time.sleep(0.2)
            yield c
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def read(c: httpx.Client, timeout_ms: int = 10_000) -> dict[str, Any]:
    body: dict[str, Any] = c.post("/v1/idcard/read", json={"timeout": timeout_ms}).json()
    return body


def test_native_bridge_through_the_service(tmp_path: Path) -> None:
    needs_cc()
    from gtsdk.simulators.vendors import acme_idreader

    sim = acme_idreader.start(tmp_path / "vendor", NATIVE_MAPPING)
    try:
        with serve(tmp_path, "native_bridge", sim.settings) as c:
            ok = read(c)
            assert ok["code"] == "success" and ok["data"]["idNumber"].endswith("0011")
            for fault in ("crash", "hang"):
                sim.control(fault, {"function": "Read_Content"})
                bad = read(c)
                assert bad["code"] == "hardwareError", bad
                assert c.get("/v1/services").json()["code"] == "success"  # the service keeps serving
                assert c.get("/v1/idcard/status").json()["data"]["state"] == "hardwareError"
                again = read(c)
                assert again["code"] == "success", again
                assert c.get("/v1/idcard/status").json()["data"]["state"] == "online"
            caps = c.get("/v1/idcard/capabilities").json()["data"]
            assert caps["device"]["driver"] == "native_bridge" and caps["device"]["vendor"] == "Acme"
            shm = [p for p in Path("/dev/shm").glob(f"gtsdk-bridge-{os.getuid()}/idcard-*/*")]
            assert not shm, "the library's files were left behind"
    finally:
        sim.stop()


def test_http_bridge_through_the_service(tmp_path: Path) -> None:
    from gtsdk.simulators.vendors import acme_middleware

    sim = acme_middleware.start(tmp_path / "middleware", HTTP_MAPPING)
    try:
        with serve(tmp_path, "http_bridge", sim.settings) as c:
            ok = read(c)
            assert ok["code"] == "success" and ok["data"]["name"] == "张示例"
            sim.control("crash", {})
            assert read(c, 3000)["code"] == "noDevice"
            assert c.get("/v1/services").json()["code"] == "success"
            sim.control("restart", {})
            end = time.monotonic() + 15
            while c.get("/v1/idcard/status").json()["data"]["state"] != "online" and time.monotonic() < end:
                time.sleep(0.2)
            assert read(c)["code"] == "success"
    finally:
        sim.stop()
