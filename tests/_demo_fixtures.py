"""The example pages against the session's simulated terminal: a second service on the same terminal with
``demo = true`` and its own home (own audit log, so the scripted day does not touch other tests' data),
and headless Chromium through Playwright (Debian's chromium; never a downloaded browser)."""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _simulated_service import SimService

from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, build, start_background
from gtsdk.server.tokens import TokenStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-quic"]


@dataclass
class DemoService:
    sim: SimService
    running: Running
    home: Path
    maintenance_token: str
    app_token: str

    @property
    def url(self) -> str:
        return self.running.url

    def _ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.home / "ca.pem"))

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
                raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token or self.maintenance_token}",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, context=self._ctx(), timeout=60) as r:
                payload = r.read()
                return (r.status, r.headers, payload) if raw else json.loads(payload)
        except urllib.error.HTTPError as e:
            payload = e.read()
            return (e.code, e.headers, payload) if raw else json.loads(payload)

    def lift_card(self) -> None:
        """Take the card away and wait until the reader driver saw it leave (it reads a card again only then)."""
        bus = self.sim.terminal.events
        seq = bus.last_seq
        self.sim_control("idcard", "remove")
        end = time.monotonic() + 3.0
        while time.monotonic() < end and not any(
                e.type == "cardRemoved" for e in bus.since(seq, ["idcard"])[0]):
            time.sleep(0.02)

    def present_card(self, card: str = "resident") -> None:
        self.lift_card()
        self.sim_control("idcard", "insert", card=card)

    def tidy(self) -> None:
        """Leave the shared simulated terminal as other tests expect it: no card, no finger, paper loaded."""
        self.lift_card()
        for module, action in (("fingerprint", "remove_finger"), ("receipt_printer", "load_paper")):
            self.sim_control(module, action)

    def sim_control(self, module: str, action: str, **params: Any) -> Any:
        env = self.request("POST", f"/v1/sim/{module}", {"action": action, "params": params})
        assert env["code"] == "success", env
        return env["data"]


def start_demo(sim_service: SimService, base: Path) -> Iterator[DemoService]:
    home = base / "home"
    app = build(sim_service.terminal, parse_service({"demo": True}, base_dir=base), home, simulate=True)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    store = TokenStore(home)
    svc = DemoService(sim_service, running, home, store.create(["maintenance"]), store.create(["app"], app="kiosk"))
    try:
        yield svc
    finally:
        try:
            svc.tidy()
        finally:
            running.stop()
        app.pages.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def demo_service(sim_service: SimService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    yield from start_demo(sim_service, tmp_path_factory.mktemp("demo-service"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1080, "height": 1600}, locale="zh-CN")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors
    yield pg
    ctx.close()
