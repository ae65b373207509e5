"""Imaging codec (8.4 l): image decoding limits, corner ordering, MRZ reading from OCR text."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.opencv_imaging import codec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.imaging import scans

# ICAO Doc 9303 part 4 Appendix A (TD3) and part 5 Appendix A (TD1) specimens
TD3 = list(scans.SPECIMEN_MRZ)
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]


def test_check_digits_golden() -> None:
    # ICAO 9303-3 4.9 worked example and the specimen fields
    assert codec.check_digit("520727") == "3"
    assert codec.check_digit("L898902C3") == "6"
    assert codec.check_digit("D23145890") == "7"


def test_td3_specimen() -> None:
    m = codec.parse_mrz(["护照 PASSPORT", *TD3])
    assert m is not None and m["valid"] and m["format"] == "TD3"
    assert (m["document_number"], m["birth_date"], m["expiry_date"], m["sex"], m["surname"], m["given_names"]) == (
        "L898902C3", "740812", "120415", "F", "ERIKSSON", "ANNA MARIA")


def test_td1_specimen() -> None:
    m = codec.parse_mrz(TD1)
    assert m is not None and m["valid"] and m["format"] == "TD1"
    assert (m["document_number"], m["nationality"], m["surname"]) == ("D23145890", "UTO", "ERIKSSON")


def test_ocr_confusions_are_undone() -> None:
    # what PP-OCR really returned for the rendered specimen ("UT0"), plus other usual misreads
    l2 = "L898902C36UT07408122F12O4159ZE184226B<<<<<10"  # O for 0 in the expiry date
    l1 = "P<UTOERIKSSONくくANNA<MARIA<<<<<<<<<<<<<<"  # 'く' for '<', trailing fillers lost
    m = codec.parse_mrz([l1, l2])
    assert m is not None and m["valid"], m
    assert m["lines"] == TD3


def test_wrong_digit_is_reported_not_hidden() -> None:
    bad = TD3[1][:13] + "7408132" + TD3[1][20:]  # birth date changed, check digit kept
    m = codec.parse_mrz([TD3[0], bad])
    assert m is not None and m["valid"] is False and m["error"] == "check digit mismatch"
    assert codec.parse_mrz(["政务服务", "hello"]) is None


def test_same_result_as_the_travel_document_parser() -> None:
    mrz = pytest.importorskip("gtsdk.drivers.icao_pcsc.mrz")
    m = codec.parse_mrz(["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<", "L898902C36UT07408122F1204159ZE184226B<<<<<10"])
    assert m is not None
    theirs = mrz.parse("\n".join(m["lines"]))
    assert (theirs.document_number, theirs.birth, theirs.expiry) == (m["document_number"], m["birth_date"],
                                                                     m["expiry_date"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<くO ", max_size=50), max_size=5))
def test_parse_mrz_never_raises(lines: list[str]) -> None:
    m = codec.parse_mrz(lines)
    assert m is None or isinstance(m["valid"], bool)


def test_decode_rejects_non_images_and_bombs() -> None:
    for data in (b"", b"hello", b"\x89PNG\r\n\x1a\n" + bytes(30), scans.encode(np.zeros((20, 20, 3), np.uint8))[:60]):
        with pytest.raises(GtsdkError) as ei:
            codec.decode(data)
        assert ei.value.code == ErrorCode.INVALID_DATA and ei.value.field == "image"
    with pytest.raises(GtsdkError) as ei:
        codec.decode(scans.png_bytes((8000, 8000)))  # 64 MP announced in a small file
    assert ei.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    with pytest.raises(GtsdkError) as ei:
        codec.decode(scans.png_bytes((30000, 30000)), max_pixels=10**9)  # Pillow's own bomb guard
    assert ei.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    img = codec.decode(scans.encode(np.full((30, 40, 3), 200, np.uint8), "png"))
    assert img.shape == (30, 40, 3)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_decode_garbage_gives_documented_codes(data: bytes) -> None:
    try:
        codec.decode(data, max_pixels=1_000_000)
    except GtsdkError as e:
        assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.PAYLOAD_TOO_LARGE)


@settings(max_examples=80, deadline=None)
@given(st.floats(10, 500), st.floats(10, 500), st.floats(-40, 40), st.floats(100, 400), st.floats(100, 400))
def test_order_corners_any_permutation(w: float, h: float, deg: float, cx: float, cy: float) -> None:
    a = np.radians(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    rect = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot.T + [cx, cy]
    ref = codec.order_corners(rect)
    for perm in itertools.permutations(range(4)):
        assert np.allclose(codec.order_corners(rect[list(perm)]), ref)
    assert np.allclose(ref, rect, atol=1e-3) or abs(deg) > 44  # tl, tr, br, bl for a modest tilt
    qw, qh = codec.quad_size(ref)
    assert abs(qw - w) <= 1 and abs(qh - h) <= 1
