"""Fingerprint end to end through the runtime: ``simulated_terminal(modules=["fingerprint"])``,
capture and compare (8.4 d), faults → documented catalogue codes, and recovery."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gtsdk.drivers.zhiantec import iso19794_2 as iso
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.fingerprint import Capture, Comparison
from gtsdk.runtime import Terminal
from gtsdk.simulated import SimulatedTerminal, simulated_terminal


@pytest.fixture
def term(tmp_path: Path) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path, modules=["fingerprint"])
    with t:
        t.fingerprint.open()
        yield t


def sim(t: SimulatedTerminal):  # type: ignore[no-untyped-def]
    return t.simulations["fingerprint"]


def wait_state(t: SimulatedTerminal, state: str, limit: float = 10.0) -> str:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st = t.fingerprint.status().state
        if st == state:
            return str(st)
        time.sleep(0.05)
    return str(t.fingerprint.status().state)


def error_of(fn, *a, **kw) -> GtsdkError:  # type: ignore[no-untyped-def]
    with pytest.raises(GtsdkError) as e:
        fn(*a, **kw)
    return e.value


def test_capture_returns_png_template_quality_and_iso(term: SimulatedTerminal) -> None:
    from PIL import Image

    sim(term).control("place_finger", {"person": "张三"})
    c = term.fingerprint.capture()
    assert isinstance(c, Capture)
    assert len(c.template) == 512 and c.template_format == "zhiantec-char-512"
    assert 60 <= c.quality <= 100
    assert c.image_png is not None
    im = Image.open(io.BytesIO(c.image_png))
    assert im.size == (256, 288)
    assert c.iso19794_2 is not None
    rec = iso.decode(c.iso19794_2)
    assert (rec.width, rec.height, rec.resolution) == (256, 288, (197, 197))
    assert len(rec.minutiae) >= 15
    # the host-side minutiae are real: most lie on the simulated finger's true minutiae
    truth = sim(term).device.truth
    near = sum(1 for m in rec.minutiae if any(abs(m.x - x) <= 10 and abs(m.y - y) <= 10 for x, y, _ in truth))
    assert near >= 0.6 * len(rec.minutiae)
    events = [e.type for e in term.events.since(0)[0]]
    assert "fingerPlaced" in events


def test_capture_without_image(term: SimulatedTerminal) -> None:
    sim(term).control("place_finger", {"person": "a"})
    c = term.fingerprint.capture(with_image=False)
    assert c.image_png is None and len(c.template) == 512
    term.fingerprint.capture(with_image=False)
    assert [e.type for e in term.events.since(0)[0]].count("fingerPlaced") == 2  # one per captured finger


def test_compare_live_finger_against_references(term: SimulatedTerminal) -> None:
    s = sim(term)
    refs = [s.template("李四"), s.template("王五"), s.template("王五", 1)]
    s.control("place_finger", {"person": "王五", "finger": 1})
    r = term.fingerprint.compare(references=refs)
    assert isinstance(r, Comparison)
    assert r.matched and r.best_index == 2 and r.threshold == 50
    assert r.scores[2] >= 50 > max(r.scores[:2])


def test_compare_given_probe_and_threshold(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "p1"})
    probe = term.fingerprint.capture(with_image=False).template
    same, other = s.template("p1"), s.template("p2")
    r = term.fingerprint.compare(probe=probe, references=[other, same])
    assert r.matched and r.best_index == 1
    r2 = term.fingerprint.compare(probe=probe, references=[other])
    assert not r2.matched and r2.best_index is None
    strict = term.fingerprint.compare(probe=probe, references=[same], threshold=10_000)
    assert not strict.matched and strict.threshold == 10_000


def test_compare_rejects_foreign_template_sizes(term: SimulatedTerminal) -> None:
    e = error_of(term.fingerprint.compare, probe=b"\x00" * 512, references=[b"\x01" * 100])
    assert e.code == ErrorCode.INVALID_DATA and e.field == "references.0"


def test_no_finger_is_no_media_and_retryable(term: SimulatedTerminal) -> None:
    e = error_of(term.fingerprint.capture, wait=0.3)
    assert e.code == ErrorCode.NO_MEDIA and e.retryable


def test_finger_arriving_while_waiting(term: SimulatedTerminal) -> None:
    sim(term).control("place_finger", {"person": "late", "after": 0.4})
    c = term.fingerprint.capture(wait=5, with_image=False)
    assert len(c.template) == 512


def test_poor_and_messy_images_are_retryable_user_errors(term: SimulatedTerminal) -> None:
    for cond, confirmation in (("poor", 0x07), ("messy", 0x06)):
        sim(term).control("place_finger", {"person": "x", "condition": cond})
        e = error_of(term.fingerprint.capture)
        assert e.code == ErrorCode.USER_ERROR and e.retryable and e.data["confirmation"] == confirmation
    sim(term).control("place_finger", {"person": "x"})
    assert term.fingerprint.capture(with_image=False).quality > 0


def test_sensor_error_is_hardware_error_then_recovers(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("sensor_error", {"on": True})
    e = error_of(term.fingerprint.capture)
    assert e.code == ErrorCode.HARDWARE_ERROR and e.data["confirmation"] == 0x03
    assert term.fingerprint.status().state == "hardwareError"
    s.control("sensor_error", {"on": False})
    term.fingerprint.capture(with_image=False)
    assert term.fingerprint.status().state == "online"


def test_no_answer_is_communication_error_then_recovers(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("mute", {"on": True})
    e = error_of(term.fingerprint.capture)
    assert e.code == ErrorCode.COMMUNICATION_ERROR
    assert term.fingerprint.status().state == "offline"
    s.control("mute", {"on": False})
    assert wait_state(term, "online") == "online"
    assert len(term.fingerprint.capture(with_image=False).template) == 512


def test_one_corrupted_answer_is_retried(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("garble", {})
    assert len(term.fingerprint.capture(with_image=False).template) == 512
    assert s.device.garble is False  # the fault fired


def test_answer_cut_half_way_is_retried(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("cut", {})
    assert len(term.fingerprint.capture(with_image=False).template) == 512
    assert s.device.cut is False


def test_persistent_bad_checksum_is_communication_error(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("garble", {"always": True})
    e = error_of(term.fingerprint.capture, with_image=False)
    assert e.code == ErrorCode.COMMUNICATION_ERROR
    assert "checksum" in e.detail or "corrupt" in e.detail
    s.device.garble_always = False
    s.device.garble = False
    assert wait_state(term, "online") == "online"


def test_wrong_password_is_config_error_and_recovers(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("set_password", {"value": 99})
    s.control("unplug", {})
    s.control("replug", {})  # the module comes back with a password the driver does not know
    e = error_of(term.fingerprint.capture)
    assert e.code in (ErrorCode.CONFIG_ERROR, ErrorCode.NO_DEVICE)
    e2 = error_of(term.fingerprint.capture)
    assert e2.code == ErrorCode.CONFIG_ERROR and "password" in e2.detail
    assert term.fingerprint.status().state == "hardwareError"
    s.control("set_password", {"value": 0})
    s.control("place_finger", {"person": "x"})
    assert len(term.fingerprint.capture(with_image=False).template) == 512
    assert term.fingerprint.status().state == "online"


def test_unplug_is_no_device_and_replug_recovers(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "x"})
    s.control("unplug", {})
    e = error_of(term.fingerprint.capture)
    assert e.code == ErrorCode.NO_DEVICE
    assert term.fingerprint.status().state == "noDevice"
    s.control("replug", {})
    assert wait_state(term, "online") == "online"
    assert len(term.fingerprint.capture(with_image=False).template) == 512


def test_deadline_while_waiting_for_finger(term: SimulatedTerminal) -> None:
    """Without a finger wait shorter than the deadline, waiting for a person ends with timeOut (6.4.4 c)."""
    e = error_of(term.fingerprint.capture, timeout=0.8)
    assert e.code == ErrorCode.TIME_OUT
    sim(term).control("place_finger", {"person": "x"})
    assert len(term.fingerprint.capture(with_image=False).template) == 512  # usable right after


def test_cancel_while_waiting_for_finger(term: SimulatedTerminal) -> None:
    job = term.submit("fingerprint", "capture", {}, timeout=20, request_id="fp-cancel")
    time.sleep(0.3)
    assert term.cancel("fingerprint", "fp-cancel")
    with pytest.raises(GtsdkError) as e:
        job.future.result(timeout=3)
    assert e.value.code == ErrorCode.CANCELED
    sim(term).control("place_finger", {"person": "x"})
    assert len(term.fingerprint.capture(with_image=False).template) == 512


def test_errors_carry_no_personal_data(term: SimulatedTerminal) -> None:
    s = sim(term)
    s.control("place_finger", {"person": "赵六", "condition": "poor"})
    e = error_of(term.fingerprint.capture)
    text = str(e.to_dict()) + str(e)
    assert "赵六" not in text
    status = term.fingerprint.status()
    assert "赵六" not in status.model_dump_json()


def test_capabilities_and_health(term: SimulatedTerminal) -> None:
    caps = term.fingerprint.capabilities()
    assert caps.features["templateSize"] == 512 and caps.features["image"]["bitsPerPixel"] == 4
    assert caps.device.vendor.startswith("ZhianTec")
    h = term.fingerprint.health()
    assert h.ok and "1000" in h.text


def test_image_pixels_are_the_module_image(term: SimulatedTerminal) -> None:
    from PIL import Image

    s = sim(term)
    s.control("place_finger", {"person": "q"})
    c = term.fingerprint.capture()
    assert c.image_png is not None
    ours = np.asarray(Image.open(io.BytesIO(c.image_png)))
    assert s.device.image is not None
    expected = ((s.device.image.astype(np.uint16) + 8) // 17).clip(0, 15).astype(np.uint8) * 17
    assert (ours == expected).all()


def test_presence_events_while_idle(tmp_path: Path) -> None:
    from gtsdk.runtime import parse_config
    from gtsdk.simulators.fingerprint import start

    s = start(tmp_path / "sim")
    cfg = parse_config({"modules": {"fingerprint": {"driver": "zhiantec", "port": str(s.link),
                                                    "presence_events": True, "presence_period": 0.05}}})
    try:
        with Terminal(cfg) as t:
            t.fingerprint.open()

            def seen(kind: str) -> bool:
                end = time.monotonic() + 5
                while time.monotonic() < end:
                    if kind in [e.type for e in t.events.since(0)[0]]:
                        return True
                    time.sleep(0.05)
                return False

            time.sleep(0.2)
            s.control("place_finger", {"person": "x"})
            assert seen("fingerPlaced")
            assert t.fingerprint.status().detail.get("finger") is True
            s.control("remove_finger", {})
            assert seen("fingerRemoved")
    finally:
        s.stop()
