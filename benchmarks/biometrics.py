"""Fingerprint and signature pad timings against their physical baselines (same run).

Fingerprint: the simulated module paces its pty at 57600 baud (10 bits per byte), so a capture is
dominated by UpImage — 36864 image bytes (6.4 s of payload) in 288 data packets of 128 bytes
(6.95 s with framing).  We report capture time / wire time, a capture without the image, compare
time per reference (DownChar 512 B + Match) against its wire time, and the host-side work (PNG,
ISO/IEC 19794-2 minutiae).  Signature: get_signature wall time against the pen time on the pad.

Run: ``.venv/bin/python -m benchmarks.biometrics``
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from gtsdk.drivers.zhiantec import codec as C
from gtsdk.drivers.zhiantec import iso19794_2 as iso
from gtsdk.simulated import simulated_terminal
from gtsdk.simulators.fingerprint import FingerprintSimulation

BAUD = 57600
BITS = 10


def wire(nbytes: int) -> float:
    return nbytes * BITS / BAUD


def _median(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def fingerprint() -> None:
    packets = -(-C.IMAGE_BYTES // 128)
    image_wire = wire(C.MIN_PACKET + C.IMAGE_BYTES + packets * 11)
    char_wire = wire(C.MIN_PACKET + C.CHAR_SIZE + 4 * 11)
    small = wire(12 + 12) * 4  # GenImg, Img2Tz, UpChar command/ack pairs (order of magnitude)
    print(f"UpImage payload at {BAUD} baud: {wire(C.IMAGE_BYTES):.2f} s; with packet framing: {image_wire:.2f} s")
    with tempfile.TemporaryDirectory() as wd:
        t = simulated_terminal(Path(wd), modules=["fingerprint"])
        with t:
            sim = t.simulations["fingerprint"]
            assert isinstance(sim, FingerprintSimulation)
            t.fingerprint.open()
            sim.control("place_finger", {"person": "bench"})
            unpaced = _median(lambda: t.fingerprint.capture(), 3)
            sim.control("pace", {"baudrate": BAUD})
            cap = _median(lambda: t.fingerprint.capture(timeout=60), 2)
            base = image_wire + char_wire + small
            print(f"capture with image, paced:   {cap:6.2f} s   wire time {base:.2f} s   ratio {cap / base:.3f}")
            drv = t.device("fingerprint").driver
            drv.cfg.upload_image = False  # type: ignore[union-attr]
            nocap = _median(lambda: t.fingerprint.capture(with_image=False, timeout=60), 3)
            drv.cfg.upload_image = True  # type: ignore[union-attr]
            print(f"  (unpaced, same code:       {unpaced:6.2f} s  → software overhead {unpaced / cap:.1%} "
                  "of a capture)")
            tpl = t.fingerprint.capture(with_image=False).template
            refs = [sim.template("bench")] + [sim.template(f"other{i}") for i in range(4)]
            one = _median(lambda: t.fingerprint.compare(probe=tpl, references=refs[:1]), 3)
            five = _median(lambda: t.fingerprint.compare(probe=tpl, references=refs), 3)
            per_ref = (five - one) / 4
            print(f"capture template only (no image upload): {nocap:.2f} s  ratio to full capture {nocap / cap:.3f}"
                  "  (setting upload_image=false)")
            ref_wire = char_wire + wire(12 + 12 + 11 + 14)  # DownChar data + command/ack + Match command/ack
            print(f"compare 1 reference: {one:.3f} s; 5 references: {five:.3f} s; per extra reference {per_ref:.3f} s"
                  f" vs its wire time {ref_wire:.3f} s (ratio {per_ref / ref_wire:.2f})")
            sim.control("pace", {"baudrate": BAUD, "realistic": True})
            real = _median(lambda: t.fingerprint.capture(timeout=60), 1)
            print(f"capture with module processing times (GenImg 0.25 s, Img2Tz 0.3 s): {real:.2f} s"
                  f"  ratio to wire time {real / base:.3f}")
    rng = np.random.default_rng(0)
    from gtsdk.simulators.fingerprint.finger import Finger

    img, _ = Finger("bench").render(0, 0, 0, 0.5, 8, rng)
    t_iso = _median(lambda: iso.encode(iso.extract(img), width=256, height=288), 5)
    t_png = _median(lambda: C.image_png(img), 5)
    print(f"host work per capture: ISO 19794-2 minutiae {t_iso * 1000:.0f} ms, PNG {t_png * 1000:.1f} ms"
          f" ({(t_iso + t_png) / image_wire:.1%} of the image wire time)")


def signature() -> None:
    with tempfile.TemporaryDirectory() as wd:
        t = simulated_terminal(Path(wd), modules=["signature_pad"])
        with t:
            sim = t.simulations["signature_pad"]
            t.signature_pad.open()
            sim.control("speed", {"factor": 1})
            sim.control("sign", {"what": "张三丰"})
            start = time.perf_counter()
            s = t.signature_pad.get_signature(timeout=60)
            wall = time.perf_counter() - start
            pen = s.duration_ms / 1000
            print(f"get_signature (3 characters, real time): {wall:.2f} s wall; pen time {pen:.2f} s; "
                  f"ratio {wall / pen:.2f} (includes prompt upload and the tap on 确定)")
            print(f"  {s.points} points, {s.strokes} strokes, PNG {len(s.image_png or b'')} B, "
                  f"ISO 19794-7 {len(s.iso19794_7 or b'')} B")
            drv = t.device("signature_pad").driver
            from gtsdk.drivers.wacom_stu import render as R

            lay = R.Layout.for_screen(800, 480)
            up = _median(lambda: drv._show(lay, "请在此签名"), 3)  # type: ignore[union-attr]
            print(f"prompt upload (800×480 BGR, 4554 feature reports through pyusb): {up * 1000:.0f} ms")


def main() -> None:
    fingerprint()
    signature()


if __name__ == "__main__":
    main()
