"""End to end against a real pcscd + vsmartcard-vpcd + pyscard, with the simulator's ICAO chip
on the card side: Terminal -> icao_pcsc driver -> pcscd -> vpcd -> virtual chip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators.travel_doc import SAMPLES, TravelDocSimulation

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path_factory.mktemp("traveldoc"), modules=["travel_doc"])
    if "travel_doc" not in t.simulations:
        reason = t.devices["travel_doc"].disabled_reason if "travel_doc" in t.devices else "simulator missing"
        t.stop()
        pytest.skip(f"PC/SC peer unavailable: {reason}")
    with t:
        yield t


@pytest.fixture
def sim(term: SimulatedTerminal) -> Iterator[TravelDocSimulation]:
    s = term.simulations["travel_doc"]
    assert isinstance(s, TravelDocSimulation)
    s.control("clear", {})
    yield s
    s.control("clear", {})
    s.control("remove", {})


def read(t: SimulatedTerminal, timeout: float = 8, **kw: Any) -> Any:
    return t.travel_doc.read(timeout=timeout, **kw)  # seconds


def fails(t: SimulatedTerminal, timeout: float = 8, **kw: Any) -> GtsdkError:
    with pytest.raises(GtsdkError) as e:
        read(t, timeout, **kw)
    return e.value


def test_passport_bac_dg1_dg2_sod(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "passport"})
    d = read(term, mrz=SAMPLES["passport"])
    assert (d.document_type, d.document_number, d.surname, d.given_names) == ("P", "L898902C3", "ERIKSSON",
                                                                                "ANNA MARIA")
    assert d.birth_date == date(1974, 8, 12) and d.sex == "F" and d.data_groups == ["DG1", "DG2"]
    assert d.photo[:8] == b"\x89PNG\r\n\x1a\n" and d.photo_format == "jpeg" and (d.photo_width, d.photo_height) == \
        (120, 150)
    assert d.photo_original == sim.document.photo  # type: ignore[union-attr]
    pa = d.passive_auth
    assert pa.hashes_ok and pa.signature_ok and pa.chain_ok


@pytest.mark.parametrize("doc,kind", [("cs", "CS"), ("cd", "CD"), ("cr", "CR"), ("ct", "CT")])
def test_chinese_permits(term: SimulatedTerminal, sim: TravelDocSimulation, doc: str, kind: str) -> None:
    sim.control("insert", {"doc": doc})
    d = read(term, mrz=SAMPLES[doc], read_photo=False)
    assert d.document_type == kind and d.photo is None and d.passive_auth.hashes_ok


def test_bac_from_fields_and_jpeg2000_photo(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "cs", "photo": "jpeg2000"})
    d = read(term, document_number="C53158095", birth_date="1997-12-08", expiry_date="2026-12-19")
    assert d.document_number == "C53158095" and d.photo_format == "jpeg2000" and d.photo[:4] == b"\x89PNG"


def test_wrong_mrz_is_authentication_failed_then_recovers(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "passport"})
    err = fails(term, mrz=SAMPLES["cs"])
    assert err.code == ErrorCode.AUTHENTICATION_FAILED
    assert read(term, mrz=SAMPLES["passport"], read_photo=False).document_number == "L898902C3"


def test_missing_mrz_is_invalid_data(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    err = fails(term)
    assert err.code == ErrorCode.INVALID_DATA and err.field == "mrz"


def test_no_document_until_the_deadline_is_time_out(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("remove", {})
    assert fails(term, 1.5, mrz=SAMPLES["passport"]).code == ErrorCode.TIME_OUT


def test_card_pulled_mid_read_is_no_media(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "passport"})
    sim.control("fault", {"kind": "pull", "after": 8})
    assert fails(term, mrz=SAMPLES["passport"]).code == ErrorCode.NO_MEDIA
    sim.control("insert", {"doc": "passport"})
    assert read(term, mrz=SAMPLES["passport"]).passive_auth.hashes_ok


def test_sm_mac_failure_is_invalid_data(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "cr"})
    sim.control("fault", {"kind": "mac"})
    err = fails(term, mrz=SAMPLES["cr"])
    assert err.code == ErrorCode.INVALID_DATA and "MAC" in err.detail
    assert read(term, mrz=SAMPLES["cr"]).document_type == "CR"


def test_tampered_dg1_fails_passive_auth(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "passport", "tamper": True})
    pa = read(term, mrz=SAMPLES["passport"], read_photo=False).passive_auth
    assert not pa.hashes_ok and pa.signature_ok and "DG1" in pa.detail


def test_arrival_and_removal_events(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("remove", {})
    end = time.monotonic() + 8
    while term.travel_doc.status().detail.get("cardPresent") and time.monotonic() < end:
        time.sleep(0.05)  # a swap faster than the poll interval is one card to a polling reader
    seq = term.events.last_seq
    sim.control("insert", {"doc": "cd"})
    _wait(term, "cardInserted", seq)
    seq = term.events.last_seq
    sim.control("remove", {})
    _wait(term, "cardRemoved", seq)


def _wait(t: SimulatedTerminal, kind: str, after: int, limit: float = 8.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        events, _ = t.events.since(after, ["travel_doc"])
        if any(e.type == kind for e in events):
            return
        time.sleep(0.05)
    pytest.fail(f"no {kind} event")


def test_silent_chip_times_out_then_recovers(term: SimulatedTerminal, sim: TravelDocSimulation) -> None:
    sim.control("insert", {"doc": "cs"})
    sim.control("fault", {"kind": "mute"})
    assert fails(term, 2, mrz=SAMPLES["cs"]).code == ErrorCode.TIME_OUT
    sim.control("clear", {})
    sim.control("insert", {"doc": "cs"})  # re-present the document
    assert read(term, mrz=SAMPLES["cs"], read_photo=False).document_type == "CS"
