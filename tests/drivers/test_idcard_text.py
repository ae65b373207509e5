"""The four 256-byte text layouts, code tables and the GB 11643 check digit."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtsdk.drivers.sam_serial.cardtext import build_text, card_type_of, parse_text, raw_fields
from gtsdk.drivers.sam_serial.tables import NATION, SEX, id_check_char, id_number_valid
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.idcard import CardType
from gtsdk.simulators.idcard.cards import samples


def test_gb11643_check_digit_known_values() -> None:
    # GB 11643-1999 appendix example number 11010519491231002X
    assert id_check_char("11010519491231002") == "X"
    assert id_number_valid("11010519491231002X") and id_number_valid("11010519491231002x")
    assert not id_number_valid("110105194912310021")
    assert not id_number_valid("1101051949123100")


def test_code_tables() -> None:
    assert SEX["1"] == "男" and SEX["2"] == "女" and SEX["9"] == "未说明的性别"
    assert len([k for k in NATION if int(k) <= 56]) == 56
    assert NATION["01"] == "汉族" and NATION["56"] == "基诺族" and NATION["98"] == "外国血统中国籍人士"


def test_resident_layout_offsets() -> None:
    text = samples()["resident"].text
    # docs/protocols.md 1.6: id number at byte 122 (frame offset 136), flag at 248
    assert text[122:122 + 36].decode("utf-16-le") == "110101199003070011"
    assert card_type_of(text) is CardType.RESIDENT
    d = parse_text(text)
    assert d.name == "张示例" and d.sex == "男" and d.nation == "汉族" and d.birth_date == date(1990, 3, 7)
    assert d.valid_until == date(2040, 1, 1) and not d.long_term and d.issuer == "北京市公安局东城分局"


def test_resident_with_zero_flag_is_accepted() -> None:
    text = bytearray(samples()["resident"].text)
    text[248:250] = b"\x00\x00"
    assert parse_text(bytes(text)).card_type is CardType.RESIDENT


def test_long_term_validity() -> None:
    d = parse_text(samples()["resident_longterm"].text)
    assert d.long_term and d.valid_until is None and d.nation == "回族"


def test_hmt_permit() -> None:
    text = samples()["hmt"].text
    assert text[248:250] == b"J\x00"
    d = parse_text(text)
    assert d.card_type is CardType.HMT_PERMIT and d.pass_number == "H12345678" and d.issue_count == 2
    assert d.nation is None and d.id_number.startswith("810000")


def test_foreigner_2017() -> None:
    text = samples()["foreigner2017"].text
    assert text[248:250] == b"I\x00"
    d = parse_text(text)
    assert d.card_type is CardType.FOREIGNER_2017 and d.name_en == "SAMPLE, JOHN TEST" and d.name == "约翰样例"
    assert d.nationality == "USA" and d.birth_date == date(1990, 1, 1) and d.card_version == "01"
    assert d.id_number == "USA110090010101"


def test_foreigner_2023_joins_the_english_name() -> None:
    d = parse_text(samples()["foreigner2023"].text)
    assert d.card_type is CardType.FOREIGNER_2023 and d.id_number.startswith("9")
    assert d.name_en == "TESTPERSON-LONGFAMILYNAME, MARY ELIZABETH ANN" and d.issue_count == 0
    assert d.nationality == "USA"


def test_bad_check_digit_is_invalid_data_not_a_crash() -> None:
    f = dict(samples()["resident"].fields)
    f["id_number"] = f["id_number"][:17] + ("0" if f["id_number"][17] != "0" else "1")
    with pytest.raises(GtsdkError) as e:
        parse_text(build_text(f, CardType.RESIDENT))
    assert e.value.code == ErrorCode.INVALID_DATA and e.value.field == "idNumber"
    assert f["id_number"] not in str(e.value)  # no personal data in the error
    assert parse_text(build_text(f, CardType.RESIDENT), check_digit=False).id_number == f["id_number"]


@pytest.mark.parametrize("key,value,field", [
    ("birth_date", "19901332", "birthDate"), ("valid_from", "2020-1-1", "validFrom"), ("sex_code", "5", "sexCode"),
    ("nation_code", "77", "nationCode"),
])
def test_malformed_fields_name_the_field(key: str, value: str, field: str) -> None:
    f = dict(samples()["resident"].fields)
    f[key] = value
    with pytest.raises(GtsdkError) as e:
        parse_text(build_text(f, CardType.RESIDENT))
    assert e.value.code == ErrorCode.INVALID_DATA and e.value.field == field


def test_unknown_flag_is_unsupported() -> None:
    text = bytearray(samples()["resident"].text)
    text[248:250] = b"Z\x00"
    with pytest.raises(GtsdkError) as e:
        parse_text(bytes(text))
    assert e.value.code == ErrorCode.UNSUPPORTED_DATA


@pytest.mark.parametrize("key", list(samples()))
def test_sample_cards_round_trip(key: str) -> None:
    card = samples()[key]
    d = parse_text(card.text)
    assert build_text(raw_fields(d), card.card_type) == card.text


_cjk = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=15)


@given(_cjk, st.sampled_from(["1", "2"]), st.sampled_from(sorted(NATION)),
       st.dates(date(1900, 1, 1), date(2099, 12, 31)), st.dates(date(2000, 1, 1), date(2060, 1, 1)),
       st.text(alphabet="0123456789", min_size=17, max_size=17), st.booleans())
def test_resident_build_parse_round_trip(name: str, sex: str, nation: str, birth: date, start: date, n17: str,
                                         long_term: bool) -> None:
    f = {"name": name, "sex_code": sex, "nation_code": nation, "birth_date": birth.strftime("%Y%m%d"),
         "address": "示例地址", "id_number": n17 + id_check_char(n17), "issuer": "示例公安局",
         "valid_from": start.strftime("%Y%m%d"), "valid_until": "长期" if long_term else "20991231"}
    d = parse_text(build_text(f, CardType.RESIDENT))
    assert (d.name, d.sex_code, d.nation_code, d.birth_date, d.long_term) == (name, sex, nation, birth, long_term)
    assert build_text(raw_fields(d), CardType.RESIDENT) == build_text(f, CardType.RESIDENT)


@given(st.binary(min_size=256, max_size=256))
def test_random_text_blocks_only_raise_documented_errors(blob: bytes) -> None:
    try:
        parse_text(blob)
    except GtsdkError as e:
        assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.UNSUPPORTED_DATA)


@given(st.sampled_from(list(samples().values())), st.integers(0, 255), st.integers(1, 0xFFFF))
def test_corrupted_sample_text_only_raises_documented_errors(card: object, pos: int, val: int) -> None:
    text = bytearray(card.text)  # type: ignore[attr-defined]
    text[pos] ^= val & 0xFF
    try:
        parse_text(bytes(text))
    except GtsdkError as e:
        assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.UNSUPPORTED_DATA)
