"""CUPS/IPP vocabulary mapping (no daemon): printer-state-reasons → catalogue, job options, documents."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtsdk.drivers.cups import codec
from gtsdk.drivers.cups.render import text_to_pdf
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.a4_printer import DocumentFormat, PrintRequest, Sides

PDF = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.mark.parametrize(("reasons", "code"), [
    (["none"], None),
    (["media-empty-warning", "media-needed-warning"], ErrorCode.NO_MEDIA),   # ippeveprinter holding a job
    (["media-empty-error"], ErrorCode.NO_MEDIA),
    (["media-jam-error"], ErrorCode.MEDIA_JAM),
    (["toner-empty-warning"], ErrorCode.CONSUMABLE_EMPTY),
    (["marker-supply-empty-error"], ErrorCode.CONSUMABLE_EMPTY),
    (["door-open-error"], ErrorCode.HARDWARE_ERROR),
    (["cover-open"], ErrorCode.HARDWARE_ERROR),                               # no suffix = error (RFC 8011)
    (["offline-report", "offline"], ErrorCode.NO_DEVICE),
    (["toner-low-warning", "media-low-report"], None),                        # warnings only
    (["cups-waiting-for-job-completed"], None),                               # CUPS' own bookkeeping
    (["media-jam-report"], None),                                             # history on a CUPS queue
    (["media-jam-warning", "media-empty-warning"], ErrorCode.MEDIA_JAM),      # most serious first
])
def test_reasons_map_to_the_catalogue(reasons: list[str], code: ErrorCode | None) -> None:
    assert codec.reasons_code(reasons) == code


def test_status_code_keeps_empty_consumables_and_stopped_queue() -> None:
    assert codec.status_code(["toner-empty-report"]) == ErrorCode.CONSUMABLE_EMPTY
    assert codec.status_code(["media-empty-report"]) is None
    assert codec.status_code([], printer_state=5) == ErrorCode.HARDWARE_ERROR
    msg = "The printer may not exist or is unavailable at this time."
    assert codec.status_code([], printer_state=4, message=msg) == ErrorCode.NO_DEVICE
    assert codec.warnings(["toner-low-warning", "media-jam-error"]) == ["toner-low"]


@given(st.lists(st.sampled_from(["media-empty", "media-jam", "toner-empty", "toner-low", "door-open", "offline",
                                 "cups-x", "none", "bogus"]) | st.text(max_size=30), max_size=6),
       st.lists(st.sampled_from(["", "-report", "-warning", "-error"]), min_size=6, max_size=6),
       st.sampled_from([None, 3, 4, 5]))
def test_any_reasons_give_a_documented_code(words: list[str], suffixes: list[str], state: int | None) -> None:
    reasons = [w + s for w, s in zip(words, suffixes, strict=False)]
    code = codec.status_code(reasons, state)
    assert code in (None, ErrorCode.NO_DEVICE, ErrorCode.MEDIA_JAM, ErrorCode.NO_MEDIA, ErrorCode.CONSUMABLE_EMPTY,
                    ErrorCode.HARDWARE_ERROR)
    blocking = codec.reasons_code(reasons, state, severities=("", "error"))
    if state != 5 and all(codec.severity(r) in ("report", "warning") for r in reasons):
        assert blocking is None  # reports and warnings never refuse a job
    if blocking is not None:
        assert code is not None  # what refuses a job is always visible in the status


def test_job_options_and_documents() -> None:
    req = PrintRequest(document=PDF, copies=2, sides=Sides.LONG_EDGE, color=False, media="A4")
    assert codec.job_options(req) == {"copies": "2", "sides": "two-sided-long-edge",
                                      "print-color-mode": "monochrome", "media": "iso_a4_210x297mm"}
    assert codec.media_name("na_letter_8.5x11in") == "na_letter_8.5x11in"
    with pytest.raises(GtsdkError) as e:
        codec.media_name("B99")
    assert e.value.code == ErrorCode.UNSUPPORTED_DATA and e.value.field == "media"
    codec.check_document(req)
    for doc, fmt in ((b"GIF89a", DocumentFormat.PNG), (b"\x89PNG\r\n\x1a\n", DocumentFormat.JPEG),
                     (b"hello", DocumentFormat.PDF), (b"\xff", DocumentFormat.TEXT)):
        with pytest.raises(GtsdkError) as e:
            codec.check_document(PrintRequest(document=doc, format=fmt))
        assert e.value.code == ErrorCode.INVALID_DATA and e.value.field == "document"
    assert codec.JOB_STATES[9].value == "completed" and codec.JOB_STATES[8].value == "aborted"


def test_text_renders_to_a_paginated_a4_pdf() -> None:
    pdf = text_to_pdf("\n".join(f"第 {i} 行 line {i}" for i in range(120)))
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 3  # 45 lines of 11 pt per page
    for box in re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf):
        assert abs(float(box[0]) - 595.28) < 1 and abs(float(box[1]) - 841.89) < 1  # A4 in points
