"""8.4 a) 身份证阅读器 — ID card reader: open, close, read (获取二代证信息)."""

from __future__ import annotations

import abc
from datetime import date
from enum import StrEnum

from pydantic import Field

from gtsdk.modules._base import (
    Driver,
    Empty,
    Model,
    ModuleSpec,
    OpContext,
    OperationSpec,
    Request,
    SettingsT,
    operations,
)


class CardType(StrEnum):
    RESIDENT = "resident"  # 居民身份证
    HMT_PERMIT = "hmtResidencePermit"  # 港澳台居民居住证 (flag J)
    FOREIGNER_2017 = "foreignerPermanent2017"  # 外国人永久居留身份证 (flag I)
    FOREIGNER_2023 = "foreignerPermanent2023"  # 2023 版 (flag Y)


class ReadRequest(Request):
    with_fingerprint: bool = Field(default=False, description="also read the fingerprint block (SAM 30 10)")
    with_appended_address: bool = Field(default=False, description="also read the appended address (SAM 30 03)")


class IdCardData(Model):
    card_type: CardType
    name: str
    name_en: str | None = None
    sex: str = Field(description="decoded per GB/T 2261.1, e.g. 男/女")
    sex_code: str
    nation: str | None = Field(default=None, description="decoded per GB/T 3304 (resident cards)")
    nation_code: str | None = None
    nationality: str | None = Field(default=None, description="ISO 3166 alpha-3 (foreigner cards)")
    birth_date: date
    address: str | None = None
    id_number: str
    issuer: str | None = None
    valid_from: date
    valid_until: date | None = Field(default=None, description="None when long_term")
    long_term: bool = False
    pass_number: str | None = Field(default=None, description="通行证号码 (HMT permits)")
    issue_count: int | None = None
    card_version: str | None = None
    previous_card_ref: str | None = Field(default=None, description="既往版本永居证号码关联项 (2023 foreigner cards)")
    appended_address: str | None = None
    photo_wlt: bytes | None = Field(default=None, description="raw WLT photo (base64 on the wire)")
    photo: bytes | None = Field(default=None,
                                description="decoded photo (BMP/PNG) when a WLT decoder hook is configured")
    photo_note: str = Field(default="", description="why photo is absent (e.g. no licensed WLT decoder configured)")
    fingerprints: bytes | None = Field(default=None, description="raw fingerprint block (up to 2 x 512-byte templates)")
    extra: dict[str, str] = Field(default_factory=dict,
                                  description="non-blank slices whose meaning sources disagree on (raw text)")


class IdCardDriver(Driver[SettingsT], abc.ABC):
    module = "idcard"

    @abc.abstractmethod
    def read(self, request: ReadRequest, ctx: OpContext) -> IdCardData:
        """Wait for a card up to the deadline and read it."""


SPEC = ModuleSpec(
    id="idcard",
    clause="8.4 a)",
    title_zh="身份证阅读器",
    title_en="ID card reader",
    driver_class=IdCardDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开设备"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
        OperationSpec("read", ReadRequest, IdCardData, summary="获取二代证信息", personal_data=True),
    ),
    events=("cardInserted", "cardRemoved"),
    open_op="open",
    close_op="close",
)
