"""Signature pad end to end through the runtime: ``simulated_terminal(modules=["signature_pad"])``
with the Wacom STU driver talking pyusb to the fake-USB pad (8.4 c); faults and recovery."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtsdk.drivers.wacom_stu import WacomStuDriver, WacomStuSettings
from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.drivers.wacom_stu import render as R
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.signature_pad import Signature
from gtsdk.runtime import Terminal
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

pytest.importorskip("usb")


@pytest.fixture
def term(tmp_path: Path) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path, modules=["signature_pad"])
    with t:
        t.simulations["signature_pad"].control("speed", {"factor": 40})
        t.signature_pad.open()
        yield t


def sim(t: SimulatedTerminal):  # type: ignore[no-untyped-def]
    return t.simulations["signature_pad"]


def error_of(fn, *a, **kw) -> GtsdkError:  # type: ignore[no-untyped-def]
    with pytest.raises(GtsdkError) as e:
        fn(*a, **kw)
    return e.value


def wait_state(t: SimulatedTerminal, state: str, limit: float = 10.0) -> str:
    end = time.monotonic() + limit
    while time.monotonic() < end and t.signature_pad.status().state != state:
        time.sleep(0.05)
    return str(t.signature_pad.status().state)


def test_chinese_name_signature(term: SimulatedTerminal) -> None:
    sim(term).control("sign", {"what": "张三"})
    s = term.signature_pad.get_signature(timeout=30)
    assert isinstance(s, Signature) and s.completed
    assert s.strokes >= 5 and s.pen_ups == s.strokes - 1 and s.points > 100
    # pad time stamps: real writing time even though the simulation ran 40× faster
    assert 800 < s.duration_ms < 20_000
    assert s.image_png is not None
    im = Image.open(io.BytesIO(s.image_png))
    corner = im.getpixel((0, 0))
    assert im.mode == "RGBA" and isinstance(corner, tuple) and corner[3] == 0
    assert im.size[0] < 800 and im.size[1] < 480  # cropped
    alpha = np.asarray(im.getchannel("A"))
    assert 0.02 < (alpha > 0).mean() < 0.6
    assert len(np.unique(alpha)) > 10  # anti-aliased, pressure-weighted edges
    events = [e.type for e in term.events.since(0)[0]]
    assert "penDown" in events and "signatureCompleted" in events


def test_iso_19794_7_time_series(term: SimulatedTerminal) -> None:
    sim(term).control("sign", {"what": "李"})
    s = term.signature_pad.get_signature(timeout=30)
    assert s.iso19794_7 is not None
    rec = K.decode_iso7(s.iso19794_7)
    assert rec.channels == [K.CH_X, K.CH_Y, K.CH_T, K.CH_F, K.CH_S]
    assert abs(rec.attributes[K.CH_X][7] - 100.0) < 0.1  # 10800 units over 108 mm
    assert rec.attributes[K.CH_T][7] == 1000.0
    t = [p[K.CH_T] for p in rec.points]
    assert t[0] == 0 and bool(np.all(np.diff(t) >= 0))
    tips = [p[K.CH_S] for p in rec.points]
    assert tips[0] == 1 and tips[-1] == 1 and 0 in tips  # pen-up travel between strokes is in the series
    assert sum(tips) == s.points
    steps = np.diff(t)
    assert np.median(steps) == 5  # 200 reports per second
    assert max(p[K.CH_F] for p in rec.points) <= 1023


def test_prompt_screen_shows_chinese_prompt_and_buttons(term: SimulatedTerminal) -> None:
    pad = sim(term).pad
    snap: list[Image.Image] = []

    def watch() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end and not pad.displayed:
            time.sleep(0.005)
        if pad.screen is not None:
            snap.append(pad.screen.copy())
        sim(term).control("tap", {"button": "cancel"})

    th = threading.Thread(target=watch)
    th.start()
    s = term.signature_pad.get_signature(prompt="请在此签名", timeout=20)
    th.join()
    assert not s.completed and s.image_png is None
    assert snap, "the prompt never reached the pad"
    lay = R.Layout.for_screen(800, 480)
    expected = R.prompt_image(lay, "请在此签名")
    assert np.array_equal(np.asarray(snap[0]), np.asarray(expected))  # uploaded intact (BGR, 253-byte chunks)
    text = np.asarray(snap[0].crop(lay.prompt).convert("L"))
    assert (text < 100).sum() > 500  # glyphs were drawn (a missing CJK font draws nothing or boxes)
    assert pad.area == lay.box
    assert pad.inking is False  # switched off again at the end


def test_clear_discards_the_first_attempt(term: SimulatedTerminal) -> None:
    sim(term).control("sign", {"what": "scribble", "then": "clear"})
    sim(term).control("sign", {"what": "王"})
    s = term.signature_pad.get_signature(timeout=30)
    assert s.completed and s.strokes >= 3
    # the scribble is one long stroke of ~300 samples; the kept strokes are the character's
    assert K.CLEAR_SCREEN in sim(term).pad.feature_log


def test_scribble_statistics_let_the_app_reject_it(term: SimulatedTerminal) -> None:
    sim(term).control("sign", {"what": "scribble"})
    s = term.signature_pad.get_signature(timeout=30)
    assert s.completed and s.strokes == 1 and s.pen_ups == 0


def test_ok_without_writing_is_an_empty_signature(term: SimulatedTerminal) -> None:
    sim(term).control("tap", {"button": "ok"})
    s = term.signature_pad.get_signature(timeout=20)
    assert s.completed and s.points == 0 and s.strokes == 0 and s.iso19794_7 is None


def test_timeout_without_user(term: SimulatedTerminal) -> None:
    e = error_of(term.signature_pad.get_signature, timeout=0.6)
    assert e.code == ErrorCode.TIME_OUT


def test_unplug_is_no_device_and_replug_recovers(term: SimulatedTerminal) -> None:
    sim(term).control("unplug", {})
    e = error_of(term.signature_pad.get_signature, timeout=10)
    assert e.code == ErrorCode.NO_DEVICE
    assert term.signature_pad.status().state == "noDevice"
    e2 = error_of(term.signature_pad.get_signature, timeout=10)
    assert e2.code == ErrorCode.NO_DEVICE  # still gone: reconnect fails cleanly
    sim(term).control("replug", {})
    assert wait_state(term, "online") == "online"
    sim(term).control("sign", {"what": "赵"})
    assert term.signature_pad.get_signature(timeout=30).completed


def test_unplug_while_signing(term: SimulatedTerminal) -> None:
    pad = sim(term).pad

    def pull() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end and not pad.displayed:
            time.sleep(0.005)
        time.sleep(0.05)
        sim(term).control("unplug", {})

    th = threading.Thread(target=pull)
    th.start()
    e = error_of(term.signature_pad.get_signature, timeout=10)
    th.join()
    assert e.code == ErrorCode.NO_DEVICE


def test_stuck_pen_is_hardware_error(term: SimulatedTerminal) -> None:
    sim(term).control("stuck_pen", {"on": True})
    e = error_of(term.signature_pad.get_signature, timeout=20)
    assert e.code == ErrorCode.HARDWARE_ERROR and "stuck" in e.detail
    sim(term).control("stuck_pen", {"on": False})
    sim(term).control("sign", {"what": "scribble"})
    assert term.signature_pad.get_signature(timeout=20).completed


def test_capabilities(term: SimulatedTerminal) -> None:
    caps = term.signature_pad.capabilities()
    assert caps.device.vendor == "Wacom" and caps.device.model == "STU-540"
    assert caps.features["screen"] == {"width": 800, "height": 480}
    assert term.signature_pad.health().ok


def test_without_usb_the_driver_reports_no_device() -> None:
    """With the real libusb backend and no USB in the kernel (docs/test-peers.md §8) the pad is simply absent."""
    drv = WacomStuDriver(WacomStuSettings())
    with pytest.raises(GtsdkError) as e:
        drv.connect()
    assert e.value.code == ErrorCode.NO_DEVICE


def test_bad_backend_setting_is_config_error() -> None:
    drv = WacomStuDriver(WacomStuSettings(backend="no.such.module:backend"))
    with pytest.raises(GtsdkError) as e:
        drv.connect()
    assert e.value.code == ErrorCode.CONFIG_ERROR


def test_untimed_reports_use_the_host_clock(tmp_path: Path) -> None:
    from gtsdk.runtime import parse_config
    from gtsdk.simulators.signature_pad import start

    s = start(tmp_path / "sim", speed=4)
    cfg = parse_config({"modules": {"signature_pad": {"driver": "wacom_stu", **s.settings, "timed_reports": False}}})
    try:
        with Terminal(cfg) as t:
            t.signature_pad.open()
            s.control("sign", {"what": "scribble"})
            sig = t.signature_pad.get_signature(timeout=30)
            assert sig.completed and sig.strokes == 1
            assert s.pad.mode == 0  # plain 0x01 pen reports, no pad time stamps
            assert 50 < sig.duration_ms < 5000  # measured on arrival (4× faster than real time)
    finally:
        s.stop()


def test_stu430_small_screen_without_timed_reports(tmp_path: Path) -> None:
    """The driver follows the pad's capability report: 320×200 screen, 0x01 reports only (host clock)."""
    from gtsdk.runtime import parse_config
    from gtsdk.simulators.signature_pad import start

    s = start(tmp_path / "sim", speed=4, model="STU-430")
    cfg = parse_config({"modules": {"signature_pad": {"driver": "wacom_stu", **s.settings}}})
    try:
        with Terminal(cfg) as t:
            t.signature_pad.open()
            caps = t.signature_pad.capabilities()
            assert caps.device.model == "STU-430" and caps.features["screen"] == {"width": 320, "height": 200}
            s.control("sign", {"what": "李"})
            sig = t.signature_pad.get_signature(timeout=30)
            assert sig.completed and sig.strokes >= 3 and sig.iso19794_7 is not None
            rec = K.decode_iso7(sig.iso19794_7)
            assert abs(rec.attributes[K.CH_X][7] - 100.0) < 0.1  # 9600 units over 96 mm
            assert s.pad.area == R.Layout.for_screen(320, 200).box
    finally:
        s.stop()
