"""Printer benchmarks: receipt bytes on the wire, receipt print time vs wire time at 115200 baud,
A4 submit→completed latency through CUPS.

    .venv/bin/python -m benchmarks.printers

Baselines measured in the same run: python-escpos' encoding of the same receipt (bytes), the pure
wire time of the bytes at 115200 8N1 (time), and pycups called directly without the runtime (A4).
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from pydantic import TypeAdapter

from gtsdk.drivers.escpos import codec
from gtsdk.modules.receipt_printer import Element, PrintRequest
from gtsdk.runtime.config import ModuleConfig, TerminalConfig
from gtsdk.simulated import SimulatedTerminal

BAUD = 115200
QR = "https://zwfw.example.gov.cn/receipt?no=GT2026-000123"


def typical_receipt() -> list[dict[str, Any]]:
    """A service receipt: title, 8 body lines, QR code, barcode, cut (what a kiosk prints most)."""
    body = ["业务名称：社会保障卡补领", "受理编号：GT2026-000123", "办理时间：2026-11-27 10:32",
            "办理窗口：3号窗口", "收费金额：0.00 元", "预计办结：即办", "咨询电话：12345",
            "Please keep this receipt."]
    return [{"type": "text", "text": "政务服务一体机", "align": "center", "width": 2, "height": 2, "bold": True},
            *({"type": "text", "text": line} for line in body),
            {"type": "qr", "data": QR, "size": 6},
            {"type": "barcode", "data": "GT2026000123", "height": 60},
            {"type": "feed", "lines": 1}]


def _logo() -> bytes:
    im = Image.new("L", (384, 120), 255)
    d = ImageDraw.Draw(im)
    d.ellipse((10, 10, 110, 110), fill=0)
    d.rectangle((130, 30, 370, 90), fill=128)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def python_escpos_bytes(elements: list[dict[str, Any]]) -> int:
    """The same receipt through python-escpos (Dummy printer), GB18030 text sent raw in Chinese mode."""
    from escpos.printer import Dummy

    p = Dummy(profile="TM-T88III")
    p._raw(b"\x1b@\x1c&")
    for e in elements:
        if e["type"] == "text":
            p.set(align=e.get("align", "left"), bold=e.get("bold", False),
                  custom_size=True, width=e.get("width", 1), height=e.get("height", 1))
            p._raw(e["text"].encode("gb18030") + b"\n")
        elif e["type"] == "qr":
            p.set(align="center")
            p.qr(e["data"], native=True, size=e["size"], ec=1)
            p._raw(b"\n")
        elif e["type"] == "barcode":
            p.barcode("{B" + e["data"], "CODE128", height=e["height"], function_type="B")
        elif e["type"] == "image":
            p.image(Image.open(io.BytesIO(e["data"])))
        elif e["type"] == "feed":
            p.ln(e["lines"])
    p.cut()
    return len(p.output)


#: receipt elements as the contract's models, from their wire form
ELEMENTS: TypeAdapter[list[Element]] = TypeAdapter(list[Element])


def receipt_bench(runs: int = 5) -> None:
    from gtsdk.simulators import receipt_printer as simmod

    elements = typical_receipt()
    with_logo = [{"type": "image", "data": _logo()}, *elements]
    for label, els in (("typical receipt", elements), ("receipt + 384×120 logo", with_logo)):
        enc = codec.Encoder()
        req = PrintRequest.model_validate({"elements": els, "cut": True})
        ours = len(enc.init()) + sum(len(s) for s in enc.document(req.elements)) + len(codec.cut(False, 3))
        theirs = python_escpos_bytes(els)
        print(f"{label}: gtsdk encoder {ours} B, python-escpos {theirs} B (ratio {ours / theirs:.2f})")

    # the simulator's own cost: interpreting and rendering the receipt to PNG (no transport)
    from gtsdk.simulators.receipt_printer.engine import PrinterEngine

    render: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as td:
        eng = PrinterEngine(Path(td))
        for label, els in (("typical receipt", elements), ("receipt + logo", with_logo)):
            enc = codec.Encoder()
            req = PrintRequest.model_validate({"elements": els})
            data = enc.init() + b"".join(enc.document(req.elements)) + codec.cut(False, 3)
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                eng.feed(data)
                samples.append(time.perf_counter() - t0)
            render[label] = statistics.median(samples)

    with tempfile.TemporaryDirectory() as td:
        sim = simmod.start(Path(td) / "rp", pace_baud=BAUD)  # the simulated printer reads at 115200 baud
        cfg = TerminalConfig()
        cfg.modules["receipt_printer"] = ModuleConfig(module="receipt_printer", driver="escpos",
                                                      settings=dict(sim.settings))
        t = SimulatedTerminal(cfg, simulations={"receipt_printer": sim})
        with t:
            t.receipt_printer.init()
            for label, wire_els in (("typical receipt", elements), ("receipt + logo", with_logo)):
                models = ELEMENTS.validate_python(wire_els)  # the typed call takes the contract's models
                times, wire_bytes = [], 0
                for _ in range(runs):
                    before = sim.engine.bytes_in
                    t0 = time.perf_counter()
                    res = t.receipt_printer.print(elements=models, cut=True)
                    times.append(time.perf_counter() - t0)
                    wire_bytes = sim.engine.bytes_in - before
                wire = wire_bytes * 10 / BAUD
                med = statistics.median(times)
                rend = render[label]
                print(f"{label} at {BAUD} baud: {res.bytes_sent} B job + {wire_bytes - res.bytes_sent} B status "
                      f"requests = {wire_bytes} B; wire time {wire * 1000:.1f} ms; end-to-end median "
                      f"{med * 1000:.1f} ms (min {min(times) * 1000:.1f}) over {runs} runs; "
                      f"ratio end-to-end/wire {med / wire:.2f}; of which simulator rendering {rend * 1000:.1f} ms; "
                      f"(end-to-end - rendering)/wire {(med - rend) / wire:.2f}")


def a4_bench(runs: int = 3) -> None:
    from gtsdk.simulators import a4_printer as a4sim

    try:
        import cups
    except ImportError:
        print("A4: pycups not installed; skipped")
        return
    pdf = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(pdf, "PDF", resolution=72)
    with tempfile.TemporaryDirectory() as td:
        try:
            sim = a4sim.start(Path(td) / "a4", print_delay=0.2)
        except Exception as e:  # noqa: BLE001 - a machine without the CUPS stack; printed, skipped
            print(f"A4: CUPS stack unavailable ({e}); skipped")
            return
        cfg = TerminalConfig()
        cfg.modules["a4_printer"] = ModuleConfig(module="a4_printer", driver="cups", settings=dict(sim.settings))
        t = SimulatedTerminal(cfg, simulations={"a4_printer": sim})
        with t:
            # baseline: pycups directly (printFile, poll job-state every 50 ms)
            f = Path(td) / "one.pdf"
            f.write_bytes(pdf.getvalue())
            conn = cups.Connection(host=sim.settings["server"])
            raw = []
            for _ in range(runs):
                t0 = time.perf_counter()
                jid = conn.printFile("kiosk", str(f), "raw", {"media": "iso_a4_210x297mm"})
                while conn.getJobAttributes(jid, requested_attributes=["job-state"])["job-state"] < 7:
                    time.sleep(0.05)
                raw.append(time.perf_counter() - t0)
            ours = []
            for _ in range(runs):
                t0 = time.perf_counter()
                t.a4_printer.print(document=pdf.getvalue(), wait=True, timeout=60)
                ours.append(time.perf_counter() - t0)
            r, o = statistics.median(raw), statistics.median(ours)
            print(f"A4 one-page PDF submit→completed: gtsdk median {o * 1000:.0f} ms, pycups direct median "
                  f"{r * 1000:.0f} ms (ratio {o / r:.2f}); the simulated printer itself takes 200 ms per job "
                  f"({runs} runs each)")


def main() -> None:
    receipt_bench()
    a4_bench()


if __name__ == "__main__":
    main()
