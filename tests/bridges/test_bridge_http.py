"""http_bridge against the simulated DeviceHub middleware: the card through its own JSON, waiting on its
"no card" code, a hung middleware (communicationError, then recovered), a crashed one (noDevice, back
after restart), WebSocket card events, and requests that stay on this machine."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _bridge_fixtures import Events, bridged, middleware_sim, wait_for  # noqa: F401

from gtsdk.drivers.http_bridge.engine import HttpEngine
from gtsdk.errors import GtsdkError

DRIVER = "http_bridge"


def test_reads_the_card_through_the_middleware_json(middleware_sim: Any) -> None:  # noqa: F811
    from gtsdk.drivers.sam_serial.cardtext import parse_text
    from gtsdk.simulators.idcard.cards import samples

    want = parse_text(samples()["resident"].text)
    with bridged(DRIVER, middleware_sim.settings) as t:
        card = t.idcard.read(timeout=5)
        for f in ("name", "sex", "sex_code", "birth_date", "address", "id_number", "issuer", "valid_from",
                  "valid_until", "long_term"):
            assert getattr(card, f) == getattr(want, f), f
        assert card.photo is not None and card.photo[:2] == b"BM" and card.photo_wlt is not None
        assert t.device("idcard").capabilities().device.serial == "ADH-2024-000451"


def test_waits_for_a_card_then_times_out(middleware_sim: Any) -> None:  # noqa: F811
    middleware_sim.control("remove", {})
    with bridged(DRIVER, middleware_sim.settings) as t:
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=0.5)
        assert ei.value.code == "timeOut" and time.monotonic() - t0 < 2.5


def test_hung_middleware_then_recovered(middleware_sim: Any) -> None:  # noqa: F811
    with bridged(DRIVER, {**middleware_sim.settings}) as t:
        middleware_sim.control("hang", {"on": True})
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=20)
        assert ei.value.code == "communicationError" and "did not answer within 5 s" in ei.value.detail
        assert time.monotonic() - t0 < 8
        middleware_sim.control("hang", {"on": False})
        wait_for(lambda: t.device("idcard").status().state == "online", 10, "reconnect")
        assert t.idcard.read(timeout=5).name


def test_crashed_middleware_is_no_device_until_it_restarts(middleware_sim: Any) -> None:  # noqa: F811
    with bridged(DRIVER, middleware_sim.settings) as t:
        middleware_sim.control("crash", {})
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=3)
        assert ei.value.code == "noDevice"
        assert t.device("idcard").status().state == "noDevice"
        middleware_sim.control("restart", {})
        wait_for(lambda: t.device("idcard").status().state == "online", 10, "reconnect after restart")
        assert t.idcard.read(timeout=5).name


def test_unplugged_reader_maps_the_vendor_code(middleware_sim: Any) -> None:  # noqa: F811
    with bridged(DRIVER, middleware_sim.settings) as t:
        middleware_sim.control("unplug", {})
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=3)
        assert ei.value.code == "noDevice" and "2001" in ei.value.detail
        middleware_sim.control("replug", {})
        wait_for(lambda: t.device("idcard").status().state == "online", 10, "reconnect after replug")


def test_card_events_from_the_websocket(middleware_sim: Any) -> None:  # noqa: F811
    middleware_sim.control("remove", {})
    with bridged(DRIVER, middleware_sim.settings) as t:
        ev = Events(t)
        engine = vars(t.device("idcard").driver)["bridge"]  # the bridge classes are made per module at import
        assert isinstance(engine, HttpEngine)
        wait_for(lambda: engine.events is not None and engine.events.connected.is_set(), 5, "the event socket")
        middleware_sim.control("insert", {"card": "resident"})
        ev.wait("cardInserted")
        middleware_sim.control("remove", {})
        ev.wait("cardRemoved")


def test_a_response_over_the_size_bound_is_refused(middleware_sim: Any, tmp_path: Any) -> None:  # noqa: F811
    from _bridge_fixtures import HTTP_MAPPING

    text = HTTP_MAPPING.read_text(encoding="utf-8").replace("max_response: 2097152", "max_response: 2048")
    small = tmp_path / "small.yaml"
    small.write_text(text, encoding="utf-8")
    with bridged(DRIVER, {**middleware_sim.settings, "mapping": str(small)}) as t:
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=5)
        assert ei.value.code == "communicationError" and "larger than 2048 bytes" in ei.value.detail
