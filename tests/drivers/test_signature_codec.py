"""Wacom STU report codec and ISO/IEC 19794-7 encoder: layouts from docs/protocols.md §6, round trips and
hypothesis over every parser (clause 8.4 c)."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.drivers.wacom_stu import render as R
from gtsdk.errors import ErrorCode, GtsdkError


def test_pen_report_layout() -> None:
    # x u16 BE at data offset 2, y at 4 (report id first): docs/protocols.md §6.2
    rep = K.encode_pen(K.PenSample(True, True, 0x3FF, 0x1234, 0x0567))
    assert rep[0] == 0x01 and rep[3:5] == b"\x12\x34" and rep[5:7] == b"\x05\x67"
    assert ((rep[1] & 0x0F) << 8 | rep[2]) == 0x3FF
    timed = K.encode_pen(K.PenSample(True, False, 0, 1, 2, time=0xBEEF, seq=7))
    assert timed[0] == 0x34 and timed[7:9] == b"\xbe\xef" and timed[9:11] == b"\x00\x07"
    assert K.decode_pen(bytes([0x08, 0, 0])) is None  # not pen data


def test_capability_and_information_reports() -> None:
    cap = K.Capability(10800, 6480, 1023, 800, 480, 200)
    raw = cap.encode()
    assert raw[1:3] == struct.pack(">H", 10800) and raw[7:9] == struct.pack(">H", 800)  # BE, as read in §6.2
    assert K.decode_capability(raw) == cap
    info = K.decode_information(K.Information("STU-540", "1.2.3.4").encode())
    assert info == K.Information("STU-540", "1.2.3.4")
    with pytest.raises(GtsdkError):
        K.decode_capability(bytes([K.CAPABILITY]) + bytes(11))  # zero sizes


def test_host_reports() -> None:
    assert K.clear_screen() == b"\x20\x00"
    assert K.inking(True) == b"\x21\x01"
    assert K.writing_area(10, 20, 790, 400) == b"\x2a" + struct.pack("<HHHH", 10, 20, 790, 400)
    reps = list(K.image_reports(bytes(600)))
    assert reps[0] == b"\x25\x04" and reps[-1] == b"\x27\x00"
    assert [len(K.decode_image_data(r)) for r in reps[1:-1]] == [253, 253, 94]
    assert reps[1][1:3] == b"\xfd\x00"  # length u16 LE, as the WebHID driver sends [len, 0]


def test_scaling_value_encoding() -> None:
    # 1000 = 1.953125 × 2^9 → exponent 9+16 = 25, fraction 0.953125 × 2048 = 1952 → 0xCFA0
    assert K.encode_scaling(1000.0) == 0xCFA0
    for v in (0.5, 1.0, 100.0, 123.456, 40000.0):
        assert abs(K.decode_scaling(K.encode_scaling(v)) - v) / v < 1e-3


def test_iso7_record() -> None:
    pts = [K.IsoPoint(100, 200, 0, 0, 0), K.IsoPoint(110, 205, 5, 512, 1), K.IsoPoint(120, 210, 10, 300, 1)]
    rec = K.encode_iso7(pts, x_per_mm=100, y_per_mm=100, max_pressure=1023)
    assert rec[:8] == b"SDI\x00 10\x00"
    incl = struct.unpack(">H", rec[8:10])[0]
    assert incl == (1 << 15) | (1 << 14) | (1 << 8) | (1 << 6) | (1 << 5)
    back = K.decode_iso7(rec)
    assert back.channels == [15, 14, 8, 6, 5]
    assert abs(back.attributes[15][7] - 100) < 0.1 and back.attributes[6] == {6: 0.0, 5: 1023.0}
    assert [(p[15], p[14], p[8], p[6], p[5]) for p in back.points] == [(p.x, p.y, p.t, p.f, p.s) for p in pts]
    # X is stored offset by 32768 (signed channel), pressure is not
    body = rec[-30:]
    assert struct.unpack(">H", body[:2])[0] == 100 + 32768


def test_signature_png_is_transparent_and_cropped() -> None:
    png = R.signature_png([[(100, 100, 0.2), (150, 120, 0.9), (200, 100, 0.5)]])
    im = Image.open(io.BytesIO(png))
    assert im.mode == "RGBA"
    assert im.size[0] < 130 and im.size[1] < 60  # cropped to the ink, not the pad screen
    corner = im.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[3] == 0
    assert im.getchannel("A").getextrema()[1] == 255


def test_layout_buttons() -> None:
    lay = R.Layout.for_screen(800, 480)
    assert [lay.button_at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in lay.buttons.values()] == list(R.BUTTONS)
    assert lay.button_at(400, 200) is None and lay.in_box(400, 200)


@given(prox=st.booleans(), tip=st.booleans(), p=st.integers(0, 4095), x=st.integers(0, 65535),
       y=st.integers(0, 65535), t=st.one_of(st.none(), st.integers(0, 65535)), seq=st.integers(0, 65535))
def test_pen_roundtrip(prox: bool, tip: bool, p: int, x: int, y: int, t: int | None, seq: int) -> None:
    s = K.PenSample(prox, tip, p, x, y, t, seq if t is not None else None)
    assert K.decode_pen(K.encode_pen(s)) == s


@given(data=st.binary(max_size=16))
def test_report_parsers_on_random_input(data: bytes) -> None:
    for fn in (K.decode_pen, K.decode_capability, K.decode_information, K.decode_serial, K.decode_writing_area,
               K.decode_image_data):
        try:
            fn(data)
        except GtsdkError as e:
            assert e.code == ErrorCode.COMMUNICATION_ERROR


@given(data=st.binary(max_size=80))
def test_iso7_decode_random_and_truncated(data: bytes) -> None:
    rec = K.encode_iso7([K.IsoPoint(1, 2, 3, 4, 1)] * 3, x_per_mm=50, y_per_mm=50, max_pressure=1023)
    for blob in (data, b"SDI\x00 10\x00" + data, rec[: len(data) % len(rec)]):
        try:
            K.decode_iso7(blob)
        except GtsdkError as e:
            assert e.code == ErrorCode.INVALID_DATA


@given(pts=st.lists(st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767), st.integers(0, 65535),
                              st.integers(0, 65535), st.integers(0, 1)), max_size=30))
def test_iso7_roundtrip(pts: list[tuple[int, int, int, int, int]]) -> None:
    rec = K.encode_iso7([K.IsoPoint(*p) for p in pts], x_per_mm=100, y_per_mm=100, max_pressure=1023)
    back = K.decode_iso7(rec)
    assert [(q[15], q[14], q[8], q[6], q[5]) for q in back.points] == pts


def test_pad_clock_unwraps_u16_time_stamps() -> None:
    from gtsdk.drivers.wacom_stu.driver import _Clock

    c = _Clock()
    assert [c.at(t) for t in (65530, 65535, 3, 8)] == [65530.0, 65535.0, 65539.0, 65544.0]
