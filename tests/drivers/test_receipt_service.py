"""Both printers through the HTTPS service with simulated devices (``gtsdk serve --simulate``):
a Chinese receipt with a QR code and a cut, a two-page A4 PDF duplex, paper out part-way on both
printers → documented codes, and the next job succeeds after the paper is loaded (8.4 f, 8.4 g)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from _server_fixtures import start_service
from PIL import Image

from gtsdk.simulated import simulated_terminal

pytest.importorskip("gtsdk.server.run")
cv2 = pytest.importorskip("cv2")

QR = "https://zwfw.example.gov.cn/r/GT2026-000777"


def _pdf(pages: int) -> str:
    imgs = [Image.new("RGB", (595, 842), "white") for _ in range(pages)]
    buf = io.BytesIO()
    imgs[0].save(buf, "PDF", resolution=72, save_all=True, append_images=imgs[1:])
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.peer
def test_printers_over_https(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    t = simulated_terminal(tmp_path / "sim", modules=["receipt_printer", "a4_printer"])
    s = start_service(home, terminal=t)
    try:
        with s.app(timeout=60) as c, s.maint(timeout=30) as m:
            # ---- receipt ---------------------------------------------------------------------------
            assert c.post("/v1/receipt_printer/init", json={}).status_code == 200
            r = c.post("/v1/receipt_printer/print", json={"cut": True, "elements": [
                {"type": "text", "text": "不动产登记受理凭条", "align": "center", "width": 2, "height": 2},
                {"type": "text", "text": "受理编号：GT2026-000777"},
                {"type": "qr", "data": QR, "size": 6}]})
            assert r.status_code == 200, r.text
            assert r.json()["data"]["bytesSent"] > 50
            receipts = m.post("/v1/sim/receipt_printer", json={"action": "receipts"}).json()["data"]["receipts"]
            png = Path(receipts[-1])
            assert "不动产登记受理凭条" in png.with_suffix(".txt").read_text(encoding="utf-8")
            assert cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(png)))[0] == QR

            m.post("/v1/sim/receipt_printer", json={"action": "paper_out", "params": {"dots": 200}})
            r = c.post("/v1/receipt_printer/print", json={"cut": True, "elements": [
                {"type": "text", "text": f"第{i}行"} for i in range(60)]})
            assert r.status_code == 409 and r.json()["code"] == "noMedia", r.text
            m.post("/v1/sim/receipt_printer", json={"action": "load_paper"})
            r = c.post("/v1/receipt_printer/print", json={"cut": True, "elements": [
                {"type": "text", "text": "纸张已装好"}]})
            assert r.status_code == 200, r.text
            st = c.get("/v1/receipt_printer/status").json()["data"]
            assert st["state"] == "online" and st["detail"]["paper"] == "ok"

            # ---- A4 --------------------------------------------------------------------------------
            if "a4_printer" not in t.simulations:
                pytest.skip(t.devices["a4_printer"].disabled_reason or "CUPS stack unavailable")
            r = c.post("/v1/a4_printer/print", json={"document": _pdf(2), "sides": "two-sided-long-edge",
                                                     "media": "A4", "wait": True, "timeout": 30000})
            assert r.status_code == 200, r.text
            assert r.json()["data"]["state"] == "completed"
            m.post("/v1/sim/a4_printer", json={"action": "paper_out"})
            r = c.post("/v1/a4_printer/print", json={"document": _pdf(1), "wait": True, "timeout": 30000})
            assert r.json()["code"] == "noMedia", r.text
            m.post("/v1/sim/a4_printer", json={"action": "load_paper"})
            r = c.post("/v1/a4_printer/print", json={"document": _pdf(1), "wait": True, "timeout": 30000})
            assert r.status_code == 200 and r.json()["data"]["state"] == "completed", r.text
    finally:
        s.running.stop()
        s.terminal.stop()
