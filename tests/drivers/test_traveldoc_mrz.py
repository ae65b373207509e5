"""MRZ parsing and ICAO check digits: TD3, TD1, one-line CS/CD, three-line CR/CT."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtsdk.drivers.icao_pcsc import mrz
from gtsdk.errors import ErrorCode, GtsdkError

# ICAO 9303-3 4.9 worked examples / 9303-11 Appendix D MRZ_information
ICAO_TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
ICAO_TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"


def test_check_digit_examples() -> None:
    assert mrz.check_digit("L898902C3") == "6"  # ICAO 9303-3 specimen
    assert mrz.check_digit("740812") == "2" and mrz.check_digit("120415") == "9"
    assert mrz.check_digit("L898902C<") == "3"
    assert mrz.char_value("A") == 10 and mrz.char_value("Z") == 35 and mrz.char_value("<") == 0


def test_td3_specimen() -> None:
    m = mrz.parse(ICAO_TD3)
    assert (m.document_type, m.issuing_state, m.document_number) == ("P", "UTO", "L898902C3")
    assert (m.surname, m.given_names, m.sex, m.nationality) == ("ERIKSSON", "ANNA MARIA", "F", "UTO")
    assert m.birth_date == date(1974, 8, 12) and m.expiry_date == date(2012, 4, 15)
    assert m.bac_key == "L898902C3674081221204159"


def test_td1_specimen() -> None:
    m = mrz.parse(ICAO_TD1)
    assert m.document_type == "I" and m.document_number == "D23145890" and m.given_names == "ANNA MARIA"
    assert m.bac_key == "D23145890774081221204159"


@pytest.mark.parametrize("text,number,birth,expiry", [
    ("CSC531580954<2612199<9712087<2", "C53158095", date(1997, 12, 8), date(2026, 12, 19)),
    ("CSCC63541450<3301122<9710212<6", "CC6354145", date(1997, 10, 21), date(2033, 1, 12)),
])
def test_cs_one_line_samples(text: str, number: str, birth: date, expiry: date) -> None:
    # samples from Johann356/readinfo main.cpp (docs/protocols.md 2.1): expiry precedes birth
    m = mrz.parse(text)
    assert (m.document_type, m.document_number, m.birth_date, m.expiry_date) == ("CS", number, birth, expiry)
    assert m.bac_key == number + text[11] + text[21:28] + text[13:20]


def test_cr_three_lines() -> None:
    text = mrz.build_cr("CR", "H12345678", "300101", "M", "900101", "1234567890", "CHAN", "TAI MAN")
    m = mrz.parse(text)
    assert (m.document_type, m.document_number, m.sex, m.surname, m.given_names) == \
        ("CR", "H12345678", "M", "CHAN", "TAI MAN")
    assert m.birth_date == date(1990, 1, 1) and m.expiry_date == date(2030, 1, 1)


def test_joined_lines_and_spaces_are_accepted() -> None:
    assert mrz.parse(ICAO_TD3.replace("\n", "")).document_number == "L898902C3"
    assert mrz.parse(" csc531580954<2612199<9712087<2 ").document_number == "C53158095"


@pytest.mark.parametrize("text", [
    "CSC531580955<2612199<9712087<2",  # doc CD
    "CSC531580954<2612198<9712087<2",  # expiry CD
    "CSC531580954<2612199<9712087<3",  # composite
    ICAO_TD3.replace("7408122", "7408123"),
    "CSC53158095", "", "P<UTO\nL898",
    "CSC531580954<2613399<9712087<2",
])
def test_bad_mrz_is_invalid_data(text: str) -> None:
    with pytest.raises(GtsdkError) as e:
        mrz.parse(text)
    assert e.value.code == ErrorCode.INVALID_DATA and e.value.field == "mrz"


def test_from_fields_matches_the_mrz() -> None:
    m = mrz.from_fields("L898902C3", date(1974, 8, 12), date(2012, 4, 15))
    assert m.bac_key == mrz.parse(ICAO_TD3).bac_key
    with pytest.raises(GtsdkError):
        mrz.from_fields("bad number!", date(1974, 8, 12), date(2012, 4, 15))


_num = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=9)
_birth = st.dates(date(1931, 1, 1), date(2020, 12, 31))
_exp = st.dates(date(2000, 1, 1), date(2070, 12, 31))
_name = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10)


@given(_num, _birth, _exp, st.sampled_from(["CS", "CD"]))
def test_cs_build_parse_round_trip(number: str, birth: date, expiry: date, kind: str) -> None:
    m = mrz.parse(mrz.build_cs(kind, number, expiry.strftime("%y%m%d"), birth.strftime("%y%m%d")))
    assert (m.document_type, m.document_number, m.birth_date, m.expiry_date) == (kind, number, birth, expiry)


@given(_num, _birth, _exp, _name, _name, st.sampled_from(["M", "F"]))
def test_td3_build_parse_round_trip(number: str, birth: date, expiry: date, sur: str, given_: str, sex: str) -> None:
    text = mrz.build_td3("P", "UTO", sur, given_, number, "UTO", birth.strftime("%y%m%d"), sex,
                         expiry.strftime("%y%m%d"))
    m = mrz.parse(text)
    assert (m.document_number, m.surname, m.given_names, m.sex, m.birth_date, m.expiry_date) == \
        (number, sur, given_, sex, birth, expiry)


@given(_num, _birth, _exp, st.sampled_from(["CR", "CT"]), _name)
def test_cr_build_parse_round_trip(number: str, birth: date, expiry: date, kind: str, sur: str) -> None:
    m = mrz.parse(mrz.build_cr(kind, number, expiry.strftime("%y%m%d"), "F", birth.strftime("%y%m%d"),
                               "1234567890", sur, "A"))
    assert (m.document_type, m.document_number, m.birth_date, m.expiry_date, m.surname) == \
        (kind, number, birth, expiry, sur)


@given(st.text(max_size=120))
def test_random_text_only_raises_invalid_data(text: str) -> None:
    try:
        mrz.parse(text)
    except GtsdkError as e:
        assert e.code == ErrorCode.INVALID_DATA


@given(st.data())
def test_corrupted_sample_only_raises_invalid_data(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from([ICAO_TD3, ICAO_TD1, "CSC531580954<2612199<9712087<2"]))
    i = data.draw(st.integers(0, len(text) - 1))
    c = data.draw(st.sampled_from("ABZ019<"))
    try:
        mrz.parse(text[:i] + c + text[i + 1:])
    except GtsdkError as e:
        assert e.code == ErrorCode.INVALID_DATA
