"""Fixtures of the records tests: a fake clock, in-memory drivers, and the service over ASGI (no TLS, no
simulators), so the record logic is tested fast; the scripted day and the browser run against the simulated
terminal in tests/server/test_ops_dashboard.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from _runtime_fixtures import RecordingLights, wait_for

from gtsdk.driver import HealthLevel, HealthResult, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import idcard
from gtsdk.runtime import Terminal, registry
from gtsdk.runtime.config import parse_config
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import parse_service
from gtsdk.server.tokens import TokenStore

ID_NUMBER = "110101199003071234"


class FakeClock:
    """Wall and monotonic clocks the test moves by hand; the boot id changes only when told."""

    def __init__(self, wall: float = 1_767_225_600.0, mono: float = 1000.0) -> None:  # 2026-01-01 00:00 UTC
        self._wall, self._mono, self._boot = wall, mono, "boot-1"

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def boot_id(self) -> str:
        return self._boot

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def jump_wall(self, seconds: float) -> None:
        self._wall += seconds

    def reboot(self, downtime: float) -> None:
        self._wall += downtime
        self._mono = 5.0  # a new boot starts its monotonic clock again
        self._boot = f"boot-{uuid.uuid4().hex[:6]}"


class FakeCards(idcard.IdCardDriver):
    """An ID card reader that reads one fixed (made-up) card, or fails when told."""

    name = "fakecards"
    present = True
    fail_next: str | None = None

    def connect(self) -> None:
        if not FakeCards.present:
            raise GtsdkError(ErrorCode.NO_DEVICE, "reader unplugged")

    def disconnect(self) -> None:
        pass

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if not FakeCards.present:
            raise GtsdkError(ErrorCode.NO_DEVICE, "reader unplugged")
        return HealthResult(level=level, ok=True, text="SAM answers")

    def read(self, request: idcard.ReadRequest, ctx: OpContext) -> idcard.IdCardData:
        if not FakeCards.present:
            raise GtsdkError(ErrorCode.NO_DEVICE, "reader unplugged")
        if FakeCards.fail_next:
            code, FakeCards.fail_next = FakeCards.fail_next, None
            raise GtsdkError(code, "test failure")
        return idcard.IdCardData(card_type=idcard.CardType.RESIDENT, name="张三", sex="男", sex_code="1",
                                 birth_date=date(1990, 3, 7), id_number=ID_NUMBER, valid_from=date(2020, 1, 1))


CATALOGUE = """
version = "test-1"

[[entries]]
code = "permit"
name_zh = "证明开具"
name_en = "Certificate"
modules = ["idcard", "lights"]

[[entries]]
code = "query"
name_zh = "进度查询"
name_en = "Progress"
modules = ["idcard"]
on_terminal = true
"""


@dataclass
class Records:
    app: ServiceApp
    terminal: Terminal
    home: Path
    app_token: str
    other_token: str
    maintenance_token: str

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                         base_url="https://127.0.0.1") as c:
                h = {"Authorization": f"Bearer {token or self.app_token}", **(headers or {})}
                return await c.request(method, path, json=body, headers=h)

        r = asyncio.run(go())
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {"text": r.text}

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, env = self.request(method, path, body, **kw)
        assert env.get("code") == "success", (status, env)
        return env["data"]


def records_service(home: Path, records: dict[str, Any] | None = None, catalogue: str | None = CATALOGUE
                    ) -> Generator[Records, None, None]:
    registry.register("lights", "recording", RecordingLights)
    registry.register("idcard", "fakecards", FakeCards)
    FakeCards.present, FakeCards.fail_next = True, None
    home.mkdir(parents=True, exist_ok=True)
    if catalogue is not None:
        (home / "catalogue.toml").write_text(catalogue, encoding="utf-8")
    cfg = parse_config({"terminal": {"id": "T-TEST-1"},
                        "modules": {"lights": {"driver": "recording", "reconnect_interval": 0.05},
                                    "idcard": {"driver": "fakecards", "reconnect_interval": 0.05}},
                        "records": {"heartbeat": 0.2, "inspections": [], **(records or {})}})
    t = Terminal(cfg).start()
    assert wait_for(lambda: all(d.state.value == "online" for d in t.devices.values()), 5)
    app = ServiceApp(t, parse_service({}), home)
    store = TokenStore(home)
    svc = Records(app, t, home, store.create(["app"], app="kiosk"), store.create(["app"], app="other"),
                  store.create(["maintenance"]))
    try:
        yield svc
    finally:
        app.pages.close()  # type: ignore[attr-defined]
        t.stop()


@pytest.fixture
def records(tmp_path: Path) -> Iterator[Records]:
    yield from records_service(tmp_path / "home")
