"""8.4 g) 凭条打印机 — receipt printer: init, print, cut, close.

``print`` takes a small typed document so an app never builds ESC/POS bytes.
"""

from __future__ import annotations

import abc
from enum import StrEnum
from typing import Annotated, Literal

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


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class Text(Model):
    type: Literal["text"] = "text"
    text: str = Field(max_length=2000)
    align: Align = Align.LEFT
    width: int = Field(default=1, ge=1, le=8, description="character width multiplier")
    height: int = Field(default=1, ge=1, le=8, description="character height multiplier")
    bold: bool = False
    underline: bool = False


class QrCode(Model):
    type: Literal["qr"] = "qr"
    data: str = Field(max_length=2000)
    size: int = Field(default=6, ge=1, le=16, description="module size in dots")
    error_correction: Literal["L", "M", "Q", "H"] = "M"
    align: Align = Align.CENTER


class Barcode(Model):
    type: Literal["barcode"] = "barcode"
    data: str = Field(max_length=80)
    symbology: Literal["CODE128", "CODE39", "EAN13", "EAN8", "UPCA", "ITF"] = "CODE128"
    height: int = Field(default=80, ge=1, le=255)
    align: Align = Align.CENTER


class Image(Model):
    type: Literal["image"] = "image"
    data: bytes = Field(description="any picture (PNG/JPEG), dithered to 1 bit")
    max_width: int | None = Field(default=None, ge=8, le=2048, description="dots; default: the paper width")
    align: Align = Align.CENTER


class Feed(Model):
    type: Literal["feed"] = "feed"
    lines: int = Field(default=1, ge=1, le=255)


Element = Annotated[Text | QrCode | Barcode | Image | Feed, Field(discriminator="type")]


class InitRequest(Request):
    chinese: bool = True


class PrintRequest(Request):
    elements: list[Element] = Field(min_length=1, max_length=500)
    cut: bool = False


class CutRequest(Request):
    partial: bool = False
    feed_lines: int = Field(default=3, ge=0, le=255)


class PrintResult(Model):
    bytes_sent: int
    paper_near_end: bool = False


class ReceiptPrinterDriver(Driver[SettingsT], abc.ABC):
    module = "receipt_printer"

    @abc.abstractmethod
    def init(self, request: InitRequest, ctx: OpContext) -> Empty: ...

    @abc.abstractmethod
    def print(self, request: PrintRequest, ctx: OpContext) -> PrintResult: ...

    @abc.abstractmethod
    def cut(self, request: CutRequest, ctx: OpContext) -> Empty: ...


SPEC = ModuleSpec(
    id="receipt_printer",
    clause="8.4 g)",
    title_zh="凭条打印机",
    title_en="Receipt printer",
    driver_class=ReceiptPrinterDriver,
    operations=operations(
        OperationSpec("init", InitRequest, Empty, summary="初始化设备", needs_open=False),
        OperationSpec("print", PrintRequest, PrintResult, summary="打印"),
        OperationSpec("cut", CutRequest, Empty, summary="切纸"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
    ),
    events=("paperNearEnd", "paperOut", "coverOpen", "printerStatusChanged"),
    open_op="init",
    close_op="close",
)
