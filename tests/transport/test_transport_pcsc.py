"""gtsdk.transport.pcsc against a real pcscd + vsmartcard-vpcd with the travel-document simulator's chip
on the card side: reader discovery, presence, APDU exchange, and the bounds PC/SC itself lacks — a
card that never answers costs the operation its deadline, not a thread forever, and does not stack
a second blocked exchange behind the first."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gtsdk import sim as simulation
from gtsdk.driver import OpContext
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.transport import pcsc
from gtsdk.transport.pcsc import PcscCard, PcscReader, use_socket

SELECT_LDS1 = bytes.fromhex("00A4040C07A0000002471001")
GET_CHALLENGE = bytes.fromhex("0084000008")


def card_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "gtsdk-pcsc-card")


def take_card(reader: PcscReader) -> PcscCard:
    return reader.wait_card(OpContext("take", 5))


def remove(sim: simulation.Simulation, reader: PcscReader) -> None:
    """Take the card away and let the reader settle.  A virtual card that reconnects to vpcd within
    about 0.2 s of one dropped in the middle of an exchange is never seen (measured: 0.05 s stays
    empty, 0.2 s works) — a simulator artefact, so the tests leave vpcd that time."""
    sim.control("clear", {})
    sim.control("remove", {})
    assert wait_until(lambda: not reader.busy and not reader.card_present())
    time.sleep(0.5)


def wait_until(cond: object, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[simulation.Simulation]:
    pytest.importorskip("smartcard")
    try:
        s = simulation.start("travel_doc", tmp_path_factory.mktemp("pcsc"))
    except GtsdkError as e:
        pytest.skip(f"PC/SC peer unavailable: {e.detail}")
    yield s
    s.stop()


@pytest.fixture
def reader(sim: simulation.Simulation) -> Iterator[PcscReader]:
    sim.control("clear", {})
    sim.control("remove", {})
    r = PcscReader(sim.settings["reader"], socket=sim.settings.get("pcsc_socket"), apdu_timeout=30.0)
    r.open()
    yield r
    remove(sim, r)
    r.close()


@pytest.mark.peer
@pytest.mark.daemons
def test_reader_by_name_or_a_unique_part(sim: simulation.Simulation) -> None:
    name = sim.settings["reader"]
    for want in (name, name[-5:]):
        r = PcscReader(want)
        r.open()
        assert r.is_open and r.name == name
        r.close()
        assert not r.is_open
    with pytest.raises(GtsdkError) as e:
        PcscReader("no such reader").open()
    assert e.value.code == ErrorCode.NO_DEVICE
    with pytest.raises(GtsdkError) as e:
        PcscReader(name).card_present()
    assert e.value.code == ErrorCode.NO_DEVICE


@pytest.mark.peer
@pytest.mark.daemons
def test_presence_and_an_apdu_exchange(sim: simulation.Simulation, reader: PcscReader) -> None:
    assert reader.card_present() is False
    assert reader.connect_card() is None
    sim.control("insert", {"doc": "cs"})
    assert wait_until(reader.card_present)
    card = take_card(reader)
    try:
        assert card.transmit(SELECT_LDS1, OpContext("p2", 5)) == (b"", 0x9000)
        challenge, sw = card.transmit(GET_CHALLENGE, OpContext("p3", 5))
        assert sw == 0x9000 and len(challenge) == 8
    finally:
        card.close()
    remove(sim, reader)


@pytest.mark.peer
@pytest.mark.daemons
def test_waiting_for_a_card_ends_at_the_deadline(reader: PcscReader) -> None:
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        reader.wait_card(OpContext("w1", 0.5), absent="nothing on the reader")
    assert e.value.code == ErrorCode.TIME_OUT and e.value.detail == "nothing on the reader"
    assert time.monotonic() - t0 < 5


@pytest.mark.peer
@pytest.mark.daemons
def test_a_mute_card_costs_the_deadline_and_blocks_nothing_after_it(sim: simulation.Simulation,
                                                                    reader: PcscReader) -> None:
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    before = card_threads()
    sim.control("fault", {"kind": "mute"})
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        card.transmit(SELECT_LDS1, OpContext("m2", 0.5))
    assert e.value.code == ErrorCode.TIME_OUT and time.monotonic() - t0 < 10  # not the 30 s APDU bound
    assert card.stuck and reader.busy
    # a second read does not stack another blocked exchange behind the first
    with pytest.raises(GtsdkError) as e:
        reader.wait_card(OpContext("m3", 0.5))
    assert e.value.code == ErrorCode.TIME_OUT and "still busy" in e.value.detail
    assert reader.card_present()  # presence checks run on their own context meanwhile
    remove(sim, reader)  # pcscd returns the stuck exchange; its session closes behind it
    assert wait_until(lambda: card_threads() < before)
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    assert card.transmit(SELECT_LDS1, OpContext("m5", 5))[1] == 0x9000
    card.close()


@pytest.mark.peer
@pytest.mark.daemons
def test_the_apdu_bound_applies_inside_a_longer_deadline(sim: simulation.Simulation, reader: PcscReader) -> None:
    reader.apdu_timeout = 0.3
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    sim.control("fault", {"kind": "mute"})
    with pytest.raises(GtsdkError) as e:
        card.transmit(SELECT_LDS1, OpContext("a2", 20))
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR and "no answer within 0.3 s" in e.value.detail


@pytest.mark.peer
@pytest.mark.daemons
def test_cancel_stops_an_exchange(sim: simulation.Simulation, reader: PcscReader) -> None:
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    sim.control("fault", {"kind": "mute"})
    ctx = OpContext("c2", 20)
    threading.Timer(0.2, ctx.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        card.transmit(SELECT_LDS1, ctx)
    assert e.value.code == ErrorCode.CANCELED and time.monotonic() - t0 < 10


@pytest.mark.peer
@pytest.mark.daemons
def test_a_card_pulled_mid_exchange_is_no_media(sim: simulation.Simulation, reader: PcscReader) -> None:
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    sim.control("fault", {"kind": "pull", "after": 1})
    assert card.transmit(SELECT_LDS1, OpContext("n2", 5))[1] == 0x9000
    with pytest.raises(GtsdkError) as e:
        for _ in range(3):
            card.transmit(GET_CHALLENGE, OpContext("n3", 5))
    assert e.value.code == ErrorCode.NO_MEDIA
    card.close()


def reset_by_another_application(reader: PcscReader) -> None:
    """Another PC/SC client connects to the card and disconnects with a warm reset: pcscd re-powers the card and
    flags every other handle on it (``SCARD_W_RESET_CARD`` on their next exchange), as a document swapped faster
    than pcscd polls leaves a session opened across the swap stale."""
    from smartcard import scard

    hr, hcontext = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == 0
    try:
        hr, hcard, _ = scard.SCardConnect(hcontext, reader.name, scard.SCARD_SHARE_SHARED,
                                          scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        assert hr == 0
        assert scard.SCardDisconnect(hcard, scard.SCARD_RESET_CARD) == 0
    finally:
        scard.SCardReleaseContext(hcontext)


@pytest.mark.peer
@pytest.mark.daemons
def test_a_card_reset_before_the_first_exchange_is_reconnected_once(sim: simulation.Simulation,
                                                                    reader: PcscReader) -> None:
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    try:
        reset_by_another_application(reader)
        assert card.transmit(SELECT_LDS1, OpContext("r1", 5)) == (b"", 0x9000)
        assert card.reconnects == 1
        challenge, sw = card.transmit(GET_CHALLENGE, OpContext("r2", 5))
        assert sw == 0x9000 and len(challenge) == 8 and card.reconnects == 1
    finally:
        card.close()


@pytest.mark.peer
@pytest.mark.daemons
def test_a_card_reset_after_the_first_exchange_ends_the_session(sim: simulation.Simulation,
                                                                reader: PcscReader) -> None:
    """After an exchange the card holds the session's state (a selected application, secure messaging keys): a
    reset loses it, so the session is over — no silent reconnection under the caller."""
    sim.control("insert", {"doc": "cs"})
    card = take_card(reader)
    try:
        assert card.transmit(SELECT_LDS1, OpContext("s1", 5))[1] == 0x9000
        reset_by_another_application(reader)
        with pytest.raises(GtsdkError) as e:
            card.transmit(GET_CHALLENGE, OpContext("s2", 5))
        assert e.value.code == ErrorCode.NO_MEDIA and card.reconnects == 0
    finally:
        card.close()


def test_one_pcscd_socket_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """libpcsclite reads PCSCLITE_CSOCK_NAME once: the socket is set before the first contact and a
    different one afterwards is a configError naming the setting."""
    monkeypatch.setattr(pcsc, "_socket_in_use", None)
    monkeypatch.delenv(pcsc.SOCKET_ENV, raising=False)
    use_socket(None)
    assert pcsc.SOCKET_ENV not in os.environ
    use_socket(str(tmp_path / "a.comm"))
    assert os.environ[pcsc.SOCKET_ENV] == str(tmp_path / "a.comm")
    pcsc._first_contact()
    use_socket(str(tmp_path / "a.comm"))  # the same socket again is fine
    with pytest.raises(ConfigError) as e:
        use_socket(str(tmp_path / "b.comm"))
    assert e.value.field == "pcsc_socket" and os.environ[pcsc.SOCKET_ENV] == str(tmp_path / "a.comm")


def test_card_gone_concludes_only_from_a_check_made_after_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """pcscd reports a pulled card on its next poll; under load each status round trip is slow.  "Still
    there" (a mute card, communicationError) may only come from a check that started once the window had
    passed, or a card pcscd noticed late in the window is called mute."""
    monkeypatch.setattr(pcsc, "REMOVAL_GRACE", 0.3)
    reader = PcscReader()
    t0 = time.monotonic()
    starts: list[float] = []

    def present(ctx: OpContext | None = None) -> bool:
        starts.append(time.monotonic() - t0)
        time.sleep(0.2)  # a slow round trip to pcscd
        return starts[-1] < 0.28  # pcscd's poll saw the card go just before the window closed

    monkeypatch.setattr(reader, "card_present", present)
    assert reader.card_gone(OpContext("gone", 5))  # the early checks still saw it; the one after the window did not

    def stays(ctx: OpContext | None = None) -> bool:
        starts.append(time.monotonic() - t0)
        return True

    starts.clear()
    t0 = time.monotonic()
    monkeypatch.setattr(reader, "card_present", stays)
    assert not reader.card_gone(OpContext("mute", 5))  # a card still there after the window: not gone
    assert starts[-1] >= 0.3


@pytest.mark.parametrize("timeout", [0.0, 0.15])
def test_card_gone_after_the_deadline_is_time_out(monkeypatch: pytest.MonkeyPatch, timeout: float) -> None:
    """An exchange that returned after the operation's deadline (a loaded machine), or a deadline that comes
    during the watch: the outcome is timeOut — not a communicationError that would make the runtime drop and
    reopen the reader while the next operation waits."""
    monkeypatch.setattr(pcsc, "REMOVAL_GRACE", 0.3)
    reader = PcscReader()
    monkeypatch.setattr(reader, "card_present", lambda ctx=None: True)
    ctx = OpContext("late", timeout)
    with pytest.raises(GtsdkError) as e:
        reader.card_gone(ctx)
    assert e.value.code == ErrorCode.TIME_OUT


def test_card_gone_when_the_reader_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A presence check that fails for another reason (pcscd gone) is no evidence of removal: not gone."""
    reader = PcscReader()

    def broken(ctx: OpContext | None = None) -> bool:
        raise GtsdkError(ErrorCode.NO_DEVICE, "PC/SC reader not open")

    monkeypatch.setattr(reader, "card_present", broken)
    assert not reader.card_gone(OpContext("broken", 5))
