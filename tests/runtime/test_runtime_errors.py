"""The error catalogue: stable codes, both languages, vendor codes, docs in sync."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from gtsdk.errors import ErrorCode, GtsdkError, base_code, catalogue, info, markdown_table, register_vendor_code

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_code_has_both_languages_and_an_http_status() -> None:
    codes = {i.code for i in catalogue()}
    assert {c.value for c in ErrorCode} <= codes
    for i in catalogue():
        assert i.zh and i.en and 200 <= i.http_status < 600


def test_docs_table_matches_the_catalogue() -> None:
    importlib.import_module("gtsdk.fleet.errors")  # the packages that register namespaced codes
    importlib.import_module("gtsdk.updates.errors")
    assert markdown_table() in DOC.read_text(encoding="utf-8"), "run: python -m gtsdk.errors (docs/errors.md)"


def test_messages_and_field() -> None:
    e = GtsdkError(ErrorCode.INVALID_DATA, "too long", field="text")
    assert e.message("en") == "The data is invalid (text)"
    assert e.message("zh").startswith("数据无效")
    assert e.http_status == 400 and not e.retryable
    assert e.to_dict("en")["field"] == "text"


def test_unknown_codes_are_refused() -> None:
    with pytest.raises(ValueError):
        GtsdkError("paperLow")
    assert info("nonsense").code == "internalError"


def test_vendor_codes_are_namespaced_and_have_a_base() -> None:
    register_vendor_code("acme.lampBurnt", "灯管损坏", "Lamp burnt out", base=ErrorCode.HARDWARE_ERROR)
    e = GtsdkError("acme.lampBurnt")
    assert e.http_status == 503 and base_code(e.code) == "hardwareError" and e.message("en") == "Lamp burnt out"
    with pytest.raises(ValueError):
        register_vendor_code("lampBurnt", "x", "x", base=ErrorCode.HARDWARE_ERROR)
