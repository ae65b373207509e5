"""Media peripherals: OCR and crop latency on a 300-dpi A4 scan, TTS synthesis time against audio
duration, microphone capture overhead (run: python -m benchmarks.peripherals_media [--quick]).

Every number comes with a baseline measured in the same run on the same input:

* OCR through the ``opencv`` driver (decode + OCR + result model) against the bare
  ``rapidocr_onnxruntime.RapidOCR`` call on the already decoded page; plus the character error rate
  of the driver's text against the text that was rendered.
* crop by rectangle / by four corners / automatic document detection against plain OpenCV
  (``imdecode`` + slice + ``imencode``) on the same JPEG.
* speech synthesis through the ``espeak`` driver's engine against the ``espeak-ng -w`` command line,
  and the real-time factor (synthesis time / audio duration).
* recording 10 s through the ``alsa`` driver from the ALSA file plugin against ``arecord`` on the same PCM.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    out: Any = None
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def cer(got: str, want: str) -> float:
    """Character error rate: Levenshtein distance / reference length (spaces ignored)."""
    a, b = got.replace(" ", "").replace("\n", ""), want.replace(" ", "").replace("\n", "")
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(1, len(b))


def ctx(timeout: float = 600.0) -> Any:
    from gtsdk.driver import OpContext

    return OpContext("bench", timeout)


def bench_imaging(runs: int) -> None:
    import cv2
    import numpy as np

    from gtsdk.drivers.opencv_imaging import OpenCvImagingDriver, OpenCvSettings, ocr
    from gtsdk.modules.imaging import CropRequest, OcrRequest
    from gtsdk.simulators.imaging import scans

    page = scans.a4_scan(300)
    h, w = page.shape[:2]
    jpeg = scans.encode(page, quality=90)
    print(f"A4 scan: {w}x{h} px (300 dpi), JPEG {len(jpeg) / 1e6:.2f} MB")
    drv = OpenCvImagingDriver(OpenCvSettings())
    drv.connect()

    # crop by rectangle
    rect = {"x": 200, "y": 300, "width": 1800, "height": 1200}
    t_drv, _ = timed(lambda: drv.crop(CropRequest(image=jpeg, rect=rect), ctx()), runs * 3)

    def raw_crop() -> bytes:
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        return bytes(cv2.imencode(".jpg", img[300:1500, 200:2000], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())

    t_raw, _ = timed(raw_crop, runs * 3)
    print(f"crop rect 1800x1200      driver {t_drv * 1000:7.1f} ms   plain OpenCV {t_raw * 1000:7.1f} ms   "
          f"ratio {t_drv / t_raw:.2f}")
    # perspective crop of a photographed page (same pixel count as the A4 scan)
    corners = [(180.0, 160.0), (2300.0, 240.0), (2380.0, 3300.0), (120.0, 3380.0)]
    photo = scans.encode(scans.place(page, corners, (w, h)), quality=90)
    pts = [{"x": x, "y": y} for x, y in corners]
    t_p, _ = timed(lambda: drv.crop(CropRequest(image=photo, corners=pts), ctx()), runs)

    def raw_warp() -> bytes:
        img = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        src = np.array(corners, np.float32)
        dst = np.array([[0, 0], [2199, 0], [2199, 3199], [0, 3199]], np.float32)
        out = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (2200, 3200))
        return bytes(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())

    t_pr, _ = timed(raw_warp, runs)
    print(f"crop 4 corners (perspective) driver {t_p * 1000:7.1f} ms   plain warpPerspective {t_pr * 1000:7.1f} ms   "
          f"ratio {t_p / t_pr:.2f}")
    t_a, r = timed(lambda: drv.crop(CropRequest(image=photo, auto_document=True), ctx()), runs)
    err = max(abs(p.x - x) + abs(p.y - y) for p, (x, y) in zip(r.corners, corners, strict=True))
    print(f"crop autoDocument        driver {t_a * 1000:7.1f} ms   vs 4-corner crop ratio {t_a / t_p:.2f}   "
          f"corner error <= {err:.1f} px")
    if not ocr.available():
        print("OCR: rapidocr-onnxruntime not installed, skipped")
        return
    truth = "\n".join(scans.A4_LINES)
    ocr.engine()  # load the models once, outside the timing
    t_o, res = timed(lambda: drv.ocr(OcrRequest(image=jpeg), ctx()), runs)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    eng = ocr.engine()
    t_b, _ = timed(lambda: eng(decoded), runs)
    print(f"OCR A4 300 dpi           driver {t_o:6.2f} s   bare RapidOCR call {t_b:6.2f} s   ratio {t_o / t_b:.2f}   "
          f"{len(res.lines)} lines, CER {cer(res.text, truth) * 100:.1f} %")


def _tts_one(eng: Any, lang: str, voice: str, text: str, runs: int) -> None:
    from gtsdk.drivers.espeak import codec

    prepared = codec.prepare_text(text, lang)

    def synth(rate: int, volume: int, gap: int) -> bytes:
        wav: bytes = eng.synthesize(prepared, language=lang, voice=voice, rate=rate, volume=volume, gap=gap,
                                    timeout=30)
        return wav

    t_d, wav = timed(lambda: synth(160, 100, 0), runs * 3)
    dur = codec.parse_wav(wav).seconds
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.wav"
        t_c, _ = timed(lambda: subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(out), prepared],
                                              check=True), runs * 3)
    t_e, wav_e = timed(lambda: synth(115, 120, 4), runs * 3)
    dur_e = codec.parse_wav(wav_e).seconds
    print(f"TTS {lang}: {dur:5.2f} s audio in {t_d * 1000:6.1f} ms (RTF {t_d / dur:.3f}); espeak-ng -w "
          f"{t_c * 1000:6.1f} ms, ratio {t_d / t_c:.2f}; elderly mode {dur_e:5.2f} s audio "
          f"({dur_e / dur:.2f}x longer), RTF {t_e / dur_e:.3f}")


def bench_tts(runs: int) -> None:
    if shutil.which("espeak-ng") is None:
        print("TTS: espeak-ng not installed, skipped")
        return
    from gtsdk.drivers.espeak import EspeakEngine, codec

    eng = EspeakEngine()
    eng.voices()
    zh = codec.PROMPTS["insertIdCard"]["zh"] + "。" + codec.PROMPTS["completed"]["zh"]
    _tts_one(eng, "zh", "cmn-latn-pinyin", zh, runs)
    _tts_one(eng, "en", "en", codec.PROMPTS["timeoutWarning"]["en"], runs)


def bench_mic(runs: int) -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):  # not installed, or no PortAudio library
        print("microphone: sounddevice not installed, skipped")
        return
    if shutil.which("arecord") is None:
        print("microphone: arecord not installed, skipped")
        return
    import os

    from gtsdk.driver import Request
    from gtsdk.drivers.alsa_mic import AlsaMicrophoneDriver, AlsaMicSettings
    from gtsdk.modules.microphone import StartRequest
    from gtsdk.simulators.microphone import MicrophoneSimulation

    with tempfile.TemporaryDirectory() as d:
        sim = MicrophoneSimulation(Path(d))
        sim.control("feed", {"tone": 10.0})
        drv = AlsaMicrophoneDriver(AlsaMicSettings(**sim.settings))
        drv.connect()

        def record() -> Any:
            drv.start_recording(StartRequest(max_duration_ms=10_000), ctx())
            sess = drv._session
            assert sess is not None
            sess.done.wait(30)
            return drv.stop_recording(Request(), ctx())

        t_d, rec = timed(record, runs)
        env = dict(os.environ, ALSA_CONFIG_PATH=sim.settings["alsa_config"])
        out = Path(d) / "a.wav"
        t_a, _ = timed(lambda: subprocess.run(["arecord", "-q", "-D", sim.settings["device"], "-f", "S16_LE", "-r",
                                               "16000", "-c", "1", "-d", "10", str(out)], env=env, check=True,
                                              stderr=subprocess.DEVNULL), runs)
        drv.disconnect()
        print(f"record 10 s (unpaced file plugin): driver {t_d * 1000:6.1f} ms ({rec.duration_ms} ms audio, level + "
              f"silence analysis) vs arecord {t_a * 1000:6.1f} ms, ratio {t_d / t_a:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one run each")
    args, _ = ap.parse_known_args(sys.argv[1:] if __name__ == "__main__" else [])
    runs = 1 if args.quick else 3
    bench_tts(runs)
    bench_mic(runs)
    bench_imaging(runs)


if __name__ == "__main__":
    main()
