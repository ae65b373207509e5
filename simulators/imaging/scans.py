"""Synthetic scans with known geometry: pages rendered with the Noto CJK font, then
skewed, turned or placed in perspective on a background.  Tests compare what the
driver finds against the geometry used here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

CJK_FONTS = ["/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"]
MONO_FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
              "/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Regular.otf"]

#: ICAO Doc 9303 part 4 specimen (Appendix A, "UTOPIA" passport of Anna Maria Eriksson): fictitious data
SPECIMEN_MRZ = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")

FORM_LINES = ["政务服务事项申请表", "申请人：张三  ABC-123", "办理事项：居住证签注", "联系电话：13800138000",
              "申请日期：2026年11月27日"]

A4_LINES = FORM_LINES + ["一、申请材料：居民身份证原件及复印件一份。", "二、办理时限：自受理之日起五个工作日内办结。",
                         "三、收费标准：不收费。Service fee: none.", "四、咨询电话：12345"] * 3


def font_path(kind: str = "cjk") -> str | None:
    for p in CJK_FONTS if kind == "cjk" else MONO_FONTS:
        if Path(p).exists():
            return p
    return None


@lru_cache(maxsize=16)
def _font(kind: str, size: int) -> Any:
    from PIL import ImageFont

    p = font_path(kind)
    if p is None:
        raise FileNotFoundError(f"no {kind} font installed (fonts-noto-cjk / fonts-dejavu-core)")
    return ImageFont.truetype(p, size)


def render_page(lines: list[str], size: tuple[int, int] = (1240, 1754), *, font_px: int = 48, margin: int = 80,
                line_gap: float = 1.8, mono: list[str] | None = None, mono_px: int = 40, border: bool = False) -> Any:
    """A white page (BGR array) with *lines* in black; *mono* lines (an MRZ) at the bottom."""
    from PIL import Image, ImageDraw

    w, h = size
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    y = margin
    for ln in lines:
        d.text((margin, y), ln, font=_font("cjk", font_px), fill="black")
        y += int(font_px * line_gap)
    if mono:
        y = h - margin - int(mono_px * 1.5) * len(mono)
        for ln in mono:
            d.text((margin // 2, y), ln, font=_font("mono", mono_px), fill="black")
            y += int(mono_px * 1.5)
    if border:
        d.rectangle([8, 8, w - 9, h - 9], outline=(40, 40, 40), width=4)
    return np.array(im)[:, :, ::-1].copy()


def place(page: Any, corners: list[tuple[float, float]], canvas: tuple[int, int], *,
          background: tuple[int, int, int] = (40, 45, 50), noise: float = 6.0, seed: int = 7) -> Any:
    """The page warped so its corners (tl, tr, br, bl) land on *corners* of a canvas."""
    import cv2

    h, w = page.shape[:2]
    cw, ch = canvas
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, np.array(corners, dtype=np.float32))
    bg = np.full((ch, cw, 3), background, dtype=np.uint8)
    out = cv2.warpPerspective(page, m, (cw, ch), dst=bg, borderMode=cv2.BORDER_TRANSPARENT, flags=cv2.INTER_AREA)
    if noise:
        rng = np.random.default_rng(seed)
        grain = np.asarray(rng.normal(0.0, noise, size=out.shape), dtype=np.int16)
        out = np.clip(out.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    return out


def skewed(page: Any, degrees_cw: float, pad: int = 60) -> Any:
    """A flatbed scan of a sheet lying crooked by *degrees_cw* (white all round)."""
    import cv2

    page = cv2.copyMakeBorder(page, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    h, w = page.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees_cw, 1.0)
    return cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))


def a4_scan(dpi: int = 300, *, seed: int = 3) -> Any:
    """A full A4 page at *dpi* (2480×3508 at 300 dpi) with a title, form lines and paragraphs."""
    w, h = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    px = max(12, dpi * 14 // 72)  # 14-point type
    return render_page(A4_LINES, (w, h), font_px=px, margin=dpi * 2 // 3, line_gap=2.2)


def passport_page(*, mrz: tuple[str, str] = SPECIMEN_MRZ, width: int = 1250) -> Any:
    """A TD3 data page (125 × 88 mm at 10 px/mm) with the MRZ in its bottom 2 lines."""
    h = width * 88 // 125
    return render_page(["护照 PASSPORT", "姓名 Name: ERIKSSON, ANNA MARIA", "国籍 Nationality: UTOPIA"],
                       (width, h), font_px=width // 30, margin=width // 20, line_gap=1.6, mono=list(mrz),
                       mono_px=width // 30)


def encode(img: Any, fmt: str = "jpeg", quality: int = 92) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png" if fmt == "png" else ".jpg", img,
                           [] if fmt == "png" else [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes())


def png_bytes(size: tuple[int, int]) -> bytes:
    """A PNG header that claims *size* with no pixel data behind it (decompression-bomb tests)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", size[0], size[1], 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
