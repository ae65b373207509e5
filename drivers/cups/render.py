"""Plain text → A4 PDF (so text prints through the same path as a PDF).

Rendered with Pillow at 150 dpi using the Noto Sans CJK font (fonts-noto-cjk),
so Chinese text prints on any IPP Everywhere printer without printer fonts.
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DPI = 150
A4_PX = (1240, 1754)  # 210 × 297 mm at 150 dpi
MARGIN = 110  # ≈ 18.6 mm
FONT_FILES = [Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
              Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")]


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for f in FONT_FILES:
        if f.exists():
            return ImageFont.truetype(str(f), px, index=2)  # SC
    return ImageFont.load_default()


def _wrap(line: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    out: list[str] = []
    cur = ""
    for ch in line:
        if font.getlength(cur + ch) > width and cur:
            # break at the last space for Latin text, anywhere for CJK
            cut = cur.rfind(" ")
            if cut > 0 and unicodedata.east_asian_width(ch) not in ("W", "F"):
                out.append(cur[:cut])
                cur = cur[cut + 1:]
            else:
                out.append(cur)
                cur = ""
        cur += ch
    out.append(cur)
    return out


def text_to_pdf(text: str, font_pt: float = 11.0) -> bytes:
    px = round(font_pt * DPI / 72)
    font = _font(px)
    line_h = round(px * 1.5)
    width = A4_PX[0] - 2 * MARGIN
    per_page = (A4_PX[1] - 2 * MARGIN) // line_h
    lines = [w for raw in text.replace("\r\n", "\n").split("\n") for w in _wrap(raw.expandtabs(4), font, width)]
    pages: list[Image.Image] = []
    for start in range(0, max(1, len(lines)), per_page):
        page = Image.new("L", A4_PX, 255)
        d = ImageDraw.Draw(page)
        for i, ln in enumerate(lines[start:start + per_page]):
            d.text((MARGIN, MARGIN + i * line_h), ln, font=font, fill=0)
        pages.append(page)
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return buf.getvalue()
