"""8.4 b) 电子出入境证件阅读器 — exit-entry document reader: open, close, read."""

from __future__ import annotations

import abc
from datetime import date

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


class ReadRequest(Request):
    mrz: str | None = Field(default=None, max_length=200, description="full MRZ text (lines joined by newline)")
    document_number: str | None = Field(default=None, max_length=20)
    birth_date: date | None = None
    expiry_date: date | None = None
    read_photo: bool = True
    passive_auth: bool = True


class PassiveAuth(Model):
    hashes_ok: bool
    signature_ok: bool | None = None
    chain_ok: bool | None = None
    detail: str = ""


class TravelDocData(Model):
    document_type: str = Field(description="MRZ document code, e.g. P, CS, CD, CR, CT")
    issuing_state: str
    document_number: str
    surname: str
    given_names: str
    nationality: str | None = None
    birth_date: date
    sex: str | None = None
    expiry_date: date
    mrz: str
    photo: bytes | None = Field(default=None,
                                description="DG2 face image decoded and re-encoded as PNG (base64 on the wire)")
    photo_format: str | None = Field(default=None, description="format on the chip: jpeg or jpeg2000")
    photo_original: bytes | None = Field(default=None, description="DG2 image bytes as stored on the chip")
    photo_width: int | None = None
    photo_height: int | None = None
    photo_note: str = ""
    data_groups: list[str] = Field(default_factory=list)
    passive_auth: PassiveAuth | None = None


class TravelDocDriver(Driver[SettingsT], abc.ABC):
    module = "travel_doc"

    @abc.abstractmethod
    def read(self, request: ReadRequest, ctx: OpContext) -> TravelDocData:
        """Wait for a document, authenticate (BAC) and read it."""


SPEC = ModuleSpec(
    id="travel_doc",
    clause="8.4 b)",
    title_zh="电子出入境证件阅读器",
    title_en="Exit-entry document reader",
    driver_class=TravelDocDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开设备"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
        OperationSpec("read", ReadRequest, TravelDocData, summary="获取证件信息", personal_data=True),
    ),
    events=("cardInserted", "cardRemoved"),
    open_op="open",
    close_op="close",
)
