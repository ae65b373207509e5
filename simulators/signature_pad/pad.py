"""A simulated Wacom STU pad: feature reports, the screen it shows, and a hand that writes.

The hand writes a Chinese name by following the centre lines of the glyphs of a CJK font (rendered,
thinned and traced into strokes in writing order: top to bottom, left to right), with a slant,
tremor, a minimum-jerk speed profile per stroke (Flash & Hogan 1985), pressure that rises and falls
within each stroke, pen-up travel in proximity between strokes, and 200 reports per second with the
pad's own millisecond time stamps.  A scribble is one fast looping stroke.  It taps the buttons of
the driver's screen layout (:mod:`gtsdk.drivers.wacom_stu.render`).

Faults: ``unplugged`` (every USB request fails with ENODEV, the pad is not enumerated) and
``stuck_pen`` (the tip reports down at one spot forever).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.drivers.wacom_stu import render as R
from gtsdk.drivers.zhiantec.iso19794_2 import thin

REPORT_MS = 5  # 200 reports per second (STU-430/540 data sheets)
FEATURE_LOG_SIZE = 256  # feature reports kept in ``Pad.feature_log``


@dataclass
class Model:
    product_id: int = 0x00A8
    name: str = "STU-540"
    firmware: str = "1.2.3.4"
    serial: str = "SIM0000001"
    cap: K.Capability = field(default_factory=lambda: K.Capability(10800, 6480, 1023, 800, 480, 200))
    timed_reports: bool = True  # answers writing mode 1 with 0x34 reports


#: simulated models (screen and tablet sizes: InkPlatform STU430.cs, WebHID wacomstu540.js)
MODELS = {
    "STU-540": Model(),
    "STU-430": Model(0x00A4, "STU-430", "1.0.2.0", "SIM0000430", K.Capability(9600, 6000, 1023, 320, 200, 200),
                     timed_reports=False),
}


def _trace(skel: np.ndarray) -> list[list[tuple[int, int]]]:
    """Skeleton pixels → polylines (x, y), each starting at an end point where there is one."""
    pts = {(int(y), int(x)) for y, x in zip(*np.nonzero(skel), strict=True)}
    nbr = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]

    def neighbours(p: tuple[int, int], pool: set[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(p[0] + dy, p[1] + dx) for dy, dx in nbr if (p[0] + dy, p[1] + dx) in pool]

    paths: list[list[tuple[int, int]]] = []
    while pts:
        ends = [p for p in pts if len(neighbours(p, pts)) <= 1]
        start = min(ends or pts, key=lambda p: (p[0] // 12, p[1]))
        path = [start]
        pts.discard(start)
        cur, direction = start, (0, 0)
        while True:
            nb = neighbours(cur, pts)
            if not nb:
                break
            nxt = max(nb, key=lambda q: (q[0] - cur[0]) * direction[0] + (q[1] - cur[1]) * direction[1])
            direction = (nxt[0] - cur[0], nxt[1] - cur[1])
            pts.discard(nxt)
            path.append(nxt)
            cur = nxt
        if len(path) >= 6:
            paths.append([(x, y) for y, x in path])
    return paths


def glyph_strokes(text: str, font_path: str | None = None, size: int = 120) -> list[list[tuple[float, float]]]:
    """Strokes of *text* in a unit box per character: x in [i, i+1), y in [0, 1)."""
    font = ImageFont.truetype(R.find_font(font_path), size)
    out: list[list[tuple[float, float]]] = []
    for i, ch in enumerate(text):
        img = Image.new("L", (size + 20, size + 20), 0)
        ImageDraw.Draw(img).text((10, 10), ch, fill=255, font=font)
        skel = thin(np.asarray(img) > 127)
        paths = _trace(skel)
        paths.sort(key=lambda p: (round(min(y for _, y in p) / (size / 6)), min(x for x, _ in p)))
        for p in paths:
            out.append([(i + (x - 10) / size, (y - 10) / size) for x, y in p[::2]])
    return out


def _min_jerk(u: np.ndarray) -> np.ndarray:
    out: np.ndarray = 10 * u**3 - 15 * u**4 + 6 * u**5
    return out


def _along(poly: np.ndarray, s: np.ndarray) -> np.ndarray:
    seg = np.hypot(*np.diff(poly, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return np.stack([np.interp(s * cum[-1], cum, poly[:, 0]), np.interp(s * cum[-1], cum, poly[:, 1])], axis=1)


Sample = tuple[int, bool, bool, float, float, float]  # (dt ms, proximity, tip, x, y, pressure 0..1) in screen px


class Hand:
    """Turns strokes in screen pixels into timed samples."""

    def __init__(self, rng: np.random.Generator, speed_px_s: float = 260.0) -> None:
        self.rng = rng
        self.speed = speed_px_s
        self.pos: tuple[float, float] | None = None

    def stroke(self, poly: list[tuple[float, float]]) -> list[Sample]:
        p = np.asarray(poly, dtype=float)
        if len(p) < 2:
            p = np.vstack([p, p + 0.5])
        length = float(np.hypot(*np.diff(p, axis=0).T).sum())
        dur = 0.09 + length / self.speed * float(self.rng.uniform(0.85, 1.2))
        n = max(3, int(dur * 1000 / REPORT_MS))
        u = np.linspace(0, 1, n)
        xy = _along(p, _min_jerk(u))
        tremor = np.cumsum(self.rng.normal(0, 0.15, (n, 2)), axis=0)
        xy = xy + tremor - np.linspace(0, 1, n)[:, None] * tremor[-1]
        base = float(self.rng.uniform(0.45, 0.75))
        press = base * np.clip(np.sin(np.pi * np.clip(u * 1.15 + 0.02, 0, 1)) ** 0.35, 0.05, 1) \
            * (1 + self.rng.normal(0, 0.03, n))
        out = self.travel(float(xy[0, 0]), float(xy[0, 1]))
        out += [(REPORT_MS, True, True, float(x), float(y), float(max(0.02, min(1.0, f))))
                for (x, y), f in zip(xy, press, strict=True)]
        self.pos = (float(xy[-1, 0]), float(xy[-1, 1]))
        return out

    def travel(self, x: float, y: float) -> list[Sample]:
        """Pen up, in proximity, from the last position to (x, y)."""
        if self.pos is None:
            self.pos = (x + 15.0, y - 20.0)
        d = math.hypot(x - self.pos[0], y - self.pos[1])
        n = max(4, int((0.08 + d / 900.0) * 1000 / REPORT_MS))
        u = _min_jerk(np.linspace(0, 1, n))
        return [(REPORT_MS, True, False, self.pos[0] + (x - self.pos[0]) * float(a), self.pos[1] + (y - self.pos[1])
                 * float(a), 0.0) for a in u]

    def tap(self, x: float, y: float) -> list[Sample]:
        out = self.travel(x, y)
        out += [(REPORT_MS, True, True, x + float(self.rng.normal(0, 0.3)), y + float(self.rng.normal(0, 0.3)), 0.5)
                for _ in range(16)]
        out += [(REPORT_MS, True, False, x, y, 0.0), (REPORT_MS, False, False, x, y, 0.0)]
        self.pos = None
        return out


def name_strokes(text: str, box: R.Box, rng: np.random.Generator, font_path: str | None = None
                 ) -> list[list[tuple[float, float]]]:
    x1, y1, x2, y2 = box
    n = max(1, len(text))
    size = min((y2 - y1) * 0.62, (x2 - x1) * 0.8 / n)
    left = x1 + ((x2 - x1) - size * n * 0.95) / 2
    top = y1 + ((y2 - y1) - size) / 2
    slant = float(rng.uniform(0.1, 0.22))
    out = []
    for st in glyph_strokes(text, font_path):
        ci = int(st[0][0])
        dy = float(rng.normal(0, size * 0.03))
        pts = [(left + (x * 0.95) * size + (0.5 - y) * slant * size, top + y * size + dy + ci * size * 0.02)
               for x, y in st]
        out.append(pts)
    return out


def scribble_stroke(box: R.Box, rng: np.random.Generator) -> list[tuple[float, float]]:
    x1, y1, x2, y2 = box
    u = np.linspace(0, 1, 300)
    cx = x1 + (x2 - x1) * (0.15 + 0.7 * u) + 25 * np.sin(2 * np.pi * u * float(rng.uniform(5, 9)))
    cy = (y1 + y2) / 2 + (y2 - y1) * 0.3 * np.sin(2 * np.pi * u * float(rng.uniform(2, 4)) + float(rng.uniform(0, 6)))
    return [(float(a), float(b)) for a, b in zip(cx, cy, strict=True)]


class Pad:
    """The device behind the fake USB backend."""

    def __init__(self, model: Model | None = None, *, speed: float = 1.0, seed: int = 1,
                 font: str | None = None) -> None:
        self.model = model or Model()
        self.speed = speed
        self.font = font
        self.rng = np.random.default_rng(seed)
        self.unplugged = False
        self.stuck_pen = False
        self.inking = False
        self.mode = 0
        self.area = (0, 0, self.model.cap.screen_width, self.model.cap.screen_height)
        self.screen: Image.Image | None = None
        self.display_gen = 0
        self.displayed = False
        self._image = bytearray()
        # like a host's HID input buffer: when nobody reads, the oldest reports are dropped
        self._inq: collections.deque[bytes] = collections.deque(maxlen=256)
        self._cv = threading.Condition()
        self._steps: collections.deque[tuple[str, Any]] = collections.deque()
        self._pad_ms = int(self.rng.integers(0, 60000))
        self._seq = 0
        self._stop = threading.Event()
        #: the last feature reports the host set (for tests), bounded like a bus analyser's window: a pad
        #: that runs for days must not grow with every screen it shows
        self.feature_log: collections.deque[int] = collections.deque(maxlen=FEATURE_LOG_SIZE)
        self._thread = threading.Thread(target=self._run, name="stu-sim-hand", daemon=True)
        self._thread.start()

    # ---- USB side -----------------------------------------------------------------------
    def get_feature(self, rid: int) -> bytes:
        m = self.model
        if rid == K.CAPABILITY:
            return m.cap.encode() + bytes(4)
        if rid == K.INFORMATION:
            return K.Information(m.name, m.firmware).encode() + bytes(4)
        if rid == K.SERIAL:
            return bytes([K.SERIAL]) + m.serial.encode() + b"\0"
        if rid == K.WRITING_AREA:
            return K.writing_area(*self.area)
        if rid == K.INKING:
            return K.inking(self.inking)
        return bytes([rid])

    def set_feature(self, data: bytes) -> None:
        rid = data[0]
        self.feature_log.append(rid)
        with self._cv:
            if rid == K.CLEAR_SCREEN:
                self.screen = Image.new("RGB", (self.model.cap.screen_width, self.model.cap.screen_height), "white")
                self.displayed = False
            elif rid == K.INKING:
                self.inking = bool(data[1])
            elif rid == K.WRITING_MODE:
                self.mode = data[1]
            elif rid == K.WRITING_AREA:
                self.area = K.decode_writing_area(data)
            elif rid == K.IMAGE_START:
                self._image = bytearray()
            elif rid == K.IMAGE_DATA:
                self._image += K.decode_image_data(data)
            elif rid == K.IMAGE_END:
                w, h = self.model.cap.screen_width, self.model.cap.screen_height
                if len(self._image) == w * h * 3:
                    self.screen = R.from_bgr(bytes(self._image), w, h)
                    self.display_gen += 1
                    self.displayed = True
                    self._cv.notify_all()

    def read_report(self, timeout_ms: int) -> bytes | None:
        end = time.monotonic() + timeout_ms / 1000.0
        with self._cv:
            while not self._inq:
                left = end - time.monotonic()
                if left <= 0 or self.unplugged:
                    return None
                self._cv.wait(left)
            return self._inq.popleft()

    # ---- the hand -------------------------------------------------------------------------
    def sign(self, what: str, then: str = "ok") -> None:
        with self._cv:
            self._steps.append(("write", what))
            if then in R.BUTTONS:
                self._steps.append(("tap", then))
            self._cv.notify_all()

    def tap(self, button: str) -> None:
        with self._cv:
            self._steps.append(("tap", button))
            self._cv.notify_all()

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._thread.join(timeout=2)

    def _push(self, samples: list[Sample], stuck: bool = False) -> None:
        cap = self.model.cap
        kx, ky = cap.tablet_max_x / cap.screen_width, cap.tablet_max_y / cap.screen_height
        owed = 0.0
        for dt, prox, tip, x, y, f in samples:
            if self._stop.is_set() or self.unplugged or (stuck and not self.stuck_pen):
                return
            self._pad_ms += dt
            self._seq += 1
            owed += dt / 1000.0 / self.speed
            if owed > 0.004:
                time.sleep(owed)
                owed = 0.0
            s = K.PenSample(prox, tip, int(f * cap.max_pressure), max(0, min(cap.tablet_max_x, int(x * kx))),
                            max(0, min(cap.tablet_max_y, int(y * ky))),
                            self._pad_ms & 0xFFFF if self.mode == 1 and self.model.timed_reports else None,
                            self._seq & 0xFFFF)
            with self._cv:
                self._inq.append(K.encode_pen(s))
                self._cv.notify_all()

    def _run(self) -> None:
        hand = Hand(self.rng)
        need_gen = 0
        while not self._stop.is_set():
            with self._cv:
                while not self._stop.is_set() and (self.stuck_pen is False and (
                        not self._steps or not self.displayed or self.display_gen < need_gen)):
                    self._cv.wait(0.05)
                if self._stop.is_set():
                    return
                step = self._steps.popleft() if (self._steps and self.displayed and self.display_gen >= need_gen
                                                 and not self.stuck_pen) else None
            if self.stuck_pen:
                self._push([(REPORT_MS, True, True, 300.0, 250.0, 0.6)] * 20, stuck=True)
                continue
            if step is None:
                continue
            layout = R.Layout.for_screen(self.model.cap.screen_width, self.model.cap.screen_height)
            kind, arg = step
            if kind == "tap":
                x1, y1, x2, y2 = layout.buttons[arg]
                self._push(hand.tap((x1 + x2) / 2, (y1 + y2) / 2))
                if arg == "clear":
                    need_gen = self.display_gen + 1
                continue
            polys = [scribble_stroke(layout.box, self.rng)] if arg == "scribble" else \
                name_strokes(arg, layout.box, self.rng, self.font)
            for poly in polys:
                self._push(hand.stroke(poly))
            self._push([(REPORT_MS, True, False, *(hand.pos or (0.0, 0.0)), 0.0)])
