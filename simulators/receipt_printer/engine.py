"""The simulated receipt printer: interprets ESC/POS, renders the paper, answers status.

Transport-free: the pty device and the fake USB backend both feed bytes into
:meth:`PrinterEngine.feed` and send back whatever it returns.  The rendered
receipt (PNG, CJK glyphs from fonts-noto-cjk) and a text transcript are saved
under ``<workdir>/receipts`` at every cut.

Status replies (DLE EOT n) follow docs/protocols.md §4 (DERIVED simulator
replies): all OK 0x12; cover open n=2 0x16; paper out n=4 0x7E and n=2 0x32;
near end n=4 0x1E; cutter error n=3 0x1A.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gtsdk.simulators._history import History

from .parser import Command, EscPosParser

log = logging.getLogger("gtsdk.simulators.receipt_printer")

FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_INDEX = 7  # "Noto Sans Mono CJK SC"
CELL_H = 24  # font A: 12×24 ANK, 24×24 CJK
LINE_GAP = 6  # default line spacing 30 dots
NEAR_END_DOTS = 1500


@dataclass
class Style:
    align: int = 0
    width: int = 1
    height: int = 1
    bold: bool = False
    underline: bool = False


@dataclass
class Receipt:
    rows: list[Image.Image] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.rows and not self.transcript


_font_cache: dict[int, Any] = {}


def _font(px: int) -> Any:
    f = _font_cache.get(px)
    if f is None:
        try:
            f = ImageFont.truetype(str(FONT_FILE), px, index=FONT_INDEX)
        except OSError:
            f = ImageFont.load_default()
        _font_cache[px] = f
    return f


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


class PrinterEngine:
    """One receipt printer mechanism with an 80 mm (576 dot) head."""

    def __init__(self, outdir: Path, width: int = 576) -> None:
        self.outdir = outdir
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.width = width
        self.lock = threading.RLock()
        self.parser = EscPosParser()
        # sensors and faults
        self.paper_left: int | None = None  # dots of paper left (None: plenty)
        self.near_end = False
        self.paper_out = False
        self.cover_open = False
        self.cutter_error = False
        # command interpreter state
        self.chinese = True  # many Chinese mechanisms power up in Chinese mode (docs/protocols.md §4)
        self.code_table = 0
        self.style = Style()
        self.barcode_height = 162
        self.barcode_module = 3
        self.barcode_hri = 0
        self.qr_size = 3
        self.qr_ec = "L"
        self.qr_data = b""
        self.line: list[tuple[str, Style]] = []
        self.pending: list[Command] = []  # received while the mechanism cannot print
        self.receipt = Receipt()
        # the newest receipts only: a simulator in `gtsdk serve --simulate` prints for days (disk is bounded too)
        self.saved: History[Path] = History(on_drop=_delete_receipts)
        self.counter = 0
        self.bytes_in = 0
        self.log: History[str] = History()  # the command names, newest last, for tests

    # ---- status --------------------------------------------------------------------------------
    @property
    def offline(self) -> bool:
        return self.paper_out or self.cover_open or self.cutter_error

    def status_byte(self, n: int) -> int:
        b = 0x12
        if n == 1 and self.offline:
            b |= 0x08
        elif n == 2:
            b |= (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0) | (0x40 if self.cutter_error else 0)
        elif n == 3 and self.cutter_error:
            b |= 0x08
        elif n == 4:
            b |= (0x0C if (self.near_end or self.paper_out) else 0) | (0x60 if self.paper_out else 0)
        return b

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"paperOut": self.paper_out, "nearEnd": self.near_end, "coverOpen": self.cover_open,
                    "cutterError": self.cutter_error, "paperLeft": self.paper_left, "pending": len(self.pending),
                    "receipts": len(self.saved), "bytesIn": self.bytes_in}

    # ---- faults --------------------------------------------------------------------------------
    def load_paper(self) -> None:
        with self.lock:
            self.paper_out = self.near_end = False
            self.paper_left = None
            self._resume()

    def set_paper_out(self, after_dots: int | None = None) -> None:
        with self.lock:
            if after_dots is None or after_dots <= 0:
                self._run_out()
            else:
                self.paper_left = after_dots
                self.near_end = after_dots < NEAR_END_DOTS

    def set_near_end(self) -> None:
        with self.lock:
            self.near_end = True

    def set_cover(self, open_: bool) -> None:
        with self.lock:
            self.cover_open = open_
            if not open_:
                self._resume()

    def set_cutter_error(self, on: bool) -> None:
        with self.lock:
            self.cutter_error = on
            if not on:
                self._resume()

    def _run_out(self) -> None:
        if not self.paper_out:
            self.paper_out = True
            self.near_end = True
            self.paper_left = 0
            self.line = []
            if not self.receipt.empty():
                self.receipt.transcript.append("[PAPER OUT]")
                self._save(partial=True)

    def _resume(self) -> None:
        while self.pending and not self.offline:
            self._execute(self.pending.pop(0))

    # ---- input ---------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Process bytes from the host; returns the bytes to send back."""
        out = bytearray()
        with self.lock:
            self.bytes_in += len(data)
            for cmd in self.parser.feed(data):
                self.log.append(cmd.name)
                if cmd.name == "DLE EOT":
                    out.append(self.status_byte(cmd.raw[2]))
                elif cmd.name == "DLE DC4":
                    if cmd.raw[2] == 8:  # clear receive and print buffers; Epson answers 37 25 00 when done
                        self.pending.clear()
                        self.line = []
                        out += b"\x37\x25\x00"
                elif cmd.name == "DLE ENQ":
                    if cmd.raw[2] == 2:  # recover after clearing buffers
                        self.pending.clear()
                        self.line = []
                elif self.offline:
                    self.pending.append(cmd)
                else:
                    out += self._execute(cmd)
        return bytes(out)

    # ---- printing --------------------------------------------------------------------------------
    def _consume(self, dots: int) -> bool:
        """Advance the paper; False (and paper out) when there is none left."""
        if self.paper_left is None:
            return True
        if self.paper_left <= 0:
            self._run_out()
            return False
        self.paper_left -= dots
        if self.paper_left < NEAR_END_DOTS:
            self.near_end = True
        return True

    def _emit_row(self, img: Image.Image, align: int | None = None) -> None:
        a = self.style.align if align is None else align
        if img.width > self.width:
            img = img.crop((0, 0, self.width, img.height))
        row = Image.new("L", (self.width, img.height), 255)
        x = 0 if a == 0 else (self.width - img.width) // (2 if a == 1 else 1)
        row.paste(img.convert("L"), (x, 0))
        self.receipt.rows.append(row)

    def _blank(self, dots: int) -> None:
        if dots > 0:
            self.receipt.rows.append(Image.new("L", (self.width, dots), 255))

    def _print_line(self, force: bool = True) -> None:
        if not self.line and not force:
            return
        runs = self.line
        self.line = []
        text = "".join(ch for ch, _ in runs)
        h = max((s.height for _, s in runs), default=1) * CELL_H
        if not self._consume(h + LINE_GAP):
            return
        # lay characters out, wrapping at the paper width
        rows: list[list[tuple[str, Style, int]]] = [[]]
        x = 0
        for ch, s in runs:
            w = (24 if _wide(ch) else 12) * s.width
            if x + w > self.width and rows[-1]:
                rows.append([])
                x = 0
            rows[-1].append((ch, s, w))
            x += w
        for r in rows:
            width = sum(w for _, _, w in r) or 1
            img = Image.new("L", (width, h), 255)
            x = 0
            for ch, s, w in r:
                ch_h = s.height * CELL_H
                cw = 24 if _wide(ch) else 12
                glyph = Image.new("L", (cw, CELL_H), 255)
                d = ImageDraw.Draw(glyph)
                d.text((cw / 2, CELL_H / 2), ch, font=_font(CELL_H - 2), fill=0, anchor="mm")
                if s.bold:
                    d.text((cw / 2 + 1, CELL_H / 2), ch, font=_font(CELL_H - 2), fill=0, anchor="mm")
                if (w, ch_h) != glyph.size:
                    glyph = glyph.resize((w, ch_h), Image.Resampling.NEAREST)
                img.paste(glyph, (x, h - ch_h))
                if s.underline:
                    ImageDraw.Draw(img).line([(x, h - 1), (x + w, h - 1)], fill=0)
                x += w
            self._emit_row(img, runs[0][1].align if runs else None)
        self._blank(LINE_GAP)
        self.receipt.transcript.append(text)

    def _text(self, raw: bytes) -> None:
        if self.chinese:
            s = raw.decode("gb18030", errors="replace")
        else:
            s = raw.decode("cp437" if self.code_table == 0 else "latin-1", errors="replace")
        st = Style(**vars(self.style))
        self.line.extend((ch, st) for ch in s)

    def _feed_dots(self, dots: int) -> None:
        if self.line:
            self._print_line()
        if self._consume(dots):
            self._blank(dots)

    def _execute(self, cmd: Command) -> bytes:
        name, p = cmd.name, cmd.params
        if self._set_style(name, p) or self._set_mode(name, p):
            return b""
        if name == "text":
            self._text(cmd.raw)
        elif name == "LF":
            self._print_line()
        elif name == "ESC d":
            self._feed_dots(p[0] * (CELL_H + LINE_GAP))
        elif name == "ESC J":
            self._feed_dots(p[0])
        elif name == "GS V":
            self._cut(cmd.raw)
        elif name == "GS k":
            self._barcode(cmd.raw)
        elif name == "GS (":
            if cmd.raw[2] == 0x6B:
                self._qr_function(cmd.raw)
        elif name == "GS v":
            self._raster(cmd.raw)
        elif name == "GS r":
            if p[0] in (1, 49):  # paper sensor: bits 0/1 near end, bits 2/3 paper end (non-real-time)
                return bytes([(0x03 if self.near_end else 0) | (0x0C if self.paper_out else 0)])
        elif name == "unknown":
            self.receipt.transcript.append(f"[UNKNOWN {cmd.raw[:4].hex(' ')}]")
        return b""

    def _set_style(self, name: str, p: bytes) -> bool:
        """The character style commands; False for any other command."""
        st = self.style
        if name == "ESC a":
            st.align = p[0] % 48 if p[0] >= 48 else min(p[0], 2)
        elif name == "ESC E":
            st.bold = bool(p[0] & 1)
        elif name == "ESC -":
            st.underline = bool(p[0] & 3)
        elif name == "ESC !":
            st.bold = bool(p[0] & 0x08)
            st.height = 2 if p[0] & 0x10 else 1
            st.width = 2 if p[0] & 0x20 else 1
            st.underline = bool(p[0] & 0x80)
        elif name == "GS !":
            st.width = (p[0] >> 4 & 7) + 1
            st.height = (p[0] & 7) + 1
        elif name == "FS !":
            st.width = 2 if p[0] & 0x04 else 1
            st.height = 2 if p[0] & 0x08 else 1
        else:
            return False
        return True

    def _set_mode(self, name: str, p: bytes) -> bool:
        """Initialise, code pages and barcode settings; False for any other command."""
        if name == "ESC @":
            self.style = Style()
            self.line = []
            self.chinese = True
        elif name == "ESC t":
            self.code_table = p[0]
        elif name in ("FS &", "FS ."):
            self.chinese = name == "FS &"
        elif name == "GS h":
            self.barcode_height = max(1, p[0])
        elif name == "GS w":
            self.barcode_module = max(1, min(p[0], 6))
        elif name == "GS H":
            self.barcode_hri = p[0] % 48 if p[0] >= 48 else p[0]
        else:
            return False
        return True

    # ---- graphics ------------------------------------------------------------------------------
    def _qr_function(self, raw: bytes) -> None:
        if len(raw) < 7 or raw[5] != 0x31:
            return
        fn = raw[6]
        data = raw[7:]
        if fn == 67 and data:
            self.qr_size = max(1, min(16, data[0]))
        elif fn == 69 and data:
            self.qr_ec = "LMQH"[(data[0] - 48) % 4]
        elif fn == 80 and data:
            self.qr_data = bytes(data[1:])
        elif fn == 81:
            self._print_qr()

    def _print_qr(self) -> None:
        import qrcode
        from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q

        if self.line:
            self._print_line()
        ec = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H}[self.qr_ec]
        text = self.qr_data.decode("utf-8", errors="replace")
        try:
            q = qrcode.QRCode(version=None, error_correction=ec, box_size=self.qr_size, border=0)
            q.add_data(self.qr_data)
            q.make(fit=True)
            img = q.make_image().get_image().convert("L")
        except Exception as e:  # noqa: BLE001 - a real printer prints an error mark for data it cannot encode
            log.debug("QR not encoded: %s", type(e).__name__)
            self.receipt.transcript.append("[QR ERROR]")
            return
        margin = 4 * self.qr_size
        if not self._consume(img.height + 2 * margin):
            return
        self._blank(margin)
        self._emit_row(img)
        self._blank(margin)
        self.receipt.transcript.append(f"[QR {self.qr_ec}] {text}")

    def _barcode(self, raw: bytes) -> None:
        m = raw[2]
        if m <= 6:
            kinds = {0: "UPCA", 1: "UPCE", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "NW7"}
            data = raw[3:-1]
        else:
            kinds = {65: "UPCA", 66: "UPCE", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "NW7",
                     72: "CODE93", 73: "CODE128"}
            data = raw[4:]
        kind = kinds.get(m, f"TYPE{m}")
        text = data.decode("ascii", errors="replace")
        if kind == "CODE128" and len(text) >= 2 and text[0] == "{":
            text = text[2:].replace("{{", "{")
        modules = self._barcode_modules(kind, text)
        if self.line:
            self._print_line()
        height = self.barcode_height + (CELL_H + 4 if self.barcode_hri in (1, 2, 3) else 0)
        if not self._consume(height + LINE_GAP):
            return
        mw = self.barcode_module
        img = Image.new("L", (max(1, len(modules) * mw), self.barcode_height), 255)
        d = ImageDraw.Draw(img)
        for i, bit in enumerate(modules):
            if bit == "1":
                d.rectangle([i * mw, 0, i * mw + mw - 1, self.barcode_height - 1], fill=0)
        self._emit_row(img)
        if self.barcode_hri in (1, 2, 3):
            hri = Image.new("L", (max(12, 12 * len(text)), CELL_H + 4), 255)
            ImageDraw.Draw(hri).text((0, 0), text, font=_font(CELL_H - 4), fill=0)
            self._emit_row(hri)
        self._blank(LINE_GAP)
        self.receipt.transcript.append(f"[BARCODE {kind}] {text}")

    @staticmethod
    def _barcode_modules(kind: str, text: str) -> str:
        try:
            import barcode

            name = {"UPCA": "upca", "EAN13": "ean13", "EAN8": "ean8", "CODE39": "code39", "ITF": "itf",
                    "CODE128": "code128"}.get(kind)
            if name is None:
                return "10" * 20
            kw: dict[str, Any] = {"add_checksum": False} if name == "code39" else {}
            code = barcode.get(name, text, **kw)
            return "".join(code.build())
        except Exception as e:  # noqa: BLE001 - as for QR: data the symbology refuses prints a filler pattern
            log.debug("barcode not encoded: %s", type(e).__name__)
            return "1100" * 10

    def _raster(self, raw: bytes) -> None:
        if len(raw) < 8:
            return
        mode = raw[3] % 48 if raw[3] >= 48 else raw[3]
        wb = raw[4] | raw[5] << 8
        h = raw[6] | raw[7] << 8
        bits = raw[8:8 + wb * h]
        if wb == 0 or h == 0:
            return
        if self.line:
            self._print_line()
        img = Image.frombytes("1", (wb * 8, h), bytes(b ^ 0xFF for b in bits)).convert("L")
        if mode & 1:
            img = img.resize((img.width * 2, img.height), Image.Resampling.NEAREST)
        if mode & 2:
            img = img.resize((img.width, img.height * 2), Image.Resampling.NEAREST)
        if not self._consume(img.height):
            return
        self._emit_row(img)
        self.receipt.transcript.append(f"[IMAGE {wb * 8}x{h}]")

    def _cut(self, raw: bytes) -> None:
        if self.line:
            self._print_line()
        m = raw[2]
        if m in (65, 66, 97, 98, 103, 104) and len(raw) > 3:
            self._feed_dots(raw[3])
        partial = m in (1, 49, 66, 98, 104)
        if self.cutter_error:
            return
        self.receipt.transcript.append("[CUT partial]" if partial else "[CUT full]")
        self._save()

    # ---- output ----------------------------------------------------------------------------------
    def _save(self, partial: bool = False) -> Path:
        self.counter += 1
        stem = self.outdir / (f"receipt-{self.counter:04d}" + ("-partial" if partial else ""))
        rows = self.receipt.rows or [Image.new("L", (self.width, 8), 255)]
        total = sum(r.height for r in rows)
        img = Image.new("L", (self.width, total + 32), 255)
        y = 16
        for r in rows:
            img.paste(r, (0, y))
            y += r.height
        img.save(stem.with_suffix(".png"))
        stem.with_suffix(".txt").write_text("\n".join(self.receipt.transcript) + "\n", encoding="utf-8")
        self.saved.append(stem.with_suffix(".png"))
        self.receipt = Receipt()
        return stem.with_suffix(".png")

    def flush(self) -> Path | None:
        """Save what is on the paper so far (a receipt that was never cut)."""
        with self.lock:
            if self.line:
                self._print_line()
            if self.receipt.empty():
                return None
            return self._save()

    def receipts(self) -> list[Path]:
        with self.lock:
            return list(self.saved)


def _delete_receipts(paths: list[Path]) -> None:
    """Receipts that fell out of the history: their image and transcript go too."""
    for png in paths:
        png.unlink(missing_ok=True)
        png.with_suffix(".txt").unlink(missing_ok=True)
