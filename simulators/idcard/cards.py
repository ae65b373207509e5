"""Fictional sample cards of the four layouts (no real person; numbers carry valid check digits)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from gtsdk.drivers.sam_serial.cardtext import build_text
from gtsdk.drivers.sam_serial.tables import id_check_char
from gtsdk.modules.idcard import CardType


def _opaque(seed: str, n: int) -> bytes:
    """Deterministic filler standing in for WLT photos and fingerprint templates."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return out[:n]


def _id(first17: str) -> str:
    return first17 + str(id_check_char(first17))


@dataclass
class SampleCard:
    key: str
    card_type: CardType
    fields: dict[str, str]
    fingerprint: bytes | None = None
    appended_address: str | None = None
    photo: bytes = field(default=b"")

    def __post_init__(self) -> None:
        if not self.photo:
            self.photo = b"WLT-SAMPLE-" + self.key.encode() + b"-" + _opaque("wlt:" + self.key, 1024)
            self.photo = self.photo[:1024]

    @property
    def text(self) -> bytes:
        return bytes(build_text(self.fields, self.card_type))


def samples() -> dict[str, SampleCard]:
    cards = [
        SampleCard("resident", CardType.RESIDENT, {
            "name": "张示例", "sex_code": "1", "nation_code": "01", "birth_date": "19900307",
            "address": "北京市东城区示例大街1号", "id_number": _id("11010119900307001"),
            "issuer": "北京市公安局东城分局", "valid_from": "20200101", "valid_until": "20400101"},
            fingerprint=_opaque("fp:resident", 1024), appended_address="北京市西城区测试胡同2号"),
        SampleCard("resident_longterm", CardType.RESIDENT, {
            "name": "王测试", "sex_code": "2", "nation_code": "03", "birth_date": "19600512",
            "address": "宁夏回族自治区银川市样例路8号", "id_number": _id("64010219600512002"),
            "issuer": "银川市公安局兴庆区分局", "valid_from": "20150601", "valid_until": "长期"}),
        SampleCard("hmt", CardType.HMT_PERMIT, {
            "name": "陈样本", "sex_code": "1", "birth_date": "19881120",
            "address": "广东省深圳市福田区示例道3号", "id_number": _id("81000019881120003"),
            "issuer": "深圳市公安局", "valid_from": "20230105", "valid_until": "20280105",
            "pass_number": "H12345678", "issue_count": "02"}),
        SampleCard("foreigner2017", CardType.FOREIGNER_2017, {
            "name_en": "SAMPLE, JOHN TEST", "sex_code": "1", "id_number": "USA110090010101",
            "nationality": "USA", "name": "约翰样例", "valid_from": "20170601", "valid_until": "20270601",
            "birth_date": "19900101", "card_version": "01", "issuer": "1100"}),
        SampleCard("foreigner2023", CardType.FOREIGNER_2023, {
            "name": "玛丽样例", "sex_code": "2", "issue_count": "00", "birth_date": "19850315",
            "name_en": "TESTPERSON-LONGFAMILYNAME, MARY ELI",
            "extra.name_en_cont": "ZABETH ANN", "id_number": _id("91184019850315002"),
            "valid_from": "20231201", "valid_until": "20331201", "nationality": "USA"}),
    ]
    return {c.key: c for c in cards}
