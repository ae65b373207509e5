"""Serial scanner driver against the pty scanner simulator (codes rendered as QR images and decoded by OpenCV)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _peripherals_fixtures import Recorder, terminal_for, wait_for

from gtsdk.driver import DeviceState
from gtsdk.drivers.serial_scanner import codec
from gtsdk.errors import GtsdkError

pytest.importorskip("cv2")
pytest.importorskip("qrcode")
from gtsdk.simulators import qr_scanner as qr_sim


def rig(tmp_path: Path, **kw: Any) -> tuple[Any, qr_sim.QrScannerSimulation]:
    settings_extra = kw.pop("settings", {})
    sim = qr_sim.start(tmp_path / "qr", baudrate=115200, **kw)
    t = terminal_for("qr_scanner", "serial_scanner", {**sim.settings, **settings_extra})
    return t, sim


@pytest.fixture
def made(tmp_path: Path) -> Iterator[list[Any]]:
    out: list[Any] = []
    yield out
    for t, sim in out:
        t.stop()
        sim.stop()


def present_later(sim: qr_sim.QrScannerSimulation, text: str, encoding: str = "utf-8", delay: float = 0.15,
                  **kw: Any) -> threading.Thread:
    th = threading.Timer(delay, lambda: sim.present(text, encoding, **kw))
    th.start()
    return th


@pytest.mark.parametrize("dialect", ["honeywell", "newland", "gm65"])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_triggered_read_each_dialect(tmp_path: Path, made: list[Any], dialect: str, encoding: str) -> None:
    t, sim = rig(tmp_path, dialect=dialect, mode="triggered")
    made.append((t, sim))
    t.start()
    rec = Recorder(t, "qr_scanner")
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE)
    assert sim.state()["mode"] == "triggered"  # the driver configured the scanner
    text = "https://zwfw.example.gov.cn/q?b=办事指南&n=42"
    th = present_later(sim, text, encoding)
    scan = t.qr_scanner.read(timeout=5)
    th.join()
    assert scan.text == text and scan.encoding == encoding
    assert scan.raw == text.encode(encoding)
    wait_for(lambda: rec.of("codeScanned"))
    assert rec.of("codeScanned")[0]["text"] == text
    sent = sim.device.commands
    if dialect == "honeywell":
        wait_for(lambda: sent[-1] == codec.HONEYWELL_UNTRIGGER)
        assert codec.HONEYWELL_TRIGGER in sent
    elif dialect == "gm65":
        wait_for(lambda: codec.parse_gm65_frame(sent[-1])[1:] == (2, b"\x00"))
        assert any(codec.parse_gm65_frame(f)[1:] == (2, b"\x01") for f in sent)
    else:
        wait_for(lambda: sent[-1] == codec.newland_command("SCNTRG0"))
        assert codec.newland_command("SCNTRG1") in sent


def test_read_times_out_and_untriggers(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path)
    made.append((t, sim))
    t.start()
    with pytest.raises(GtsdkError) as e:
        t.qr_scanner.read(timeout=0.3)
    assert e.value.code == "timeOut"
    wait_for(lambda: sim.device.commands[-1:] == [codec.HONEYWELL_UNTRIGGER])
    assert sim.device.triggered is False


@pytest.mark.parametrize("dialect", ["honeywell", "gm65"])
def test_continuous_events_and_duplicate_window(tmp_path: Path, made: list[Any], dialect: str) -> None:
    t, sim = rig(tmp_path, dialect=dialect, mode="continuous")
    made.append((t, sim))
    t.start()
    rec = Recorder(t, "qr_scanner")
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE and sim.state()["mode"] == "continuous")
    sim.present("TICKET-0001", repeat=4)  # held under the scanner: read four times
    sim.present("TICKET-0002")
    wait_for(lambda: len(rec.of("codeScanned")) >= 2)
    assert [e["text"] for e in rec.of("codeScanned")] == ["TICKET-0001", "TICKET-0002"]
    wait_for(lambda: t.qr_scanner.status().detail["duplicates"] == 3)
    th = present_later(sim, "TICKET-0003")
    assert t.qr_scanner.read(timeout=5, trigger=False).text == "TICKET-0003"
    th.join()


def test_suffix_none_and_meta_events(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path, mode="continuous", suffix="none", settings={"event_payload": "meta"})
    made.append((t, sim))
    t.start()
    rec = Recorder(t, "qr_scanner")
    wait_for(lambda: sim.state()["mode"] == "continuous")
    sim.present("身份码 110101", "gb18030")
    wait_for(lambda: rec.of("codeScanned"))
    ev = rec.of("codeScanned")[0]
    assert "text" not in ev and ev["encoding"] == "gb18030" and ev["length"] == len("身份码 110101".encode("gb18030"))


def test_garbage_during_read_is_invalid_data_then_next_read_works(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path, dialect="newland")
    made.append((t, sim))
    t.start()
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE)
    garbage = threading.Timer(0.15, lambda: sim.control("garbage", {"n": 40}))
    garbage.start()
    with pytest.raises(GtsdkError) as e:
        t.qr_scanner.read(timeout=5)
    garbage.join()
    assert e.value.code == "invalidData" and "\x01" not in e.value.detail
    th = present_later(sim, "OK-1")
    assert t.qr_scanner.read(timeout=5).text == "OK-1"
    th.join()
    assert t.qr_scanner.status().detail["garbage"] >= 1


def test_silent_scanner_then_answers(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path, dialect="gm65")
    made.append((t, sim))
    sim.control("stop_answering", {})
    t.start()
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.OFFLINE)
    assert "answer" in t.qr_scanner.status().reason
    with pytest.raises(GtsdkError) as e:
        t.qr_scanner.read(timeout=1.5)
    # the automatic open at start failed; the open intent stays, so operations say why the device is unusable
    assert e.value.code == "communicationError"
    with pytest.raises(GtsdkError) as e:
        t.qr_scanner.open(timeout=3)
    assert e.value.code == "communicationError"
    sim.control("answer", {})
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE)  # reconnected by the runtime
    t.qr_scanner.open(timeout=3)
    assert t.qr_scanner.status().state == DeviceState.ONLINE
    th = present_later(sim, "BACK")
    assert t.qr_scanner.read(timeout=5).text == "BACK"
    th.join()


def test_unplug_is_no_device_and_replug_recovers(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path)
    made.append((t, sim))
    t.start()
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE)
    sim.control("unplug", {})
    with pytest.raises(GtsdkError) as e:
        t.qr_scanner.read(timeout=1)
    assert e.value.code in ("noDevice", "communicationError")
    sim.control("replug", {})
    wait_for(lambda: t.qr_scanner.status().state == DeviceState.ONLINE)
    th = present_later(sim, "AGAIN")
    assert t.qr_scanner.read(timeout=5).text == "AGAIN"
    th.join()


def test_rendered_qr_bytes_come_from_the_decoder() -> None:
    assert qr_sim.render_and_decode("政务".encode("gb18030")) == "政务".encode("gb18030")
    assert qr_sim.render_and_decode("政务".encode()) == "政务".encode()


def test_continuous_garbage_is_dropped_not_announced(tmp_path: Path, made: list[Any]) -> None:
    t, sim = rig(tmp_path, mode="continuous", dialect="gm65")
    made.append((t, sim))
    t.start()
    rec = Recorder(t, "qr_scanner")
    wait_for(lambda: sim.state()["mode"] == "continuous")
    sim.control("garbage", {"n": 64})
    wait_for(lambda: t.qr_scanner.status().detail["garbage"] >= 1)
    sim.present("AFTER-NOISE")
    wait_for(lambda: rec.of("codeScanned"))
    assert [e["text"] for e in rec.of("codeScanned")] == ["AFTER-NOISE"]
