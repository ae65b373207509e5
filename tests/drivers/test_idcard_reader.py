"""End to end: Terminal -> sam_serial driver -> pty -> simulated SAM reader (real pyserial on a real pty)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.driver import OpContext
from gtsdk.drivers.sam_serial import SamSerialDriver, SamSerialSettings
from gtsdk.drivers.sam_serial import codec as codec_mod
from gtsdk.drivers.sam_serial.codec import SW3, Command
from gtsdk.drivers.sam_serial.tables import id_check_char
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.idcard import CardType, ReadRequest
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators import idcard as idsim


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path_factory.mktemp("idcard"), modules=["idcard"])
    with t:
        yield t


def wait_absent(t: SimulatedTerminal, limit: float = 5.0) -> None:
    end = time.monotonic() + limit
    while t.idcard.status().detail.get("cardPresent") and time.monotonic() < end:
        time.sleep(0.05)


def present(t: SimulatedTerminal, sim: idsim.IdCardSimulation, key: str) -> None:
    """Take any card away, let the reader's poll see the empty field, then put *key* down
    (a swap faster than the poll interval is one card to a polling reader)."""
    sim.control("remove", {})
    wait_absent(t)
    sim.control("insert", {"card": key})


@pytest.fixture
def sim(term: SimulatedTerminal) -> Iterator[idsim.IdCardSimulation]:
    s = term.simulations["idcard"]
    assert isinstance(s, idsim.IdCardSimulation)
    s.control("clear", {})
    s.control("remove", {})
    wait_absent(term)
    yield s
    s.control("clear", {})
    s.control("remove", {})


def read(t: SimulatedTerminal, timeout: float = 3, **kw: Any) -> Any:
    return t.idcard.read(timeout=timeout, **kw)  # seconds


def fails(t: SimulatedTerminal, timeout: float = 3, **kw: Any) -> GtsdkError:
    with pytest.raises(GtsdkError) as e:
        read(t, timeout, **kw)
    return e.value


def wait_event(t: SimulatedTerminal, kind: str, after: int, limit: float = 5.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        events, _ = t.events.since(after, ["idcard"])
        if any(e.type == kind for e in events):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("key,card_type", [
    ("resident", CardType.RESIDENT), ("resident_longterm", CardType.RESIDENT), ("hmt", CardType.HMT_PERMIT),
    ("foreigner2017", CardType.FOREIGNER_2017), ("foreigner2023", CardType.FOREIGNER_2023),
])
def test_reads_every_card_type(term: SimulatedTerminal, sim: idsim.IdCardSimulation, key: str,
                               card_type: CardType) -> None:
    sim.control("insert", {"card": key})
    d = read(term)
    assert d.card_type is card_type
    assert d.photo_wlt == sim.cards[key].photo and d.photo is None and "wlt_decoder" in d.photo_note
    assert d.wire()["photoWlt"]  # base64 on the wire


def test_fingerprint_and_appended_address(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    d = read(term, with_fingerprint=True, with_appended_address=True)
    assert d.fingerprints == sim.cards["resident"].fingerprint and d.appended_address == "北京市西城区测试胡同2号"
    present(term, sim, "hmt")
    d = read(term, with_fingerprint=True, with_appended_address=True)
    assert d.fingerprints is None and d.appended_address is None  # SW3 91: no such content


def test_no_card_until_the_deadline_is_time_out(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    assert fails(term, 0.6).code == ErrorCode.TIME_OUT


def test_a_card_must_leave_before_it_is_read_again(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    assert read(term).name == "张示例"
    err = fails(term, 0.8)
    assert err.code == ErrorCode.TIME_OUT
    present(term, sim, "resident")
    assert read(term).name == "张示例"


def test_non_halting_reader_still_needs_removal(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("halt", {"on": False})
    try:
        sim.control("insert", {"card": "hmt"})
        assert read(term).card_type is CardType.HMT_PERMIT
        assert fails(term, 1.2).code == ErrorCode.TIME_OUT  # same card still lying there
        present(term, sim, "hmt")
        assert read(term).card_type is CardType.HMT_PERMIT
    finally:
        sim.control("halt", {"on": True})


def test_arrival_and_removal_events(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    wait_absent(term)
    seq = term.events.last_seq
    sim.control("insert", {"card": "foreigner2017"})
    assert wait_event(term, "cardInserted", seq)
    seq = term.events.last_seq
    sim.control("remove", {})
    assert wait_event(term, "cardRemoved", seq)


@pytest.mark.parametrize("code,expected", [
    ("41", ErrorCode.USER_ERROR), ("60", ErrorCode.HARDWARE_ERROR), ("66", ErrorCode.HARDWARE_ERROR),
    ("31", ErrorCode.AUTHENTICATION_FAILED), ("40", ErrorCode.UNSUPPORTED_DATA),
])
def test_sw3_faults_then_recovery(term: SimulatedTerminal, sim: idsim.IdCardSimulation, code: str,
                                  expected: ErrorCode) -> None:
    sim.control("insert", {"card": "resident"})
    sim.control("fault", {"kind": "sw3", "code": code, "command": "read"})
    err = fails(term)
    assert err.code == expected and err.data.get("sw3") == code
    assert read(term).card_type is CardType.RESIDENT


def test_sam_status_failure_is_hardware_error(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    sim.control("fault", {"kind": "sam", "code": "60"})
    assert fails(term).code == ErrorCode.HARDWARE_ERROR
    sim.control("clear", {})
    assert read(term).card_type is CardType.RESIDENT


def test_sw3_10_and_11_are_resent(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "hmt"})
    sim.control("fault", {"kind": "sw3", "code": "10", "command": "read"})
    sim.control("fault", {"kind": "sw3", "code": "11", "command": "select"})
    before = len(sim.device.log)
    assert read(term).card_type is CardType.HMT_PERMIT
    log = sim.device.log[before:]
    assert log.count("SELECT") == 2 and log.count("READ_BASE") == 2
    present(term, sim, "hmt")
    sim.control("fault", {"kind": "sw3", "code": "10", "command": "read", "count": 3})
    assert fails(term).code == ErrorCode.COMMUNICATION_ERROR
    assert read(term).card_type is CardType.HMT_PERMIT


def test_wrong_checksum_is_retried_then_reported(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "foreigner2023"})
    sim.control("fault", {"kind": "checksum", "count": 1})
    assert read(term).card_type is CardType.FOREIGNER_2023
    present(term, sim, "foreigner2023")
    sim.control("fault", {"kind": "checksum", "count": 3})
    err = fails(term)
    assert err.code == ErrorCode.COMMUNICATION_ERROR and "checksum" in err.detail
    assert read(term).card_type is CardType.FOREIGNER_2023


def test_mid_frame_cut_then_recovery(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    sim.control("fault", {"kind": "cut"})
    assert fails(term).code == ErrorCode.COMMUNICATION_ERROR
    assert read(term).card_type is CardType.RESIDENT


def test_no_answer_then_recovery(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    sim.control("fault", {"kind": "mute"})
    assert fails(term).code in (ErrorCode.COMMUNICATION_ERROR, ErrorCode.NO_DEVICE)
    sim.control("clear", {})
    assert read(term).card_type is CardType.RESIDENT


def test_unplug_then_replug(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    sim.control("insert", {"card": "resident"})
    sim.control("unplug", {})
    try:
        assert fails(term, 1.5).code in (ErrorCode.NO_DEVICE, ErrorCode.COMMUNICATION_ERROR)
    finally:
        sim.control("replug", {})
    assert read(term, 5).card_type is CardType.RESIDENT


def test_bad_check_digit_card_is_invalid_data(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    good = sim.cards["resident"]
    n = good.fields["id_number"]
    bad_digit = "0" if n[17] != "0" else "1"
    fields = dict(good.fields, id_number=n[:17] + bad_digit)
    sim.cards["badcheck"] = idsim.SampleCard("badcheck", CardType.RESIDENT, fields)
    try:
        sim.control("insert", {"card": "badcheck"})
        err = fails(term)
        assert err.code == ErrorCode.INVALID_DATA and err.field == "idNumber" and n[:17] not in str(err.to_dict())
        present(term, sim, "resident")
        assert read(term).card_type is CardType.RESIDENT
    finally:
        del sim.cards["badcheck"]


def test_simulator_rejects_unknown_actions(sim: idsim.IdCardSimulation) -> None:
    with pytest.raises(GtsdkError):
        sim.control("explode", {})
    with pytest.raises(GtsdkError):
        sim.control("insert", {"card": "nope"})
    assert "insert" in sim.actions() and "ttySAM0" in sim.describe()


# ---- driver alone: other baud rates, noise on the line, the WLT ctypes hook -------------------------

_WLT_C = r"""
#include <string.h>
/* stand-in for a licensed decoder: writes a 102x126 24-bit BMP whose blue channel is wlt[0] */
int unpack(const unsigned char *wlt, unsigned char *out, int flag) {
    int w = 102, h = 126, row = 308, size = 54 + row * h;
    memset(out, 0, size);
    out[0] = 'B'; out[1] = 'M';
    out[2] = size & 255; out[3] = (size >> 8) & 255; out[4] = (size >> 16) & 255;
    out[10] = 54; out[14] = 40; out[18] = w; out[22] = h; out[26] = 1; out[28] = 24;
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) out[54 + y * row + 3 * x] = wlt[0];
    return 1;
}
"""


@pytest.fixture
def device(tmp_path: Path) -> Iterator[idsim.SamReaderDevice]:
    d = idsim.SamReaderDevice(baudrate=57600, link=tmp_path / "tty").start()
    yield d
    d.stop()


def _driver(path: Path, **kw: Any) -> SamSerialDriver:
    s = SamSerialSettings.model_validate({"port": str(path), "baudrate": 57600, **kw})
    drv = SamSerialDriver(s)
    drv.connect()
    return drv


def test_wlt_decoder_hook_via_ctypes(tmp_path: Path, device: idsim.SamReaderDevice) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not available to build the stand-in WLT library")
    src = tmp_path / "wlt.c"
    src.write_text(_WLT_C)
    lib = tmp_path / "libwltstub.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)
    drv = _driver(tmp_path / "tty", wlt_decoder=f"{lib}:unpack")
    try:
        device.insert(idsim.samples()["resident"])
        d = drv.read(ReadRequest(), OpContext("t", 5.0))
        assert d.photo is not None and d.photo[:8] == b"\x89PNG\r\n\x1a\n" and "decoded" in d.photo_note
        from io import BytesIO

        from PIL import Image

        im = Image.open(BytesIO(d.photo))
        assert im.size == (102, 126) and im.getpixel((0, 0))[2] == d.photo_wlt[0]  # type: ignore[index]
    finally:
        drv.disconnect()


def test_bad_wlt_decoder_setting_is_config_error(tmp_path: Path) -> None:
    s = SamSerialSettings.model_validate({"port": "/dev/null", "wlt_decoder": "/nonexistent.so:unpack"})
    with pytest.raises(GtsdkError) as e:
        SamSerialDriver(s)
    assert e.value.code == ErrorCode.CONFIG_ERROR


def test_noise_before_a_reply_is_skipped(tmp_path: Path, device: idsim.SamReaderDevice) -> None:
    drv = _driver(tmp_path / "tty")
    try:
        orig = device.send
        device.send = lambda data: orig(b"\x01\x02\xaa\xaa\x55" + data)  # type: ignore[method-assign]
        device.insert(idsim.samples()["foreigner2017"])
        assert drv.read(ReadRequest(), OpContext("t", 5.0)).card_type is CardType.FOREIGNER_2017
    finally:
        drv.disconnect()


def test_check_digit_helper_used_by_samples() -> None:
    assert idsim.samples()["resident"].fields["id_number"][17] == id_check_char("11010119900307001")


class _Babbler(idsim.SamReaderDevice):
    """Answers every command with whatever bytes the test hands it."""

    replies: list[bytes]

    def handle(self, req: Any) -> None:
        self.send(self.replies.pop(0) if self.replies else b"")


@pytest.fixture(scope="module")
def babbler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Babbler, SamSerialDriver]]:
    path = tmp_path_factory.mktemp("babble") / "tty"
    dev = _Babbler(baudrate=None, link=path)
    dev.replies = []
    dev.start()
    s = SamSerialSettings.model_validate({"port": str(path), "answer_timeout": 0.05,
                                                       "read_answer_timeout": 0.05, "retries": 1})
    drv = SamSerialDriver(s)
    drv.link.open()
    yield dev, drv
    drv.disconnect()
    dev.stop()


@given(st.lists(st.binary(max_size=64) | st.builds(lambda d, cut: codec_mod.build_response(0x90, d)[:cut],
                                                   st.binary(max_size=40), st.integers(0, 60)), max_size=8))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_garbage_from_the_reader_only_raises_documented_errors(babbler: tuple[_Babbler, SamSerialDriver],
                                                                replies: list[bytes]) -> None:
    dev, drv = babbler
    dev.replies = [codec_mod.build_response(0x9F, bytes(4)), codec_mod.build_response(0x90, bytes(8)), *replies]
    try:
        drv.read(ReadRequest(), OpContext("t", 1.0))
    except GtsdkError as e:
        assert e.code in (ErrorCode.COMMUNICATION_ERROR, ErrorCode.INVALID_DATA, ErrorCode.NO_MEDIA,
                          ErrorCode.USER_ERROR, ErrorCode.HARDWARE_ERROR, ErrorCode.AUTHENTICATION_FAILED,
                          ErrorCode.UNSUPPORTED_DATA, ErrorCode.TIME_OUT)


def test_slow_line_pacing_still_reads(term: SimulatedTerminal, sim: idsim.IdCardSimulation) -> None:
    """At 9600 bd the 1295-byte reply takes 1.35 s on the wire: longer than the 0.5 s answer timeout, which
    restarts with every byte received, so the read completes."""
    sim.control("baud", {"rate": 9600})
    try:
        sim.control("insert", {"card": "foreigner2017"})
        assert read(term, 6).card_type is CardType.FOREIGNER_2017
    finally:
        sim.control("baud", {"rate": 115200})


def test_card_left_on_the_reader_across_unplug_and_replug_reads_again(term: SimulatedTerminal,
                                                                      sim: idsim.IdCardSimulation) -> None:
    """A reader that loses power drops its RF field: the card that was read (and halted, ISO 14443-B HLTB)
    is reset and answers the next find, as if presented anew."""
    sim.control("insert", {"card": "resident"})
    assert read(term).card_type is CardType.RESIDENT
    sim.control("unplug", {})
    try:
        assert fails(term, 1.5).code in (ErrorCode.NO_DEVICE, ErrorCode.COMMUNICATION_ERROR)
    finally:
        sim.control("replug", {})
    assert sim.control("state", {})["card"] == "resident"
    assert read(term, 5).card_type is CardType.RESIDENT


def test_a_late_answer_is_not_taken_for_the_next_commands(tmp_path: Path, device: idsim.SamReaderDevice) -> None:
    """A reply later than ``answer_timeout`` (a reader slow for a moment, a host too busy to run the simulator)
    must not be read as the answer to the command sent next: GA 467 replies do not name their command, and a FIND
    answer (SW3 9F) read as SELECT's was a hardwareError, with every later exchange one reply behind."""
    drv = _driver(tmp_path / "tty", answer_timeout=0.2)
    try:
        device.insert(idsim.samples()["resident"])
        device.delay = 0.6  # the reader answers FIND after the driver gave up on it
        with contextlib.suppress(GtsdkError):
            drv.transact(Command.FIND, OpContext("f", 5.0))
        device.delay = 0.0
        sel = drv.transact(Command.SELECT, OpContext("s", 5.0), gap=3.0)  # waits past the late FIND answer
        assert sel.sw3 == SW3.OK and len(sel.data) == 8
        assert drv.transact(Command.FIND, OpContext("f2", 5.0)).sw3 == SW3.FIND_OK  # in step again
    finally:
        drv.disconnect()
