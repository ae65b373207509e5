"""ESC/POS codec: golden bytes for every command (sources in drivers/escpos/codec.py and
docs/protocols.md §4), cross-checked against python-escpos' own encoder,
plus property tests for the status parser and the simulator's stream parser."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from gtsdk.drivers.escpos import codec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.receipt_printer import Align, Barcode, Feed, Image, PrintRequest, QrCode, Text
from gtsdk.simulators.receipt_printer.parser import EscPosParser

escpos_printer = pytest.importorskip("escpos.printer")


def dummy() -> Any:
    return escpos_printer.Dummy(profile="TM-T88III")


# ---- golden bytes (docs/protocols.md §4 and python-escpos constants.py) ---------------------------------
GOLDEN = [
    (codec.INIT, "1b40"),                                    # ESC @
    (codec.CHINESE_ON, "1c26"),                              # FS &
    (codec.CHINESE_OFF, "1c2e"),                             # FS .
    (codec.CLEAR_BUFFERS, "10140801031401060208"),           # DLE DC4 fn=8 (Epson)
    (codec.code_page(0), "1b7400"),                          # ESC t 0
    (codec.align(Align.LEFT), "1b6100"),
    (codec.align(Align.CENTER), "1b6101"),
    (codec.align(Align.RIGHT), "1b6102"),
    (codec.bold(True), "1b4501"),
    (codec.bold(False), "1b4500"),
    (codec.underline(True), "1b2d01"),
    (codec.underline(False), "1b2d00"),
    (codec.char_size(1, 1), "1d2100"),
    (codec.char_size(2, 2), "1d2111"),
    (codec.char_size(8, 1), "1d2170"),
    (codec.feed_lines(3), "1b6403"),
    (codec.cut(False), "1d5600"),                            # GS V 0 full
    (codec.cut(True), "1d5601"),                             # GS V 1 partial
    (codec.cut(False, 6), "1b64061d5600"),                   # python-escpos cut()
    (codec.status_request(1), "100401"),
    (codec.status_request(2), "100402"),
    (codec.status_request(3), "100403"),
    (codec.status_request(4), "100404"),
    # QR: model 2, size 6, EC M, store "hello", print (docs/protocols.md §4, python-escpos qr(native=True))
    (codec.qr("hello", 6, "M"),
     "1d286b0400314132001d286b03003143061d286b03003145311d286b080031503068656c6c6f1d286b0300315130"),
    # barcodes: GS h 80, GS w 3, GS H 2, GS k m n data (format B)
    (codec.barcode("4006381333931", "EAN13"), "1d68501d77031d48021d6b430d34303036333831333333393331"),
    (codec.barcode("AB{1", "CODE128"), "1d68501d77031d48021d6b49077b4241427b7b31"),
    (codec.barcode("CODE 39", "CODE39", height=40), "1d68281d77031d48021d6b4507434f4445203339"),
    # raster 16×2, top-left dot black: GS v 0 m=0 xL=2 xH=0 yL=2 yH=0 (Daisy 1200: MSB = leftmost)
    (codec.raster(b"\x80\x00\x00\x00", 2, 2), "1d76300002000200" + "80000000"),
]


@pytest.mark.parametrize(("got", "want"), GOLDEN, ids=[w[:12] + str(i) for i, (_, w) in enumerate(GOLDEN)])
def test_golden_bytes(got: bytes, want: str) -> None:
    assert got.hex() == want


def test_chinese_text_is_gb18030() -> None:
    # 中文 in GB2312/GB18030: D6 D0 CE C4; a 4-byte GB18030 code for a character outside GB2312 (€ = A2 E3)
    assert codec.encode_text("中文", chinese=True) == bytes.fromhex("d6d0cec4")
    assert codec.encode_text("€", chinese=True) == bytes.fromhex("a2e3")
    assert codec.encode_text("𠀀", chinese=True) == bytes.fromhex("9532 8236".replace(" ", ""))
    with pytest.raises(GtsdkError) as e:
        codec.encode_text("中文", chinese=False)
    assert e.value.code == ErrorCode.INVALID_DATA
    with pytest.raises(GtsdkError) as e:
        codec.encode_text("a\x1b@b", chinese=True)  # no command injection through text
    assert e.value.field == "text"


# ---- the same bytes as python-escpos (a client we did not write) -----------------------------------
def test_matches_python_escpos_styles() -> None:
    p = dummy()
    p.set(align="center")
    assert p.output == codec.align(Align.CENTER)
    p = dummy()
    p.set(bold=True, underline=1)
    assert p.output == codec.bold(True) + codec.underline(True)
    p = dummy()
    p.set(custom_size=True, width=2, height=3)
    assert p.output == codec.char_size(2, 3)


def test_matches_python_escpos_qr_cut_image_barcode() -> None:
    from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_M

    for text, size, ec, ours in (("hello", 6, QR_ECLEVEL_M, "M"), ("政务 https://x.cn/?a=1", 3, QR_ECLEVEL_H, "H")):
        p = dummy()
        p.qr(text, native=True, size=size, ec=ec)
        assert p.output == codec.qr(text, size, ours)
    p = dummy()
    p.cut()
    assert p.output == codec.cut(False, 6)
    p = dummy()
    p.cut(mode="PART")
    assert p.output == codec.cut(True, 6)
    im = PILImage.new("1", (16, 2), 1)
    im.putpixel((0, 0), 0)
    im.putpixel((9, 1), 0)
    p = dummy()
    p.image(im)
    assert p.output == codec.image_commands(im, 576)
    p = dummy()
    p.barcode("{BHELLO", "CODE128", function_type="B")
    assert p.output.endswith(b"\x1dk" + bytes([73, 7]) + b"{BHELLO")
    assert codec.barcode("HELLO", "CODE128").endswith(b"\x1dk" + bytes([73, 7]) + b"{BHELLO")


# ---- images ------------------------------------------------------------------------------------------
def _png(img: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_dither_any_picture() -> None:
    grad = PILImage.linear_gradient("L").resize((100, 40))  # 100 wide: padded to 13 bytes
    bits, wb, h = codec.dither(_png(grad.convert("RGB")), 576)
    assert (wb, h) == (13, 40)
    black = sum(bin(b).count("1") for b in bits)
    assert 0.3 < black / (100 * 40) < 0.7  # a mid-grey gradient dithers to about half black
    # a wide RGBA picture is scaled down to the paper and transparency becomes white paper
    rgba = PILImage.new("RGBA", (1200, 10), (0, 0, 0, 0))
    bits, wb, h = codec.dither(_png(rgba), 576)
    assert (wb, h) == (72, 5) and not any(bits)
    bands = codec.image_bands(_png(PILImage.new("L", (64, 600), 0)), 576, band=256)
    assert [b[6] | b[7] << 8 for b in bands] == [256, 256, 88]
    with pytest.raises(GtsdkError) as e:
        codec.dither(b"not a picture", 576)
    assert e.value.code == ErrorCode.INVALID_DATA


def test_barcode_validation() -> None:
    for data, sym in (("12345", "EAN13"), ("abc", "CODE39"), ("123", "ITF"), ("中文", "CODE128"), ("", "CODE128")):
        with pytest.raises(GtsdkError) as e:
            codec.barcode(data, sym)
        assert e.value.code == ErrorCode.INVALID_DATA, (data, sym)


# ---- status --------------------------------------------------------------------------------------------
def _code(status: codec.PrinterStatus) -> str:
    problem = status.problem()
    assert problem is not None
    return problem.code


def test_status_golden_replies() -> None:
    ok = codec.parse_status({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12})
    assert ok.problem() is None and ok.paper == "ok"
    assert codec.parse_status({4: 0x1E}).paper == "nearEnd"            # python-escpos LOWPAPER mask 30
    out = codec.parse_status({1: 0x1A, 2: 0x32, 4: 0x7E})              # paper out (docs/protocols.md DERIVED)
    assert out.paper == "out" and out.offline and _code(out) == ErrorCode.NO_MEDIA
    assert _code(codec.parse_status({2: 0x16})) == ErrorCode.HARDWARE_ERROR   # cover open
    assert _code(codec.parse_status({3: 0x1A})) == ErrorCode.MEDIA_JAM        # autocutter error
    assert _code(codec.parse_status({1: 0x1A})) == ErrorCode.HARDWARE_ERROR   # offline
    with pytest.raises(GtsdkError) as e:
        codec.parse_status({1: 0x00})
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR


@given(st.dictionaries(st.integers(1, 4), st.integers(0, 255), min_size=1, max_size=4))
def test_status_any_byte(replies: dict[int, int]) -> None:
    try:
        s = codec.parse_status(replies)
    except GtsdkError as e:
        assert e.code == ErrorCode.COMMUNICATION_ERROR
        assert not all(codec.valid_status_byte(b) for b in replies.values())
    else:
        assert all(codec.valid_status_byte(b) for b in replies.values())
        assert s.paper in ("ok", "nearEnd", "out")


# ---- documents → simulator parser (round trip) and parser robustness ------------------------------------
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=40)
text_el = st.builds(Text, text=printable, align=st.sampled_from(list(Align)), width=st.integers(1, 8),
                    height=st.integers(1, 8), bold=st.booleans(), underline=st.booleans())
qr_el = st.builds(QrCode, data=printable, size=st.integers(1, 16), error_correction=st.sampled_from("LMQH"))
feed_el = st.builds(Feed, lines=st.integers(1, 10))


def _texts(stream: bytes, splits: list[int]) -> tuple[list[str], list[bytes]]:
    p = EscPosParser()
    cmds = []
    last = 0
    for s in [*sorted(set(splits)), len(stream)]:
        cmds += p.feed(stream[last:s])
        last = s
    assert not p.buf
    lines, qrs, cur = [], [], b""
    for c in cmds:
        if c.name == "text":
            cur += c.raw
        elif c.name == "LF":
            lines.append(cur.decode("gb18030"))
            cur = b""
        elif c.name == "GS (" and c.raw[6] == 80:
            qrs.append(c.raw[8:])
    return lines, qrs


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(text_el, qr_el, feed_el), min_size=1, max_size=8), st.lists(st.integers(0, 4000)))
def test_documents_round_trip_through_the_parser(elements: list[Any], splits: list[int]) -> None:
    try:
        req = PrintRequest(elements=elements)
    except ValueError:
        return
    enc = codec.Encoder()
    stream = enc.init() + b"".join(enc.document(req.elements))
    lines, qrs = _texts(stream, splits)
    want_lines = [ln for e in req.elements if isinstance(e, Text) for ln in e.text.split("\n")]
    assert [ln for ln in lines if ln] == [ln for ln in want_lines if ln]
    assert qrs == [e.data.encode() for e in req.elements if isinstance(e, QrCode)]


def _merged(cmds: list[Any]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for c in cmds:
        if out and c.name == "text" and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + c.raw)
        else:
            out.append((c.name, c.raw))
    return out


@settings(max_examples=200)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_parser_never_raises_and_ignores_chunking(data: bytes, splits: list[int]) -> None:
    whole = EscPosParser().feed(data)
    p = EscPosParser()
    parts = []
    last = 0
    for s in [*sorted(set(splits)), len(data)]:
        parts += p.feed(data[last:max(last, s)])
        last = max(last, s)
    assert _merged(parts) == _merged(whole)  # text runs may split at chunk edges; commands may not
    assert b"".join(c.raw for c in whole) + bytes(p.buf) == data


def test_element_errors_are_documented() -> None:
    enc = codec.Encoder()
    with pytest.raises(GtsdkError) as e:
        enc.element(Image(data=b"\x89PNG broken"))
    assert e.value.code == ErrorCode.INVALID_DATA
    with pytest.raises(GtsdkError) as e:
        enc.element(Barcode(data="12", symbology="EAN8"))
    assert e.value.code == ErrorCode.INVALID_DATA
    assert codec.chunk([b"a" * 10, b"b" * 10, b"c" * 30], 25) == [b"a" * 10 + b"b" * 10, b"c" * 30]
