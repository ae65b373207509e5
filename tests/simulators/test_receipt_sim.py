"""The receipt printer simulator driven by python-escpos (a client we did not write) over its pty."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from gtsdk.simulators import receipt_printer as simmod
from gtsdk.simulators.receipt_printer.engine import PrinterEngine

escpos_printer = pytest.importorskip("escpos.printer")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[simmod.ReceiptPrinterSimulation]:
    s = simmod.start(tmp_path / "rp")
    yield s
    s.stop()


def _serial(sim: simmod.ReceiptPrinterSimulation) -> Any:
    p = escpos_printer.Serial(devfile=sim.settings["port"], baudrate=115200, timeout=0.3, profile="TM-T88III")
    return p


def _wait_receipts(sim: simmod.ReceiptPrinterSimulation, n: int, timeout: float = 5.0) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = sim.control("receipts", {})["receipts"]
        if len(got) >= n:
            return list(got)
        time.sleep(0.02)
    raise AssertionError(f"simulator saved {sim.control('receipts', {})} receipts, wanted {n}")


def test_python_escpos_prints_a_receipt(sim: simmod.ReceiptPrinterSimulation) -> None:
    p = _serial(sim)
    try:
        p.set(align="center", bold=True)
        p.text("KIOSK RECEIPT\n")
        p.set(align="left", bold=False)
        p.text("Service: social security\n")
        p._raw(b"\x1c&" + "办理成功".encode("gb18030") + b"\n")  # Chinese mode + GB18030 bytes by hand
        p.qr("https://example.gov.cn/q?id=42", native=True, size=6)
        p.barcode("4006381333931", "EAN13")
        im = PILImage.new("1", (64, 16), 1)
        for x in range(64):
            im.putpixel((x, 8), 0)
        p.image(im)
        p.cut()
    finally:
        p.close()
    png = Path(_wait_receipts(sim, 1)[0])
    transcript = png.with_suffix(".txt").read_text(encoding="utf-8").splitlines()
    assert "KIOSK RECEIPT" in transcript
    assert "Service: social security" in transcript
    assert "办理成功" in transcript
    assert "[QR L] https://example.gov.cn/q?id=42" in transcript
    assert "[BARCODE EAN13] 4006381333931" in transcript
    assert "[IMAGE 64x16]" in transcript
    assert transcript[-1] == "[CUT full]"
    assert not any(line.startswith("[UNKNOWN") for line in transcript)
    assert PILImage.open(png).width == 576


def test_python_escpos_paper_status_reads_the_simulator(sim: simmod.ReceiptPrinterSimulation) -> None:
    p = _serial(sim)
    try:
        assert p.paper_status() == 2          # DLE EOT 4 → 0x12
        assert p.is_online()
        sim.control("paper_near_end", {})
        assert p.paper_status() == 1          # 0x1E
        sim.control("paper_out", {})
        assert p.paper_status() == 0          # 0x7E
        assert not p.is_online()              # DLE EOT 1 offline bit
        sim.control("load_paper", {})
        assert p.paper_status() == 2
    finally:
        p.close()


def test_cli_runs_the_simulator(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gtsdk.cli.sim import command

    res = CliRunner().invoke(command, ["receipt_printer", "--stdin", "--workdir", str(tmp_path / "cli")],
                             input="paper_out\nstate\nload_paper\nbogus\n")
    assert res.exit_code == 0, res.output
    assert "ESC/POS receipt printer on pty /dev/pts/" in res.output
    assert '"paperOut": true' in res.output
    assert "error: invalidData" in res.output


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_engine_survives_any_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """Random/garbled streams never crash the simulated printer, and it still answers DLE EOT correctly."""
    eng = PrinterEngine(tmp_path_factory.mktemp("fuzz"))
    eng.feed(data)
    eng.parser.buf.clear()  # a command left incomplete by the random tail
    reply = eng.feed(b"\x10\x04\x01\x10\x04\x04")
    assert len(reply) == 2 and all((b & 0x93) == 0x12 for b in reply)


def test_python_escpos_over_the_fake_usb_bus(tmp_path: Path) -> None:
    """python-escpos' own Usb printer class finds the simulated printer through the injected pyusb backend."""
    from gtsdk.simulators.receipt_printer.usb import PID, VID

    sim = simmod.start(tmp_path / "usb", "usb")
    try:
        p = escpos_printer.Usb(VID, PID, usb_args={"backend": sim.usb}, in_ep=0x81, out_ep=0x01,
                               profile="TM-T88III")
        p.text("USB RECEIPT\n")
        p.qr("usb-qr", native=True, size=4)
        assert p.paper_status() == 2
        sim.control("paper_near_end", {})
        assert p.paper_status() == 1
        p.cut()
        p.close()
        png = Path(_wait_receipts(sim, 1)[0])
        lines = png.with_suffix(".txt").read_text(encoding="utf-8").splitlines()
        assert "USB RECEIPT" in lines and "[QR L] usb-qr" in lines and lines[-1] == "[CUT full]"
    finally:
        sim.stop()
