"""The typed client over HTTPS (issue #14 items 1–3): facades on Client and AsyncClient, seconds in Python and
milliseconds on the wire, sealed personal data as its own type end to end (9.3.2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _server_fixtures import ID_NUMBER, FakeIdCard, Svc, make_terminal, start_service

from gtsdk.client import AsyncClient, Client, SealedData, ServiceError, open_sealed
from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import HealthResult, Status, idcard, lights
from gtsdk.runtime.registry import register

crypto = pytest.importorskip("gtsdk.crypto")

if TYPE_CHECKING:
    from gtsdk.crypto import SM2PrivateKey


class RequestRecorder(lights.LightsDriver):
    """Keeps the requests it was given, as the service parsed them from the wire."""

    name = "request_recorder"
    seen: list[tuple[lights.LightRequest | lights.FlashRequest, float]] = []

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def _keep(self, request: lights.LightRequest | lights.FlashRequest, ctx: OpContext, state: str) -> lights.Lights:
        RequestRecorder.seen.append((request, ctx.deadline - ctx.started))
        return lights.Lights(states={request.light: state})

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request, ctx, "on")

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request, ctx, "flash")

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request, ctx, "off")


register("lights", "request_recorder", RequestRecorder)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    home = tmp_path / "home"
    home.mkdir()
    key = crypto.SM2PrivateKey.generate()
    (home / "kiosk.key.pem").write_bytes(key.to_pem())
    (home / "kiosk.pub.pem").write_bytes(key.public_key().to_pem())
    s = start_service(home, {"apps": {"kiosk": {"recipient_key": "kiosk.pub.pem"}}},
                      make_terminal(lights={"driver": "request_recorder"}))
    try:
        yield s
    finally:
        s.running.stop()
        s.terminal.stop()


def _key(svc: Svc) -> SM2PrivateKey:
    key: SM2PrivateKey = crypto.load_private_pem((svc.home / "kiosk.key.pem").read_bytes())
    return key


def test_seconds_in_python_are_milliseconds_on_the_wire(svc: Svc) -> None:
    RequestRecorder.seen.clear()
    with Client(svc.url, svc.app_token, ca=svc.ca) as c:
        out = c.lights.flash(light="a", period=0.25, duty=0.5, timeout=3)
        assert isinstance(out, lights.Lights) and out.states == {"a": "flash"}
        c.lights.on(light="b")
    (flash, limit), (on, default) = RequestRecorder.seen
    assert isinstance(flash, lights.FlashRequest) and flash.period_ms == 250 and flash.timeout == 3000
    assert limit == pytest.approx(3.0)
    assert on.timeout is None and default == pytest.approx(lights.SPEC.operations["on"].default_timeout)


def test_an_operation_may_outlast_the_clients_default_http_timeout(svc: Svc) -> None:
    FakeIdCard.behaviour = {"sleep": 1.5}
    with Client(svc.url, svc.app_token, ca=svc.ca, timeout=0.5) as c:  # the HTTP bound of calls without one
        c.idcard.open()
        sealed = c.idcard.read_sealed(timeout=10)  # bounded by its own timeout + slack, not by 0.5 s
        assert isinstance(sealed, SealedData)
        FakeIdCard.behaviour = {"sleep": 5}
        with pytest.raises(ServiceError) as e:
            c.idcard.read_sealed(timeout=0.2)
        assert e.value.code == ErrorCode.TIME_OUT


def test_sealed_results_have_their_own_type_and_open_to_the_contract_model(svc: Svc) -> None:
    key = _key(svc)
    terminal_pub = crypto.load_public_pem((svc.home / "terminal-sm2.pub.pem").read_bytes())
    with Client(svc.url, svc.app_token, ca=svc.ca) as c:
        c.idcard.open()
        with pytest.raises(GtsdkError) as e:
            c.idcard.read(timeout=5)  # never a SealedData where an IdCardData was promised
        assert e.value.code == ErrorCode.SEALING_MISMATCH
        sealed = c.idcard.read_sealed(timeout=5)
        assert sealed.kind == "sealed" and ID_NUMBER not in sealed.model_dump_json()
        card = open_sealed(sealed, key, idcard.IdCardData, sender=terminal_pub)
        assert isinstance(card, idcard.IdCardData) and card.id_number == ID_NUMBER and card.name == "张三"
        with pytest.raises(GtsdkError) as e:
            open_sealed(sealed, key, lights.Lights)
        assert e.value.code == ErrorCode.SEALING_MISMATCH
        tampered = sealed.model_copy(update={"sealed": {**sealed.sealed, "ct": sealed.sealed["ct"][:-4] + "AAAA"}})
        with pytest.raises(GtsdkError) as e:
            open_sealed(tampered, key, idcard.IdCardData)
        assert e.value.code == ErrorCode.INVALID_DATA
        assert c.lights.on(light="a").states == {"a": "on"}  # not personal data: never sealed
    other = svc.tokens.create(["app"], app="other")  # an app without a recipient key gets clear data
    with Client(svc.url, other, ca=svc.ca) as c:
        assert c.idcard.read(timeout=5).id_number == ID_NUMBER
        with pytest.raises(GtsdkError) as e:
            c.idcard.read_sealed(timeout=5)
        assert e.value.code == ErrorCode.SEALING_MISMATCH


def test_async_client_facades(svc: Svc) -> None:
    async def run() -> None:
        async with AsyncClient(svc.url, svc.app_token, ca=svc.ca) as c:
            assert (await c.lights.on(light="x", timeout=2)).states == {"x": "on"}
            assert isinstance(await c.lights.status(), Status)
            assert isinstance(await c.lights.health("internal", timeout=5), HealthResult)
            generic = await c.module("lights").call(lights.SPEC.operations["off"], {"light": "x"})
            assert isinstance(generic, lights.Lights) and generic.states == {"x": "off"}
            await c.idcard.open()
            assert isinstance(await c.idcard.read_sealed(timeout=5), SealedData)
            with pytest.raises(GtsdkError) as e:
                await c.idcard.read(timeout=5)
            assert e.value.code == ErrorCode.SEALING_MISMATCH

    asyncio.run(run())


def test_client_rejects_bad_input_before_sending(svc: Svc) -> None:
    RequestRecorder.seen.clear()
    with Client(svc.url, svc.app_token, ca=svc.ca) as c:
        calls: list[Callable[[], object]] = [
            lambda: c.lights.flash(light="a", period=0.01),  # below the contract's 100 ms
            lambda: c.lights.on(light="a", timeout=601),
            lambda: c.call("lights", "dim", {}),
        ]
        for call in calls:
            with pytest.raises(GtsdkError) as e:
                call()
            assert not isinstance(e.value, ServiceError) and e.value.code in (ErrorCode.INVALID_DATA,
                                                                               ErrorCode.INVALID_COMMAND)
    assert RequestRecorder.seen == []
