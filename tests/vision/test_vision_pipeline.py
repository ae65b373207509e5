"""detect → landmarks → align → embed → compare on real photos, and bad input → documented codes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import _vision_fixtures as _vf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.vision.image import decode

engine = _vf.engine
model_dir = _vf.model_dir
pairs = _vf.pairs


def _emb(engine: Any, path: Path) -> Any:
    img = decode(path.read_bytes())
    return engine.embed(img, engine.single_face(img))


def test_same_person_matches_and_others_do_not(engine: Any, pairs: Path) -> None:
    # master.csv: img20/img21 are labelled the same person, img1/img3 different people
    same = engine.compare_embeddings(_emb(engine, pairs / "img20.jpg"), _emb(engine, pairs / "img21.jpg"))
    other = engine.compare_embeddings(_emb(engine, pairs / "img1.jpg"), _emb(engine, pairs / "img3.jpg"))
    assert same.suggested_match and same.distance < 0.6 and same.similarity > 0.5
    assert not other.suggested_match and other.distance > 0.6 and other.similarity < 0.5
    assert same.threshold == other.threshold == 0.6 and same.model == "dlib_resnet_v1"


def test_id_card_sized_photo_still_matches(engine: Any, pairs: Path) -> None:
    import cv2

    img = decode((pairs / "img20.jpg").read_bytes())
    f = engine.single_face(img)
    b = f.detection.box
    cx, cy, w = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0]
    crop = img[int(max(0, cy - 1.1 * w)):int(cy + 1.2 * w), int(max(0, cx - 0.95 * w)):int(cx + 0.95 * w)]
    small = cv2.resize(crop, (102, 126), interpolation=cv2.INTER_AREA)
    _, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 60])
    card = decode(jpg.tobytes())
    c = engine.compare_embeddings(engine.embed(card, engine.single_face(card)), _emb(engine, pairs / "img21.jpg"))
    assert c.suggested_match


def test_alignment_chip_and_landmarks(engine: Any, pairs: Path) -> None:
    from gtsdk.vision.pipeline import align

    img = decode((pairs / "img1.jpg").read_bytes())
    f = engine.single_face(img)
    assert f.landmarks.shape == (468, 3) and f.presence > 0.9
    p5 = f.points5(engine.crop)
    assert p5[0, 0] > p5[2, 0]  # subject's left eye (dlib part 0) is on the image right
    chip = align(img, p5, engine.crop)
    assert chip.shape == (150, 150, 3)
    assert 0.2 < f.ear() < 0.45
    yaw, _pitch = f.pose()
    assert abs(yaw) < 20


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat)))


def _jpeg(img: Any) -> bytes:
    import cv2

    return bytes(cv2.imencode(".jpg", img)[1].tobytes())


def test_bad_input_codes(engine: Any, pairs: Path) -> None:
    import cv2

    cases: list[tuple[bytes, str]] = [
        (b"", ErrorCode.INVALID_DATA),
        (b"\xff\xd8\xff\xe0garbage" * 10, ErrorCode.INVALID_DATA),
        (_png_header(20000, 20000), ErrorCode.PAYLOAD_TOO_LARGE),
        (b"\x00" * (17 * 1024 * 1024), ErrorCode.PAYLOAD_TOO_LARGE),
        (_jpeg(np.full((16, 16, 3), 128, np.uint8)), ErrorCode.UNSUPPORTED_DATA),
    ]
    for data, code in cases:
        with pytest.raises(GtsdkError) as ei:
            decode(data, "reference")
        assert ei.value.code == code and ei.value.field == "reference"
    blank = decode(_jpeg(np.full((240, 320, 3), 128, np.uint8)))
    with pytest.raises(GtsdkError) as ei:
        engine.single_face(blank, "reference")
    assert ei.value.code == ErrorCode.INVALID_DATA and "no face" in ei.value.detail
    with pytest.raises(GtsdkError) as ei:
        engine.single_face(blank, live=True)
    assert ei.value.code == ErrorCode.NO_MEDIA
    face = cv2.resize(decode((pairs / "img1.jpg").read_bytes()), (320, 240))
    two = np.concatenate([face, face], axis=1)
    with pytest.raises(GtsdkError) as ei:
        engine.single_face(two, "reference")
    assert ei.value.code == ErrorCode.INVALID_DATA and "more than one" in ei.value.detail
    with pytest.raises(GtsdkError) as ei:
        engine.single_face(two, live=True)
    assert ei.value.code == ErrorCode.USER_ERROR


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        img = decode(data)
    except GtsdkError as e:
        assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.UNSUPPORTED_DATA, ErrorCode.PAYLOAD_TOO_LARGE)
    else:
        assert img.ndim == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=4000), pos=st.integers(min_value=0, max_value=3999),
       x=st.integers(min_value=1, max_value=255))
def test_truncated_or_corrupted_jpeg(pairs: Path, cut: int, pos: int, x: int) -> None:
    raw = bytearray((pairs / "img1.jpg").read_bytes()[: 600 + cut * 10])
    if pos < len(raw):
        raw[pos] ^= x
    try:
        decode(bytes(raw))
    except GtsdkError as e:
        assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.UNSUPPORTED_DATA)


def test_compare_semantics() -> None:
    from gtsdk.vision.pipeline import compare

    a = np.zeros(128, np.float32)
    b = a.copy()
    b[0] = 0.3
    c = compare(a, b, "l2", 0.6)
    assert c.distance == pytest.approx(0.3) and c.similarity == pytest.approx(0.75) and c.suggested_match
    b[0] = 0.6
    assert compare(a, b, "l2", 0.6).similarity == pytest.approx(0.5)
    b[0] = 0.61
    assert not compare(a, b, "l2", 0.6).suggested_match
    assert compare(a, a, "l2", 0.6).similarity == 1.0


def test_jpeg2000_portrait_as_in_dg2(engine: Any, pairs: Path) -> None:
    """ICAO 9303 DG2 portraits are often JPEG 2000: the reference may be given as such."""
    import cv2

    img = cv2.resize(decode((pairs / "img20.jpg").read_bytes()), (0, 0), fx=0.5, fy=0.5)
    ok, jp2 = cv2.imencode(".jp2", img)
    assert ok and jp2.tobytes()[4:8] == b"jP  "
    ref = decode(jp2.tobytes(), "reference")
    c = engine.compare_embeddings(engine.embed(ref, engine.single_face(ref)), _emb(engine, pairs / "img21.jpg"))
    assert c.suggested_match
