"""OCR (7.1.3 c 识别) with the PP-OCRv4 ONNX models of rapidocr-onnxruntime: rendered Chinese + ASCII text,
boxes where the text was drawn, a passport MRZ, orientation fix and redaction by pattern."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from gtsdk.drivers.opencv_imaging import codec, geometry
from gtsdk.runtime import Terminal
from gtsdk.simulated import simulated_terminal
from gtsdk.simulators.imaging import scans

pytest.importorskip("rapidocr_onnxruntime")

FONT_PX, MARGIN, GAP = 26, 40, 1.8
PAGE = scans.render_page(scans.FORM_LINES, (620, 420), font_px=FONT_PX, margin=MARGIN, line_gap=GAP)


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terminal]:
    if scans.font_path("cjk") is None or scans.font_path("mono") is None:
        pytest.skip("fonts-noto-cjk / DejaVu not installed")
    t = simulated_terminal(tmp_path_factory.mktemp("ocr"), modules=["imaging"])
    with t:
        yield t


def test_reads_chinese_and_ascii_with_boxes(term: Terminal) -> None:
    r = term.imaging.ocr(image=scans.encode(PAGE, "png"))
    texts = [ln.text.replace(" ", "") for ln in r.lines]
    assert texts[0] == "政务服务事项申请表"
    assert "申请人：张三ABC-123" in texts
    assert "联系电话：13800138000" in texts
    assert all(0.5 <= ln.confidence <= 1 for ln in r.lines)
    # each line's box sits where render_page drew it
    for i, want in enumerate(scans.FORM_LINES):
        line = next(ln for ln in r.lines if ln.text.replace(" ", "") == want.replace(" ", ""))
        top = MARGIN + int(FONT_PX * GAP) * i
        ys = [p.y for p in line.box]
        assert top - 6 <= min(ys) <= top + FONT_PX // 2 and max(ys) <= top + FONT_PX * 1.6
        assert abs(min(p.x for p in line.box) - MARGIN) <= 8


def test_reads_the_mrz_of_a_passport_page(term: Terminal) -> None:
    page = scans.passport_page(width=900)
    r = term.imaging.ocr(image=scans.encode(page), mrz=True)
    assert r.mrz is not None and r.mrz.format == "TD3" and r.mrz.valid, r.mrz
    assert (r.mrz.document_number, r.mrz.birth_date, r.mrz.expiry_date, r.mrz.nationality) == (
        "L898902C3", "740812", "120415", "UTO")
    assert r.mrz.lines == list(scans.SPECIMEN_MRZ)


def test_upside_down_page_is_turned(term: Terminal) -> None:
    upside = geometry.rotate_bound(PAGE, 180)
    r = term.imaging.ocr(image=scans.encode(upside, "png"), rotate="auto")
    assert r.rotation == 180
    assert r.lines[0].text == "政务服务事项申请表"


def test_redact_by_pattern_covers_the_phone_number(term: Terminal) -> None:
    r = term.imaging.redact(image=scans.encode(PAGE, "png"), patterns=[r"1[3-9]\d{9}"], format="png")
    assert r.redacted is not None and len(r.redacted) == 1
    box = r.redacted[0]
    top = MARGIN + int(FONT_PX * GAP) * 3
    ink_rows = np.nonzero((geometry.gray(PAGE)[top:top + int(FONT_PX * GAP)] < 128).any(axis=1))[0] + top
    ink_cols = np.nonzero((geometry.gray(PAGE)[top:top + int(FONT_PX * GAP)] < 128).any(axis=0))[0]
    assert box.y <= ink_rows.min() and box.y + box.height > ink_rows.max()  # the whole line is covered
    assert box.x <= ink_cols.min() and box.x + box.width > ink_cols.max()
    out = codec.decode(r.image)
    assert out[box.y:box.y + box.height, box.x:box.x + box.width].max() == 0
    assert np.array_equal(out[:box.y - 1], PAGE[:box.y - 1])  # the rest is untouched
