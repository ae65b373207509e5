"""Done-when path: the HTTPS service with simulated readers (as `gtsdk serve --simulate`) and the Python
client: every ID card type, a passport and a CS permit end to end, faults give their codes, then recover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gtsdk.client import Client, ServiceError
from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, build, start_background
from gtsdk.server.tokens import TokenStore
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators.travel_doc import SAMPLES


@dataclass
class Svc:
    running: Running
    terminal: SimulatedTerminal
    home: Path
    app: str
    maint: str


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Svc]:
    base = tmp_path_factory.mktemp("iddocs-service")
    home = base / "home"
    t = simulated_terminal(base / "sim", modules=["idcard", "travel_doc"]).start()
    app = build(t, parse_service({"origins": ["http://127.0.0.1"]}, base_dir=home), home, simulate=True)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    store = TokenStore(home)
    try:
        yield Svc(running, t, home, store.create(["app"], app="kiosk"), store.create(["maintenance"]))
    finally:
        running.stop()
        t.stop()


def _absent(c: Client, module: str) -> None:
    end = time.monotonic() + 5
    while getattr(c, module).status().detail.get("cardPresent") and time.monotonic() < end:
        time.sleep(0.05)


def test_id_cards_through_the_service(svc: Svc) -> None:
    with Client(svc.running.url, svc.app, ca=svc.home / "ca.pem") as c, \
            Client(svc.running.url, svc.maint, ca=svc.home / "ca.pem") as m:
        c.idcard.open()
        for key, kind in (("resident", "resident"), ("hmt", "hmtResidencePermit"),
                          ("foreigner2017", "foreignerPermanent2017"), ("foreigner2023", "foreignerPermanent2023")):
            m.sim("idcard", "remove")
            _absent(c, "idcard")
            m.sim("idcard", "insert", card=key)
            d = c.idcard.read(timeout=5)
            assert d.card_type == kind and d.photo_wlt
        m.sim("idcard", "remove")
        _absent(c, "idcard")
        m.sim("idcard", "insert", card="resident")
        m.sim("idcard", "fault", kind="sw3", code="41")
        with pytest.raises(ServiceError) as e:
            c.idcard.read(timeout=5)
        assert e.value.code == "userError" and e.value.retryable
        assert c.idcard.read(timeout=5).name == "张示例"


@pytest.mark.peer
def test_passport_and_cs_permit_through_the_service(svc: Svc) -> None:
    if "travel_doc" not in svc.terminal.simulations:
        pytest.skip("PC/SC peer (pcscd + vpcd) unavailable")
    with Client(svc.running.url, svc.app, ca=svc.home / "ca.pem") as c, \
            Client(svc.running.url, svc.maint, ca=svc.home / "ca.pem") as m:
        c.travel_doc.open()
        m.sim("travel_doc", "insert", doc="passport")
        d = c.travel_doc.read(mrz=SAMPLES["passport"], timeout=10)
        assert d.document_number == "L898902C3" and d.photo and d.passive_auth and d.passive_auth.chain_ok
        m.sim("travel_doc", "insert", doc="cs")
        with pytest.raises(ServiceError) as e:
            c.travel_doc.read(mrz=SAMPLES["passport"], timeout=10)
        assert e.value.code == "authenticationFailed"
        d = c.travel_doc.read(mrz=SAMPLES["cs"], timeout=10)
        assert d.document_type == "CS" and d.passive_auth is not None and d.passive_auth.hashes_ok
