"""ESC/POS wire codec: typed receipt documents → bytes, status bytes → flags.

Pure functions, no I/O.  Every command byte sequence below is pinned by a golden
test (``tests/drivers/test_receipt_codec.py``) and carries its public source:

- [PE]  python-escpos (MIT) ``src/escpos/constants.py`` / ``escpos.py`` (snapshot 5b94336),
- [EP]  Epson TM-L60II / TM-U210 technical references (DLE EOT bits, GS V),
- [DA]  Daisy 1200 / HPRT TP80K manuals (GS v 0 raster, MSB = leftmost dot),
- [SP]  SurePrint SP91 / SPRT SP manuals (FS & / FS . Chinese mode, GB18030 two-byte codes),
- [BX]  Bixolon SRP-350 / CBM1000 (DLE EOT 4 roll paper sensor bits),
as collected in docs/protocols.md §4.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.receipt_printer import Align, Barcode, Element, Feed, Image, QrCode, Text

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
LF = b"\n"

#: ESC @ — initialise printer, clears the print buffer and resets modes [PE HW_INIT]
INIT = ESC + b"@"
#: FS & — enter Chinese (two-byte) character mode [SP]
CHINESE_ON = FS + b"&"
#: FS . — leave Chinese character mode [SP]
CHINESE_OFF = FS + b"."
#: DLE DC4 fn=8 — real-time "clear buffers" (receive and print buffer); Epson ESC/POS command reference,
#: "DLE DC4 (fn = 8)": 10 14 08 01 03 14 01 06 02 08; the printer answers 37 25 00 when done.  Used after a
#: mid-job paper end so nothing of the failed job prints when paper is loaded.
CLEAR_BUFFERS = DLE + b"\x14\x08\x01\x03\x14\x01\x06\x02\x08"

_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}
#: GS k format B symbology codes [PE BARCODE_TYPE_B]
BARCODE_TYPES = {"UPCA": 65, "EAN13": 67, "EAN8": 68, "CODE39": 69, "ITF": 70, "CODE128": 73}
_QR_EC = {"L": 0, "M": 1, "Q": 2, "H": 3}
_CODE39 = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%+-./")

#: dots per line of common mechanisms (80 mm / 58 mm paper at 203 dpi)
WIDTH_80MM = 576
WIDTH_58MM = 384


# ---- single commands ----------------------------------------------------------------------------
def code_page(n: int) -> bytes:
    """ESC t n — select character code table (0 = PC437) [PE CODEPAGE_CHANGE]."""
    return ESC + b"t" + bytes([n])


def align(a: Align) -> bytes:
    """ESC a n — justification 0 left, 1 centre, 2 right [PE TXT_STYLE align]."""
    return ESC + b"a" + bytes([_ALIGN[a]])


def bold(on: bool) -> bytes:
    """ESC E n — emphasised on/off [PE TXT_STYLE bold]."""
    return ESC + b"E" + (b"\x01" if on else b"\x00")


def underline(on: bool) -> bytes:
    """ESC - n — underline 0 off / 1 one dot [PE TXT_STYLE underline]."""
    return ESC + b"-" + (b"\x01" if on else b"\x00")


def char_size(width: int, height: int) -> bytes:
    """GS ! n — width multiplier in the high nibble, height in the low nibble, each 1..8 [PE TXT_SIZE]."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise GtsdkError(ErrorCode.INVALID_DATA, "character size must be 1..8", field="width")
    return GS + b"!" + bytes([((width - 1) << 4) | (height - 1)])


def feed_lines(n: int) -> bytes:
    """ESC d n — print and feed n lines [PE (cut/ln)]."""
    if not 0 <= n <= 255:
        raise GtsdkError(ErrorCode.INVALID_DATA, "feed lines must be 0..255", field="lines")
    return ESC + b"d" + bytes([n])


def cut(partial: bool = False, feed: int = 0) -> bytes:
    """Feed *feed* lines (ESC d n, as python-escpos does) then GS V m: m=0 full, m=1 partial [PE, EP TM-U210]."""
    return (feed_lines(feed) if feed else b"") + GS + b"V" + (b"\x01" if partial else b"\x00")


def status_request(n: int) -> bytes:
    """DLE EOT n — real-time status, n=1 printer, 2 offline cause, 3 error cause, 4 roll paper [EP]."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n must be 1..4")
    return DLE + b"\x04" + bytes([n])


def _gs_k2(fn: int, payload: bytes, m: bytes = b"") -> bytes:
    """GS ( k pL pH cn fn [m] data — cn=0x31 (QR); pL/pH = len(m + data) + 2 [PE _send_2d_code_data]."""
    n = len(payload) + len(m) + 2
    return GS + b"(k" + bytes([n & 0xFF, n >> 8]) + b"1" + bytes([fn]) + m + payload


def qr(data: str, size: int = 6, ec: str = "M", model: int = 2) -> bytes:
    """QR code: model (fn 65), module size (67), EC level (69), store (80), print (81) [PE qr(native=True)]."""
    payload = data.encode("utf-8")
    if not payload:
        raise GtsdkError(ErrorCode.INVALID_DATA, "QR data is empty", field="data")
    if len(payload) > 7089:
        raise GtsdkError(ErrorCode.INVALID_DATA, "QR data longer than 7089 bytes", field="data")
    if not 1 <= size <= 16:
        raise GtsdkError(ErrorCode.INVALID_DATA, "QR module size must be 1..16", field="size")
    if ec not in _QR_EC:
        raise GtsdkError(ErrorCode.INVALID_DATA, "QR error correction must be L, M, Q or H", field="errorCorrection")
    return (
        _gs_k2(65, bytes([48 + model, 0]))
        + _gs_k2(67, bytes([size]))
        + _gs_k2(69, bytes([48 + _QR_EC[ec]]))
        + _gs_k2(80, payload, b"0")
        + _gs_k2(81, b"", b"0")
    )


def barcode_payload(data: str, symbology: str) -> bytes:
    """Validate *data* for *symbology* and return the GS k data bytes."""
    bad = GtsdkError(ErrorCode.INVALID_DATA, f"data not valid for {symbology}", field="data")
    if not data or not data.isascii():
        raise bad
    if symbology == "EAN13" and not (data.isdigit() and len(data) in (12, 13)):
        raise bad
    if symbology == "EAN8" and not (data.isdigit() and len(data) in (7, 8)):
        raise bad
    if symbology == "UPCA" and not (data.isdigit() and len(data) in (11, 12)):
        raise bad
    if symbology == "ITF" and not (data.isdigit() and len(data) % 2 == 0):
        raise bad
    if symbology == "CODE39" and not set(data) <= _CODE39:
        raise bad
    if symbology == "CODE128":
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in data):
            raise bad
        # Epson CODE128: the data starts with a code-set selector ("{B" = set B); a literal "{" is "{{".
        raw = b"{B" + data.replace("{", "{{").encode("ascii")
    else:
        raw = data.encode("ascii")
    if len(raw) > 255:
        raise bad
    return raw


def barcode(data: str, symbology: str = "CODE128", height: int = 80, module_width: int = 3, hri: int = 2) -> bytes:
    """GS h height, GS w width, GS H HRI position (2 = below), GS k m n data (format B) [PE barcode]."""
    if symbology not in BARCODE_TYPES:
        raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"barcode symbology {symbology} not supported", field="symbology")
    if not 1 <= height <= 255:
        raise GtsdkError(ErrorCode.INVALID_DATA, "barcode height must be 1..255", field="height")
    raw = barcode_payload(data, symbology)
    return (GS + b"h" + bytes([height]) + GS + b"w" + bytes([module_width]) + GS + b"H" + bytes([hri])
            + GS + b"k" + bytes([BARCODE_TYPES[symbology], len(raw)]) + raw)


def raster(bits: bytes, width_bytes: int, height: int, mode: int = 0) -> bytes:
    """GS v 0 m xL xH yL yH d1…dk — x in bytes, y in dots, MSB = leftmost dot, 1 = black [DA, PE image]."""
    if not (1 <= width_bytes <= 0xFFFF and 1 <= height <= 0xFFFF and mode in (0, 1, 2, 3)):
        raise GtsdkError(ErrorCode.INVALID_DATA, "raster size out of range", field="data")
    if len(bits) != width_bytes * height:
        raise GtsdkError(ErrorCode.INVALID_DATA, "raster data length mismatch", field="data")
    return (GS + b"v0" + bytes([mode, width_bytes & 0xFF, width_bytes >> 8, height & 0xFF, height >> 8]) + bits)


# ---- images ----------------------------------------------------------------------------------------
def dither(picture: bytes | PILImage.Image, max_width: int) -> tuple[bytes, int, int]:
    """Any picture → 1-bit raster rows (Floyd–Steinberg), at most *max_width* dots wide.

    Returns (bits, width_bytes, height) with 1 = black dot, rows padded to whole bytes.
    """
    try:
        if isinstance(picture, PILImage.Image):
            img = picture
        else:
            img = PILImage.open(io.BytesIO(picture))
            img.load()
        img = ImageOps.exif_transpose(img) or img
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"image cannot be decoded: {type(e).__name__}", field="data") from None
    if img.width < 1 or img.height < 1 or img.width * img.height > 40_000_000:
        raise GtsdkError(ErrorCode.INVALID_DATA, "image size out of range", field="data")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = PILImage.alpha_composite(bg, rgba)
    gray = img.convert("L")
    if gray.width > max_width:
        h = max(1, round(gray.height * max_width / gray.width))
        gray = gray.resize((max_width, h), PILImage.Resampling.LANCZOS)
    mono = gray.convert("1", dither=PILImage.Dither.FLOYDSTEINBERG)
    wb = (mono.width + 7) // 8
    padded = PILImage.new("1", (wb * 8, mono.height), 1)
    padded.paste(mono, (0, 0))
    # PIL "1" packs MSB first with 1 = white; ESC/POS wants 1 = black
    bits = bytes(b ^ 0xFF for b in padded.tobytes())
    return bits, wb, mono.height


def image_bands(picture: bytes | PILImage.Image, max_width: int, band: int = 256) -> list[bytes]:
    """A picture as GS v 0 bands of at most *band* rows (keeps each command small for the printer buffer)."""
    bits, wb, h = dither(picture, max_width)
    return [raster(bits[y * wb:(y + min(band, h - y)) * wb], wb, min(band, h - y)) for y in range(0, h, band)]


def image_commands(picture: bytes | PILImage.Image, max_width: int, band: int = 256) -> bytes:
    return b"".join(image_bands(picture, max_width, band))


# ---- documents -------------------------------------------------------------------------------------
def encode_text(text: str, chinese: bool, code_table: str = "cp437") -> bytes:
    """Text bytes: GB18030 in Chinese mode [SP], else the single-byte code table; control characters refused."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise GtsdkError(ErrorCode.INVALID_DATA, "text contains control characters", field="text")
    try:
        return text.encode("gb18030" if chinese else code_table)
    except UnicodeEncodeError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "text has characters the code page cannot print",
                         field="text") from None


@dataclass
class _Style:
    align: Align = Align.LEFT
    width: int = 1
    height: int = 1
    bold: bool = False
    underline: bool = False


class Encoder:
    """Stateful document encoder: emits a style command only when the style changes.

    The state mirrors the printer's after :data:`INIT` (ESC @ resets every mode).
    """

    def __init__(self, width_dots: int = WIDTH_80MM, chinese: bool = True) -> None:
        self.width_dots = width_dots
        self.chinese = chinese
        self.style = _Style()

    def init(self, code_table: int = 0) -> bytes:
        """ESC @, then Chinese mode on (FS &) or off (FS .) plus the code table (ESC t n)."""
        self.style = _Style()
        return INIT + (CHINESE_ON if self.chinese else CHINESE_OFF + code_page(code_table))

    def _align(self, a: Align) -> bytes:
        if a == self.style.align:
            return b""
        self.style.align = a
        return align(a)

    def _text_style(self, t: Text) -> bytes:
        out = self._align(t.align)
        s = self.style
        if (t.width, t.height) != (s.width, s.height):
            out += char_size(t.width, t.height)
            s.width, s.height = t.width, t.height
        if t.bold != s.bold:
            out += bold(t.bold)
            s.bold = t.bold
        if t.underline != s.underline:
            out += underline(t.underline)
            s.underline = t.underline
        return out

    def parts(self, e: Element) -> list[bytes]:
        """The commands of one element, split where a DLE EOT may safely go in between."""
        if isinstance(e, Text):
            body = b"".join(encode_text(line, self.chinese) + LF for line in e.text.split("\n"))
            return [self._text_style(e) + body]
        if isinstance(e, QrCode):
            return [self._align(e.align) + qr(e.data, e.size, e.error_correction) + LF]
        if isinstance(e, Barcode):
            return [self._align(e.align) + barcode(e.data, e.symbology, e.height) + LF]
        if isinstance(e, Image):
            width = min(e.max_width or self.width_dots, self.width_dots)
            bands = image_bands(e.data, width)
            return [self._align(e.align) + bands[0], *bands[1:]]
        if isinstance(e, Feed):
            return [feed_lines(e.lines)]
        raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"unknown element {type(e).__name__}")

    def element(self, e: Element) -> bytes:
        return b"".join(self.parts(e))

    def document(self, elements: Iterable[Element]) -> list[bytes]:
        """Segments, each a whole number of commands (safe to interleave DLE EOT between)."""
        return [p for e in elements for p in self.parts(e)]


# ---- status --------------------------------------------------------------------------------------
def valid_status_byte(b: int) -> bool:
    """Status replies have the fixed pattern 0xx1xx10 (bit0=0, bit1=1, bit4=1, bit7=0) [PE _check_valid_response]."""
    return (b & 0x93) == 0x12


@dataclass(frozen=True)
class PrinterStatus:
    """What DLE EOT 1..4 said (docs/protocols.md §4; DLE EOT 3 bit 2 is vendor-specific and ignored)."""

    offline: bool = False           # n=1 bit3
    cover_open: bool = False        # n=2 bit2
    feed_pressed: bool = False      # n=2 bit3
    paper_end_stop: bool = False    # n=2 bit5
    error: bool = False             # n=2 bit6
    cutter_error: bool = False      # n=3 bit3
    unrecoverable: bool = False     # n=3 bit5
    auto_recoverable: bool = False  # n=3 bit6
    paper_near_end: bool = False    # n=4 bits 2/3 [BX]; either bit (Citizen PPU-231II uses them separately)
    paper_out: bool = False         # n=4 bits 5/6

    @property
    def paper(self) -> str:
        if self.paper_out or self.paper_end_stop:
            return "out"
        return "nearEnd" if self.paper_near_end else "ok"

    def detail(self) -> dict[str, object]:
        return {"paper": self.paper, "coverOpen": self.cover_open, "cutterError": self.cutter_error,
                "offline": self.offline, "error": self.error or self.unrecoverable or self.auto_recoverable}

    def problem(self) -> GtsdkError | None:
        """The catalogue error that stops printing, or None when the printer can print."""
        if self.paper_out or self.paper_end_stop:
            return GtsdkError(ErrorCode.NO_MEDIA, "receipt paper end", data={"paper": "out"})
        if self.cutter_error:
            return GtsdkError(ErrorCode.MEDIA_JAM, "autocutter error (paper jam at the cutter)")
        if self.cover_open:
            return GtsdkError(ErrorCode.HARDWARE_ERROR, "printer cover open")
        if self.unrecoverable or self.auto_recoverable or self.error:
            return GtsdkError(ErrorCode.HARDWARE_ERROR, "printer reports an error")
        if self.offline:
            return GtsdkError(ErrorCode.HARDWARE_ERROR, "printer offline")
        return None


def parse_status(replies: dict[int, int]) -> PrinterStatus:
    """Combine DLE EOT replies {n: byte}; a byte outside the fixed pattern is ``communicationError``."""
    for n, b in replies.items():
        if n not in (1, 2, 3, 4):
            raise GtsdkError(ErrorCode.INVALID_DATA, f"no status function {n}")
        if not 0 <= b <= 255 or not valid_status_byte(b):
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"invalid DLE EOT {n} reply 0x{b & 0xFF:02x}")
    r1, r2, r3, r4 = (replies.get(i, 0x12) for i in (1, 2, 3, 4))
    return PrinterStatus(
        offline=bool(r1 & 0x08),
        cover_open=bool(r2 & 0x04),
        feed_pressed=bool(r2 & 0x08),
        paper_end_stop=bool(r2 & 0x20),
        error=bool(r2 & 0x40),
        cutter_error=bool(r3 & 0x08),
        unrecoverable=bool(r3 & 0x20),
        auto_recoverable=bool(r3 & 0x40),
        paper_near_end=bool(r4 & 0x0C),
        paper_out=bool(r4 & 0x60),
    )


def chunk(segments: Sequence[bytes], size: int) -> list[bytes]:
    """Group whole segments into chunks of about *size* bytes (a segment is never split)."""
    out: list[bytes] = []
    cur = bytearray()
    for s in segments:
        if cur and len(cur) + len(s) > size:
            out.append(bytes(cur))
            cur = bytearray()
        cur += s
    if cur:
        out.append(bytes(cur))
    return out
