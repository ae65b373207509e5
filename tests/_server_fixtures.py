"""Fixtures of the service tests: tiny in-process drivers and a running service in a temp home."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gtsdk.driver import OpContext
from gtsdk.errors import GtsdkError
from gtsdk.modules import idcard, lights
from gtsdk.runtime import Terminal, parse_config
from gtsdk.runtime.registry import register
from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, build, start_background
from gtsdk.server.tokens import TokenStore

ID_NUMBER = "110101199003071234"
#: seconds any blocking socket call of a test's WebSocket client may take (SO_RCVTIMEO / SO_SNDTIMEO)
WS_IO_BOUND = 10


def bounded_socket(port: int, bound: float = WS_IO_BOUND) -> socket.socket:
    """A TCP socket to the service whose every blocking recv/send returns within *bound* seconds.

    The websockets sync client reads on a thread in a blocking recv and, after a failed handshake, joins that
    thread; a recv stuck inside a partial TLS record (or a peer that never answers) would hold the test for
    ever.  The kernel's SO_RCVTIMEO/SO_SNDTIMEO bound every such call, whatever the library does with Python
    timeouts, so a test's waits are bounded by construction.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=bound)
    tv = struct.pack("ll", int(bound), int((bound % 1) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    return sock


class FakeIdCard(idcard.IdCardDriver):
    """Reads a made-up card; ``behaviour`` (class-wide) makes it slow, hang or fail."""

    name = "fake"
    behaviour: dict[str, Any] = {}
    started = threading.Event()

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def read(self, request: idcard.ReadRequest, ctx: OpContext) -> idcard.IdCardData:
        FakeIdCard.started.set()
        b = FakeIdCard.behaviour
        if b.get("sleep"):
            ctx.sleep(float(b["sleep"]))  # honours deadline and cancel
        if b.get("hang"):
            threading.Event().wait(float(b["hang"]))  # ignores deadline and cancel
        if b.get("raise"):
            raise RuntimeError("secret personal data 110101199003071234 must not leak")
        if b.get("error"):
            raise GtsdkError(b["error"], "simulated failure")
        self.emit("cardInserted", {"reader": "fake"})
        return idcard.IdCardData(card_type=idcard.CardType.RESIDENT, name="张三", sex="男", sex_code="1",
                                 nation="汉", nation_code="01", birth_date=dt.date(1990, 3, 7), address="北京市",
                                 id_number=ID_NUMBER, issuer="北京市公安局", valid_from=dt.date(2020, 1, 1),
                                 valid_until=dt.date(2040, 1, 1))


class FakeLights(lights.LightsDriver):
    name = "fake"

    def connect(self) -> None:
        self.states: dict[str, str] = {}

    def disconnect(self) -> None:
        pass

    def _set(self, light: str, state: str) -> lights.Lights:
        self.states[light] = state
        self.emit("lightChanged", {"light": light, "state": state})
        return lights.Lights(states=dict(self.states))

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "on")

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "flash")

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "off")


register("idcard", "fake", FakeIdCard)
register("lights", "fake", FakeLights)

ORIGIN = "https://kiosk.example"


def make_terminal(**extra_modules: dict[str, Any]) -> Terminal:
    modules: dict[str, Any] = {"idcard": {"driver": "fake"}, "lights": {"driver": "fake"}}
    modules.update(extra_modules)
    return Terminal(parse_config({"terminal": {"id": "T-TEST"}, "modules": modules}))


@dataclass
class Svc:
    running: Running
    home: Path
    terminal: Terminal
    app_token: str
    maint_token: str
    tokens: TokenStore

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def ca(self) -> str:
        return str(self.home / "ca.pem")

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        kw.setdefault("timeout", 10)
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca), headers=headers,
                            **kw)

    def app(self, **kw: Any) -> httpx.Client:
        return self.client(self.app_token, **kw)

    def maint(self, **kw: Any) -> httpx.Client:
        return self.client(self.maint_token, **kw)


def start_service(home: Path, service: dict[str, Any] | None = None, terminal: Terminal | None = None) -> Svc:
    FakeIdCard.behaviour = {}
    cfg = parse_service({"origins": [ORIGIN], **(service or {})}, base_dir=home)
    t = (terminal or make_terminal()).start()
    try:
        app = build(t, cfg, home)
    except BaseException:
        t.stop()
        raise
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    store = TokenStore(home)
    return Svc(running, home, t, store.create(["app"], app="kiosk"), store.create(["maintenance"]), store)


def service_fixture(tmp_path: Path) -> Iterator[Svc]:
    """Body of the ``svc`` fixture each test module declares (a running service in a temp home)."""
    s = start_service(tmp_path / "home")
    try:
        yield s
    finally:
        s.running.stop()
        s.terminal.stop()
