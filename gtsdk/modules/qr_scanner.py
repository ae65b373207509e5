"""8.4 h) 二维码扫描器 — QR scanner: open, close, read (获取扫描值)."""

from __future__ import annotations

import abc
from datetime import datetime

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
    trigger: bool = Field(default=True, description="send the trigger command (triggered mode)")


class Scan(Model):
    text: str
    raw: bytes
    encoding: str
    symbology: str | None = None
    time: datetime


class QrScannerDriver(Driver[SettingsT], abc.ABC):
    module = "qr_scanner"

    @abc.abstractmethod
    def read(self, request: ReadRequest, ctx: OpContext) -> Scan: ...


SPEC = ModuleSpec(
    id="qr_scanner",
    clause="8.4 h)",
    title_zh="二维码扫描器",
    title_en="QR code scanner",
    driver_class=QrScannerDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开设备"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
        # a code may be an electronic licence or a personal QR code (9.3.2): sealed like other personal data
        OperationSpec("read", ReadRequest, Scan, summary="获取扫描值", personal_data=True),
    ),
    events=("codeScanned",),
    open_op="open",
    close_op="close",
)
