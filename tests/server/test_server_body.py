"""Request bodies (9.2.2 b parameter filtering): strict JSON, strings bounded by field kind, validation naming the
field; property tests over the parser and the binary-field map of every operation's request model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.driver import Model
from gtsdk.errors import GtsdkError
from gtsdk.modules import MODULES
from gtsdk.modules.fingerprint import CompareRequest
from gtsdk.server.body import _Budget, binary_fields, check_strings, parse_model, strict_object

LIGHT_ON = MODULES["lights"].operations["on"].request
TEXT, BINARY = 100, 10_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_every_json_object_parses_to_itself(obj: dict[str, Any]) -> None:
    assert strict_object(json.dumps(obj).encode()) == obj


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_an_object_or_invalid_data_naming_a_field(raw: bytes) -> None:
    try:
        out = strict_object(raw)
    except GtsdkError as e:
        assert e.code == "invalidData" and e.field
    else:
        assert isinstance(out, dict)


@pytest.mark.parametrize(("raw", "field"), [
    (b"[1]", "body"), (b'{"a":1,"a":2}', "a"), (b'{"a":NaN}', "body"), (b'{"a":Infinity}', "body"),
    (b'{"a":"\xff"}', "body"), (b"{" * 100_000, "body"), (b"{not json", "body"),
])
def test_strict_json_refusals(raw: bytes, field: str) -> None:
    with pytest.raises(GtsdkError) as e:
        strict_object(raw)
    assert e.value.code == "invalidData" and e.value.field == field


def test_binary_fields_of_every_operation_are_its_bytes_fields() -> None:
    """The map is derived from the JSON Schema; check it against the models' annotations."""
    for spec in MODULES.values():
        for o in spec.operations.values():
            tree = binary_fields(o.request)
            for name, f in o.request.model_fields.items():
                alias = f.alias or name
                ann = str(f.annotation)
                if ann in ("<class 'bytes'>", "bytes | None", "typing.Optional[bytes]"):
                    assert isinstance(tree, dict) and tree.get(alias) == "binary", (o.request, alias)
                elif ann == "list[bytes]":
                    assert isinstance(tree, dict) and tree[alias] == {"[]": "binary"}
                elif isinstance(tree, dict):
                    assert tree.get(alias) != "binary", (o.request, alias)


def test_binary_strings_may_be_long_text_strings_may_not() -> None:
    tree = binary_fields(CompareRequest)
    check_strings({"probe": "A" * 5000, "references": ["A" * 5000]}, tree, TEXT, BINARY)
    with pytest.raises(GtsdkError) as e:
        check_strings({"references": ["A" * (BINARY + 1)]}, tree, TEXT, BINARY)
    assert e.value.field == "references.0"
    with pytest.raises(GtsdkError) as e:
        check_strings({"unknown": {"x": ["a" * (TEXT + 1)]}}, tree, TEXT, BINARY)
    assert e.value.field == "unknown.x.0"


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2 * TEXT))
def test_text_limit_before_the_models_own(n: int) -> None:
    body = json.dumps({"light": "x" * n}).encode()
    if n <= 32:  # lights' max_length
        assert parse_model(body, LIGHT_ON, TEXT, BINARY).model_dump()["light"] == "x" * n
        return
    with pytest.raises(GtsdkError) as e:
        parse_model(body, LIGHT_ON, TEXT, BINARY)
    assert e.value.field == "light"
    assert (e.value.detail == f"string longer than {TEXT} characters") == (n > TEXT)


def test_validation_names_the_camel_case_field() -> None:
    flash = MODULES["lights"].operations["flash"].request
    for body, field in (({"light": "a", "periodMs": "5"}, "periodMs"), ({"light": "a", "colour": 1}, "colour")):
        with pytest.raises(GtsdkError) as e:
            parse_model(json.dumps(body).encode(), flash, TEXT, BINARY)
        assert e.value.field == field
    out: Model = parse_model(b'{"light":"hall"}', LIGHT_ON, TEXT, BINARY)
    assert out.model_dump()["light"] == "hall"


def test_value_count_is_bounded_before_validation() -> None:
    many = ('{"light":"a","pad":[' + ",".join(["1"] * 2000) + "]}").encode()
    with pytest.raises(GtsdkError) as e:
        parse_model(many, LIGHT_ON, TEXT, BINARY, max_values=1000)
    assert e.value.field == "body" and "too many JSON values" in e.value.detail
    with pytest.raises(GtsdkError) as e2:  # under the bound the model names the unknown field
        parse_model(many, LIGHT_ON, TEXT, BINARY, max_values=5000)
    assert e2.value.field == "pad"


def _walked(raw: bytes, max_text: int, max_values: int) -> str:
    """What parse_model answers when the body is always walked (the code before the small-body shortcut)."""
    try:
        obj = strict_object(raw)
        check_strings(obj, binary_fields(LIGHT_ON), max_text, BINARY, budget=_Budget(max_values))
        return "valid" if parse_model(raw, LIGHT_ON, 10**9, BINARY, 10**9) else "?"
    except GtsdkError as e:
        return f"{e.code} {e.field} {e.detail}"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["light", "pad", "x"]), json_values, max_size=4),
       st.integers(16, 200), st.integers(1, 200))
def test_a_small_body_that_is_not_walked_gets_the_same_answer(obj: dict[str, Any], max_text: int,
                                                              max_values: int) -> None:
    """A body no longer than the text cap and the value count is not walked for them: the answer is the same."""
    raw = json.dumps(obj, ensure_ascii=bool(max_values % 2)).encode()
    try:
        got = "valid" if parse_model(raw, LIGHT_ON, max_text, BINARY, max_values) else "?"
    except GtsdkError as e:
        got = f"{e.code} {e.field} {e.detail}"
    assert got == _walked(raw, max_text, max_values)
