"""Image processing (8.4 l, 7.1.2 b): crop, perspective, document detection, deskew, enhancement and
redaction through the terminal, on synthetic scans whose geometry is known."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gtsdk.drivers.opencv_imaging import codec, geometry
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.imaging import Point, Rect, RedactStyle
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators.imaging import PHOTO_CORNERS, scans

PAGE = scans.render_page(scans.FORM_LINES, (620, 877), font_px=26, margin=40)


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    if scans.font_path("cjk") is None:
        pytest.skip("fonts-noto-cjk not installed")
    t = simulated_terminal(tmp_path_factory.mktemp("imaging"), modules=["imaging"])
    with t:
        yield t


def _img(data: bytes) -> Any:
    return codec.decode(data)


def test_simulator_samples(term: SimulatedTerminal) -> None:
    sim = term.simulations["imaging"]
    assert sim.driver == "opencv" and "photo" in sim.control("samples", {})
    s = sim.control("sample", {"name": "photo"})
    assert [tuple(c) for c in s["corners"]] == PHOTO_CORNERS
    assert _img(base64.b64decode(s["image"])).shape == (2000, 1700, 3)
    with pytest.raises(GtsdkError) as ei:
        sim.control("sample", {"name": "nope"})
    assert ei.value.code == ErrorCode.INVALID_DATA


def test_rect_crop_is_exact(term: SimulatedTerminal) -> None:
    src = scans.encode(PAGE, "png")
    r = term.imaging.crop(image=src, rect=Rect(x=40, y=30, width=300, height=120), format="png")
    assert (r.width, r.height) == (300, 120)
    assert np.array_equal(_img(r.image), PAGE[30:150, 40:340])
    # a rectangle running past the edge is clipped to the image
    r = term.imaging.crop(image=src, rect=Rect(x=600, y=800, width=500, height=500), format="png")
    assert (r.width, r.height) == (20, 77)


def _close_to_page(out: Any, page: Any) -> float:
    """Mean absolute difference (grey levels) between *out* and the page scaled to its size."""
    ref = cv2.resize(geometry.gray(page), (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.mean(np.abs(geometry.gray(out).astype(np.int16) - ref.astype(np.int16))))


def test_perspective_crop_by_corners_restores_the_page(term: SimulatedTerminal) -> None:
    corners = [(120.0, 80.0), (760.0, 130.0), (800.0, 1000.0), (70.0, 960.0)]
    photo = scans.place(PAGE, corners, (900, 1100))
    shuffled = [corners[i] for i in (2, 0, 3, 1)]  # any order
    r = term.imaging.crop(image=scans.encode(photo), corners=[Point(x=x, y=y) for x, y in shuffled], format="png")
    assert r.corners is not None and [(p.x, p.y) for p in r.corners] == corners
    out = _img(r.image)
    assert _close_to_page(out, PAGE) < 12
    assert _close_to_page(photo[80:1000, 70:800], PAGE) > 25  # the uncorrected region is far off: the test can fail


def test_auto_document_finds_the_sheet(term: SimulatedTerminal) -> None:
    corners = [(150.0, 90.0), (700.0, 60.0), (760.0, 860.0), (110.0, 900.0)]
    photo = scans.encode(scans.place(PAGE, corners, (880, 1000)))
    det = term.imaging.detect_document(image=photo)
    assert det.found and det.area_ratio > 0.4 and det.corners is not None
    for p, (x, y) in zip(det.corners, corners, strict=True):
        assert abs(p.x - x) <= 6 and abs(p.y - y) <= 6
    assert det.skew_degrees == pytest.approx(np.degrees(np.arctan2(-30, 550)), abs=0.5)
    r = term.imaging.crop(image=photo, auto_document=True, format="png")
    assert _close_to_page(_img(r.image), PAGE) < 14


def test_no_document_is_no_media(term: SimulatedTerminal) -> None:
    blank = scans.encode(np.full((300, 400, 3), 128, np.uint8))
    assert term.imaging.detect_document(image=blank).found is False
    with pytest.raises(GtsdkError) as ei:
        term.imaging.crop(image=blank, auto_document=True)
    assert ei.value.code == ErrorCode.NO_MEDIA


@pytest.mark.parametrize("deg", [4.0, -7.5])
def test_deskew_straightens_the_scan(term: SimulatedTerminal, deg: float) -> None:
    scan = scans.encode(scans.skewed(PAGE, deg))
    r = term.imaging.enhance(image=scan, mode="grayscale")
    assert r.skew_degrees == pytest.approx(deg, abs=0.3)
    assert abs(geometry.skew_angle(_img(r.image))) <= 0.3  # measured again on the output


def test_text_direction_tells_quarter_turns() -> None:
    assert [geometry.text_axis_vertical(geometry.rotate_bound(PAGE, d)) for d in (0, 90, 180, 270)] == [
        False, True, False, True]


def test_fixed_rotation(term: SimulatedTerminal) -> None:
    r = term.imaging.enhance(image=scans.encode(PAGE, "png"), mode="grayscale", rotate="90", deskew=False)
    assert (r.width, r.height, r.rotation) == (877, 620, 90)


def test_print_enhancement_flattens_shadows(term: SimulatedTerminal) -> None:
    shade = np.linspace(0.55, 1.0, PAGE.shape[1])[None, :, None]  # a shadow across the sheet
    dim = (PAGE.astype(np.float64) * shade).astype(np.uint8)
    r = term.imaging.enhance(image=scans.encode(dim, "png"), mode="print", deskew=False)
    out = _img(r.image)
    paper = geometry.gray(PAGE) > 250
    ink = geometry.gray(PAGE) < 60
    assert np.std(geometry.gray(dim)[paper]) > 25  # the input really is shaded
    assert np.percentile(out[..., 0][paper], 5) >= 235  # paper is white everywhere
    assert np.median(out[..., 0][ink]) <= 60  # ink stays dark
    bw = _img(term.imaging.enhance(image=scans.encode(dim, "png"), mode="bw", deskew=False).image)
    assert set(np.unique(bw)) <= {0, 255}


@pytest.mark.parametrize("style", list(RedactStyle))
def test_redact_regions(term: SimulatedTerminal, style: RedactStyle) -> None:
    region = {"x": 30, "y": 140, "width": 400, "height": 50}
    r = term.imaging.redact(image=scans.encode(PAGE, "png"), regions=[Rect(**region)], style=style, format="png")
    out = _img(r.image)
    inside, outside = out[140:190, 30:430], out[200:, :]
    before = PAGE[140:190, 30:430]
    if style == "black":
        assert inside.max() == 0
    else:
        assert np.mean(np.abs(inside.astype(int) - before.astype(int))) > 5
    assert np.array_equal(outside, PAGE[200:, :])
    assert r.redacted is not None and [x.model_dump() for x in r.redacted] == [region]


@functools.lru_cache(maxsize=1)
def _inputs() -> dict[str, bytes]:
    return {"PNG": scans.encode(PAGE, "png"), "BOMB": scans.png_bytes((8000, 8000))}  # 64 MP > the 60 MP limit


@pytest.mark.parametrize("op,req,code,field", [
    ("crop", {"image": b"not an image", "rect": {"x": 0, "y": 0, "width": 1, "height": 1}}, "invalidData", "image"),
    ("crop", {"image": "PNG", "rect": {"x": 700, "y": 0, "width": 10, "height": 10}}, "invalidData", "rect"),
    ("crop", {"image": "PNG", "rect": {"x": -1, "y": 0, "width": 10, "height": 10}}, "invalidData", "rect.x"),
    ("crop", {"image": "PNG"}, "invalidData", "rect"),
    ("crop", {"image": "PNG", "auto_document": True, "rect": {"x": 0, "y": 0, "width": 5, "height": 5}},
     "invalidData", "rect"),
    ("crop", {"image": "PNG", "corners": [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 10}]},
     "invalidData", "corners"),
    ("crop", {"image": "PNG", "corners": [{"x": 0, "y": 0}, {"x": 5000, "y": 0}, {"x": 10, "y": 10},
                                          {"x": 0, "y": 10}]}, "invalidData", "corners"),
    ("crop", {"image": "PNG", "corners": [{"x": 0, "y": 0}, {"x": 0, "y": 0}, {"x": 0, "y": 0}, {"x": 0, "y": 0}]},
     "invalidData", "corners"),
    ("crop", {"image": "BOMB", "rect": {"x": 0, "y": 0, "width": 1, "height": 1}}, "payloadTooLarge", "image"),
    ("crop", {"image": "PNG", "rect": {"x": 0, "y": 0, "width": 1, "height": 1}, "format": "gif"},
     "invalidData", "format"),
    ("enhance", {"image": "PNG", "mode": "sepia"}, "invalidData", "mode"),
    ("enhance", {"image": "PNG", "rotate": "45"}, "invalidData", "rotate"),
    ("enhance", {"image": b""}, "invalidData", "image"),
    ("redact", {"image": "PNG"}, "invalidData", "regions"),
    ("redact", {"image": "PNG", "patterns": ["("]}, "invalidData", "patterns.0"),
    ("redact", {"image": "PNG", "regions": [{"x": 9999, "y": 0, "width": 5, "height": 5}]}, "invalidData",
     "regions.0"),
    ("detect_document", {"image": b"GIF89a" + bytes(20)}, "invalidData", "image"),
    ("ocr", {"image": "PNG", "min_confidence": 2}, "invalidData", "minConfidence"),
])
def test_bad_input(term: SimulatedTerminal, op: str, req: dict[str, Any], code: str, field: str) -> None:
    img = _inputs()
    req = {k: img.get(v, v) if isinstance(v, str) else v for k, v in req.items()}
    with pytest.raises(GtsdkError) as ei:
        term.call("imaging", op, req)
    assert ei.value.code == code
    assert ei.value.field is not None and ei.value.field.replace("_", "").lower() == field.replace("_", "").lower()
    assert term.imaging.status().state == "online"  # bad input never takes the module down


def test_image_byte_limit(term: SimulatedTerminal) -> None:
    with pytest.raises(GtsdkError) as ei:
        term.imaging.crop(image=b"\xff" * (30 * 1024 * 1024 + 1), auto_document=True)
    assert ei.value.code == ErrorCode.INVALID_DATA and ei.value.field == "image"


def test_sample_saved(term: SimulatedTerminal, tmp_path: Path) -> None:
    out = term.simulations["imaging"].control("sample", {"name": "skewed", "degrees": 3, "save": True})
    assert Path(out["path"]).stat().st_size > 10_000 and out["degrees"] == 3.0
