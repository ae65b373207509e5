"""Receipt printer end to end: SimulatedTerminal → escpos driver → pty / fake-USB → simulator → rendered PNG.

Clauses 8.4 g) (init, print, cut, close), 7.3 c (凭证打印), 10.2.2 a/h (paper status)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from gtsdk.driver import DeviceState
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.receipt_printer import Element, Text
from gtsdk.runtime.config import ModuleConfig, TerminalConfig
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators import receipt_printer as simmod

cv2 = pytest.importorskip("cv2")

QR_TEXT = "https://zwfw.example.gov.cn/receipt?no=GT2026-000123"
RECEIPT: list[dict[str, Any]] = [
    {"type": "text", "text": "政务服务一体机", "align": "center", "width": 2, "height": 2, "bold": True},
    {"type": "text", "text": "业务：社会保障卡补领\n受理编号：GT2026-000123"},
    {"type": "text", "text": "请凭此凭条到3号窗口领取", "underline": True},
    {"type": "qr", "data": QR_TEXT, "size": 6, "errorCorrection": "M"},
    {"type": "barcode", "data": "GT2026000123", "symbology": "CODE128", "height": 60},
    {"type": "feed", "lines": 2},
]

#: receipt elements as the contract's models, from their wire form (the typed facade takes models)
ELEMENTS: TypeAdapter[list[Element]] = TypeAdapter(list[Element])


def _wait(pred: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _usb_terminal(workdir: Path) -> SimulatedTerminal:
    sim = simmod.start_usb(workdir / "receipt_printer")
    cfg = TerminalConfig()
    cfg.modules["receipt_printer"] = ModuleConfig(module="receipt_printer", driver="escpos",
                                                  settings=dict(sim.settings), reconnect_interval=0.2)
    t = SimulatedTerminal(cfg, simulations={"receipt_printer": sim})
    return t


@pytest.fixture(params=["serial", "usb"])
def term(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimulatedTerminal]:
    if request.param == "serial":
        t = simulated_terminal(tmp_path, modules=["receipt_printer"])
        t.config.modules["receipt_printer"].reconnect_interval = 0.2
    else:
        t = _usb_terminal(tmp_path)
    with t:
        t.receipt_printer.init()
        sim = t.simulations["receipt_printer"]
        assert isinstance(sim, simmod.ReceiptPrinterSimulation)
        _wait(lambda: "FS &" in sim.engine.log, "init processed")  # ESC @ FS & went out unanswered
        yield t


def _sim(t: SimulatedTerminal) -> simmod.ReceiptPrinterSimulation:
    s = t.simulations["receipt_printer"]
    assert isinstance(s, simmod.ReceiptPrinterSimulation)
    return s


def _events(t: SimulatedTerminal, since: int) -> list[str]:
    return [e.type for e in t.events.since(since)[0] if e.module == "receipt_printer"]


def test_chinese_receipt_with_qr_decodes_back(term: SimulatedTerminal, tmp_path: Path) -> None:
    sim = _sim(term)
    log_start = len(sim.engine.log)
    res = term.receipt_printer.print(elements=ELEMENTS.validate_python(RECEIPT), cut=True)
    assert res.bytes_sent > 100 and not res.paper_near_end
    png = Path(sim.control("receipts", {})["receipts"][-1])
    # status was read before the job (before ESC @) and after it (after the cut)
    names = sim.engine.log[log_start:]
    start, cut = names.index("ESC @"), len(names) - 1 - names[::-1].index("GS V")
    assert names[start - 4:start] == ["DLE EOT"] * 4           # DLE EOT 1..4 before the job
    assert names[cut + 1:cut + 5] == ["DLE EOT"] * 4           # and after it (the idle poll may add more)
    lines = png.with_suffix(".txt").read_text(encoding="utf-8").splitlines()
    for want in ("政务服务一体机", "业务：社会保障卡补领", "受理编号：GT2026-000123", "请凭此凭条到3号窗口领取",
                 f"[QR M] {QR_TEXT}", "[BARCODE CODE128] GT2026000123", "[CUT full]"):
        assert want in lines
    artefact = tmp_path / f"receipt-{sim.transport}.png"  # kept by pytest for a person to look at
    shutil.copy(png, artefact)
    img = cv2.imread(str(artefact))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text == QR_TEXT
    # the Chinese title is really drawn: dark pixels in the top band of the paper
    assert (img[16:70, :, 0] < 128).sum() > 2000
    st = term.receipt_printer.status()
    assert st.state == DeviceState.ONLINE and st.detail["paper"] == "ok"
    assert st.detail["transport"] == sim.transport


def test_paper_out_part_way_then_reload(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    seq = term.events.last_seq
    long_job = [{"type": "text", "text": f"JOB1 第{i}行 line {i:03d} " + "x" * 20} for i in range(80)]
    sim.control("paper_out", {"dots": 300})  # about ten lines of paper left
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=ELEMENTS.validate_python(long_job), cut=True)
    assert e.value.code == ErrorCode.NO_MEDIA
    assert e.value.data["discarded"] is True and e.value.data["bytesSent"] > 0
    evs = _events(term, seq)
    assert "paperOut" in evs and "printerStatusChanged" in evs
    assert term.receipt_printer.status().detail["paper"] == "out"
    # nothing of the failed job is left in the printer to come out when paper is loaded
    _wait(lambda: sim.control("state", {})["pending"] == 0, "printer buffer cleared")
    partial = Path(sim.control("receipts", {})["receipts"][-1])
    assert partial.stem.endswith("-partial")
    assert "[PAPER OUT]" in partial.with_suffix(".txt").read_text(encoding="utf-8")
    # a new job is refused before a byte of it is sent (only DLE EOT status requests go out)
    n_log = len(sim.engine.log)
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=[Text(text="never printed")])
    assert e.value.code == ErrorCode.NO_MEDIA
    assert set(sim.engine.log[n_log:]) == {"DLE EOT"}
    # paper loaded: the next job prints, and only its own lines
    sim.control("load_paper", {})
    n = len(sim.control("receipts", {})["receipts"])
    term.receipt_printer.print(elements=[Text(text="JOB2 重新打印")], cut=True)
    receipts = sim.control("receipts", {})["receipts"]
    assert len(receipts) == n + 1
    text = Path(receipts[-1]).with_suffix(".txt").read_text(encoding="utf-8")
    assert "JOB2 重新打印" in text and "JOB1" not in text and "never printed" not in text
    assert term.receipt_printer.status().detail["paper"] == "ok"


def test_near_end_cover_and_cutter(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    seq = term.events.last_seq
    sim.control("paper_near_end", {})
    res = term.receipt_printer.print(elements=[Text(text="still printing")])
    assert res.paper_near_end
    assert "paperNearEnd" in _events(term, seq)

    sim.control("cover_open", {})
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=[Text(text="cover")])
    assert e.value.code == ErrorCode.HARDWARE_ERROR
    assert term.receipt_printer.status().state == DeviceState.HARDWARE_ERROR
    assert "coverOpen" in _events(term, seq)
    sim.control("cover_close", {})
    term.receipt_printer.print(elements=[Text(text="cover closed")])
    assert term.receipt_printer.status().state == DeviceState.ONLINE

    sim.control("cutter_error", {})
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.cut(partial=True)
    assert e.value.code == ErrorCode.MEDIA_JAM
    sim.control("clear_cutter", {})
    term.receipt_printer.cut(partial=True)
    assert sim.control("receipts", {})["receipts"]
    assert "[CUT partial]" in Path(sim.control("receipts", {})["receipts"][-1]).with_suffix(".txt").read_text()


def test_status_events_while_idle(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    drv = term.devices["receipt_printer"].driver
    assert drv is not None
    drv.poll_interval = 0.2  # type: ignore[misc]  # the idle status read (status_poll, 2 s by default)
    seq = term.events.last_seq
    sim.control("paper_out", {})
    _wait(lambda: "paperOut" in _events(term, seq), "paperOut event without a job")
    assert term.receipt_printer.status().detail["paper"] == "out"
    seq = term.events.last_seq
    sim.control("load_paper", {})
    _wait(lambda: any(e.type == "printerStatusChanged" and e.data["paper"] == "ok"
                      for e in term.events.since(seq)[0]), "paper loaded event")
    assert term.receipt_printer.status().detail["paper"] == "ok"


def test_unplug_and_come_back(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    sim.control("unplug", {})
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=[Text(text="gone")], timeout=3.0)
    assert e.value.code in (ErrorCode.NO_DEVICE, ErrorCode.COMMUNICATION_ERROR)
    assert term.receipt_printer.status().state in (DeviceState.NO_DEVICE, DeviceState.OFFLINE)
    sim.control("replug", {})
    _wait(lambda: term.receipt_printer.status().state == DeviceState.ONLINE, "reconnect")
    term.receipt_printer.print(elements=[Text(text="back again")], cut=True)


def test_silent_printer_honours_the_deadline(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    sim.control("mute", {"on": True})
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=[Text(text="x")], timeout=0.4)  # seconds
    assert e.value.code in (ErrorCode.TIME_OUT, ErrorCode.COMMUNICATION_ERROR)
    sim.control("mute", {"on": False})


def test_garbled_status_is_a_communication_error(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    sim.control("garble", {})
    with pytest.raises(GtsdkError) as e:
        term.receipt_printer.print(elements=[Text(text="garbled")])
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR  # a reply outside the 0xx1xx10 pattern
    _wait(lambda: term.receipt_printer.status().state == DeviceState.ONLINE, "reconnect")
    term.receipt_printer.print(elements=[Text(text="clean again")])


def test_bad_documents_are_refused_before_printing(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    n_log = len(sim.engine.log)
    for el in ({"type": "barcode", "data": "12", "symbology": "EAN13"}, {"type": "image", "data": "bm90IGFuIGltYWdl"},
               {"type": "text", "text": "bad\x1b@"}):
        with pytest.raises(GtsdkError) as e:
            term.receipt_printer.print(elements=[el])  # type: ignore[list-item]  # wire-shaped: refused by gtsdk
        assert e.value.code == ErrorCode.INVALID_DATA
    assert set(sim.engine.log[n_log:]) <= {"DLE EOT"}  # at most the idle status poll
