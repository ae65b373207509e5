"""Result fields prepared once (drivers/bridge_common/fields.py) convert exactly as the definition
(values.convert) does — values and errors — for generated field specs and vendor outputs; the
precompiled date forms read dates exactly as strptime does; the text of a source is decoded once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.bridge_common import values
from gtsdk.drivers.bridge_common.fields import ResultBuilder, compile_field, date_parser
from gtsdk.drivers.bridge_common.mapping import FieldSpec
from gtsdk.errors import GtsdkError
from gtsdk.modules.idcard import IdCardData

FORMATS = ["%Y%m%d", "%Y-%m-%d", "%Y.%m.%d", "%d/%m/%Y", "%Y年%m月%d日", "%m%d%Y", "%Y %m %d", "%Y%m",
           "%y%m%d", "%Y%m%d%H", "%Y%%%m%d", "%Y%Y%m%d"]
DIGITS = st.sampled_from([*"0123456789", " ", "-", ".", "/", "年", "月", "日", "%", "\u0661", "x"])


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except GtsdkError as e:
        return "error", (e.code, e.detail, e.field)
    except values.Missing as e:
        return "missing", str(e)
    except Exception as e:  # noqa: BLE001 - the two implementations must fail alike, whatever they raise
        return "raised", type(e).__name__


@given(st.sampled_from(FORMATS), st.text(DIGITS, max_size=14) | st.dates().map(lambda d: d.strftime("%Y%m%d")))
def test_dates_are_read_as_strptime_reads_them(fmt: str, text: str) -> None:
    def strptime(t: str) -> date:
        return datetime.strptime(t, fmt).date()

    assert _outcome(date_parser(fmt), text) == _outcome(strptime, text)


def test_date_forms() -> None:
    assert date_parser("%Y%m%d")("19900307") == date(1990, 3, 7)
    assert date_parser("%Y年%m月%d日")("1990年3月7日") == date(1990, 3, 7)


ENCODINGS = st.sampled_from([None, "gb18030", "utf-16-le", "utf-8", "latin-1"])
LINES = st.sampled_from(["张示例", "男", "19900307", "长期", "", "  北京市\u3000", "a\x00b", "1", "Y"])


@st.composite
def field_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"from": "file.text"}
    for key, strat in [("line", st.integers(0, 6)), ("encoding", ENCODINGS.filter(lambda e: e is not None)),
                       ("slice", st.tuples(st.integers(0, 20), st.integers(0, 20))),
                       ("length_from", st.just("saved.len")), ("path", st.sampled_from(["$", "$.a", "$.a[0]"])),
                       ("cstring", st.booleans()), ("strip", st.booleans()), ("base64", st.booleans()),
                       ("map", st.dictionaries(LINES, st.sampled_from([None, True, "男", 1]), max_size=3)),
                       ("otherwise", st.sampled_from([None, False, "9"])),
                       ("date", st.sampled_from(["%Y%m%d", "%Y-%m-%d", "%d %m %Y"])),
                       ("empty_is_null", st.booleans())]:
        often = key in ("line", "map", "date")
        if draw(st.integers(0, 3)) == 0 or (often and draw(st.booleans())):
            spec[key] = draw(strat)
    return spec


RAW = st.one_of(
    st.lists(LINES, max_size=6).map(lambda ls: "\r\n".join(ls)),
    st.tuples(st.lists(LINES, max_size=6), st.sampled_from(["gb18030", "utf-16-le", "utf-8"])).map(
        lambda t: "\n".join(t[0]).encode(t[1])),
    st.binary(max_size=24),
    st.sampled_from(["AAE=", "@@", {"a": ["x", 1]}, {"a": "19900307"}, 7, None, [1]]))


@settings(max_examples=400, deadline=None)
@given(field_specs(), RAW, st.booleans(), st.sampled_from([3, -1, "x", True]))
def test_a_prepared_field_converts_as_the_definition(spec: dict[str, Any], raw: Any, wants_bytes: bool,
                                                      n: Any) -> None:
    try:
        f = FieldSpec.model_validate(spec)
    except ValueError:
        return  # the loader refuses this spec: nothing to convert
    lengths = {"saved.len": n}
    want = _outcome(lambda: values.convert(f, raw, field="f", lengths=lengths, wants_bytes=wants_bytes,
                                           default_encoding="gb18030"))
    conv = compile_field(f, field="f", wants_bytes=wants_bytes, default_encoding="gb18030")
    assert _outcome(conv, raw, lengths, {}) == want
    # and again with the scratch of the fields before it (the same source decoded once)
    memo: dict[Any, Any] = {}
    _outcome(compile_field(FieldSpec.model_validate({"from": "file.text", "line": 0}), field="g",
                           wants_bytes=False, default_encoding=f.encoding or "gb18030"), raw, lengths, memo)
    assert _outcome(conv, raw, lengths, memo) == want


def test_the_text_of_a_source_is_decoded_once() -> None:
    class Counting(bytes):
        decodes = 0

        def decode(self, *a: Any, **k: Any) -> str:
            Counting.decodes += 1
            return super().decode(*a, **k)

    text = "\n".join(["张示例", "男", "01", "19900307", "北京市", "11010119900307123X", "公安局", "20200101",
                      "长期"]).encode("gb18030")
    result = {"card_type": {"value": "resident"}, **{k: {"from": "file.text", "line": i} for i, k in enumerate(
        ["name", "sex", "nation_code"])}, "birth_date": {"from": "file.text", "line": 3, "date": "%Y%m%d"},
              "address": {"from": "file.text", "line": 4}, "id_number": {"from": "file.text", "line": 5},
              "issuer": {"from": "file.text", "line": 6}, "valid_from": {"from": "file.text", "line": 7,
                                                                         "date": "%Y%m%d"},
              "valid_until": {"from": "file.text", "line": 8, "date": "%Y%m%d", "map": {"长期": None}},
              "long_term": {"from": "file.text", "line": 8, "map": {"长期": True}, "otherwise": False},
              "sex_code": {"from": "file.text", "line": 1, "map": {"男": "1"}, "otherwise": "9"}}
    b = ResultBuilder(IdCardData, {k: FieldSpec.model_validate(v) for k, v in result.items()}, "gb18030")
    card = b.build({"file.text": Counting(text)})
    assert isinstance(card, IdCardData)
    assert (card.name, card.birth_date, card.long_term, card.valid_until) == ("张示例", date(1990, 3, 7), True, None)
    assert Counting.decodes == 1
