"""Pad screen layout, the prompt image ("请在此签名" in a CJK font) and the signature PNG.

Screen layout (fractions of the pad screen, the same on every model): the prompt line on top, the
signing box in the middle (also sent as the pad's writing area) and three buttons in the bottom
strip, left to right 清除 (clear), 取消 (cancel), 确定 (OK).  A pen tap inside a button acts on it.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from gtsdk.errors import ErrorCode, GtsdkError

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
BUTTONS = ("clear", "cancel", "ok")
BUTTON_LABELS = {"clear": "清除", "cancel": "取消", "ok": "确定"}

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    prompt: Box
    box: Box
    buttons: dict[str, Box]

    @classmethod
    def for_screen(cls, width: int, height: int) -> Layout:
        def bx(x1: float, y1: float, x2: float, y2: float) -> Box:
            return round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height)

        buttons = {name: bx(0.04 + i * 0.32, 0.82, 0.32 + i * 0.32, 0.97) for i, name in enumerate(BUTTONS)}
        return cls(width, height, bx(0.04, 0.02, 0.96, 0.16), bx(0.04, 0.18, 0.96, 0.79), buttons)

    def button_at(self, x: float, y: float) -> str | None:
        for name, (x1, y1, x2, y2) in self.buttons.items():
            if x1 <= x <= x2 and y1 <= y <= y2:
                return name
        return None

    def in_box(self, x: float, y: float) -> bool:
        x1, y1, x2, y2 = self.box
        return x1 <= x <= x2 and y1 <= y <= y2


def find_font(path: str | None = None) -> str:
    for p in ((path,) if path else ()) + FONT_CANDIDATES:
        if p and Path(p).is_file():
            return p
    raise GtsdkError(ErrorCode.CONFIG_ERROR, "no CJK font found for the pad prompt (setting 'font'; "
                     "install fonts-noto-cjk)", field="font")


def prompt_image(layout: Layout, prompt: str, font_path: str | None = None) -> Image.Image:
    img = Image.new("RGB", (layout.width, layout.height), "white")
    d = ImageDraw.Draw(img)
    fp = find_font(font_path)
    x1, y1, x2, y2 = layout.prompt
    size = max(10, int((y2 - y1) * 0.8))
    font = ImageFont.truetype(fp, size)
    d.text(((x1 + x2) / 2, (y1 + y2) / 2), prompt, fill="black", font=font, anchor="mm")
    bx1, by1, bx2, by2 = layout.box
    d.rectangle(layout.box, outline=(160, 160, 160), width=max(1, layout.width // 400))
    base = by2 - (by2 - by1) // 5
    d.line([(bx1 + 20, base), (bx2 - 20, base)], fill=(200, 200, 200), width=1)
    bfont = ImageFont.truetype(fp, max(10, int((layout.buttons["ok"][3] - layout.buttons["ok"][1]) * 0.55)))
    for name, b in layout.buttons.items():
        fill = (0, 120, 215) if name == "ok" else (230, 230, 230)
        d.rounded_rectangle(b, radius=max(2, (b[3] - b[1]) // 4), fill=fill, outline=(120, 120, 120))
        d.text(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), BUTTON_LABELS[name], font=bfont, anchor="mm",
               fill="white" if name == "ok" else "black")
    return img


def to_bgr(img: Image.Image) -> bytes:
    r, g, b = img.convert("RGB").split()
    return Image.merge("RGB", (b, g, r)).tobytes()


def from_bgr(data: bytes, width: int, height: int) -> Image.Image:
    b, g, r = Image.frombytes("RGB", (width, height), data).split()
    return Image.merge("RGB", (r, g, b))


# ---- the signature PNG ----------------------------------------------------------------------

Stroke = Sequence[tuple[float, float, float]]  # (x, y, pressure 0..1) in output pixels


def _chaikin(pts: list[tuple[float, float, float]], rounds: int = 2) -> list[tuple[float, float, float]]:
    for _ in range(rounds):
        if len(pts) < 3:
            return pts
        out = [pts[0]]
        for a, b in itertools.pairwise(pts):
            out.append(tuple(0.75 * u + 0.25 * v for u, v in zip(a, b, strict=True)))  # type: ignore[arg-type]
            out.append(tuple(0.25 * u + 0.75 * v for u, v in zip(a, b, strict=True)))  # type: ignore[arg-type]
        out.append(pts[-1])
        pts = out
    return pts


def signature_png(strokes: Sequence[Stroke], *, min_width: float = 1.0, max_width: float = 4.0,
                  color: tuple[int, int, int] = (0, 0, 0), margin: int = 8, supersample: int = 3) -> bytes:
    """Smooth, pressure-weighted strokes on a transparent background, cropped to the ink."""
    pts = [p for s in strokes for p in s]
    if not pts:
        img = Image.new("RGBA", (1, 1), (0, 0, 0, 0))
    else:
        minx = min(p[0] for p in pts) - max_width - margin
        miny = min(p[1] for p in pts) - max_width - margin
        w = int(max(p[0] for p in pts) - minx + max_width + margin) + 1
        h = int(max(p[1] for p in pts) - miny + max_width + margin) + 1
        k = supersample
        alpha = Image.new("L", (w * k, h * k), 0)
        d = ImageDraw.Draw(alpha)
        for stroke in strokes:
            sm = _chaikin([(x, y, p) for x, y, p in stroke])
            for i, (x, y, p) in enumerate(sm):
                r = (min_width + (max_width - min_width) * max(0.0, min(1.0, p))) * k / 2
                cx, cy = (x - minx) * k, (y - miny) * k
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
                if i:
                    px, py, pp = sm[i - 1]
                    rr = (min_width + (max_width - min_width) * max(0.0, min(1.0, (p + pp) / 2))) * k
                    d.line([((px - minx) * k, (py - miny) * k), (cx, cy)], fill=255, width=max(1, round(rr)))
        alpha = alpha.resize((w, h), Image.Resampling.LANCZOS)
        img = Image.new("RGBA", (w, h), (*color, 0))
        img.putalpha(alpha)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
