"""8.4 l) 图像处理 — image processing: crop (图像裁剪)."""

from __future__ import annotations

import abc
from enum import StrEnum

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, operations

MAX_IMAGE_BYTES = 30 * 1024 * 1024


class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"


class Rect(Model):
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Point(Model):
    x: float
    y: float


class CropRequest(Request):
    image: bytes = Field(max_length=MAX_IMAGE_BYTES)
    rect: Rect | None = None
    corners: list[Point] | None = Field(None, min_length=4, max_length=4, description="perspective-corrected crop")
    auto_document: bool = Field(False, description="detect the document and deskew it")
    format: OutputFormat = OutputFormat.JPEG


class ImageResult(Model):
    image: bytes
    format: OutputFormat
    width: int
    height: int
    corners: list[Point] | None = None


class ImagingDriver(Driver, abc.ABC):
    module = "imaging"

    @abc.abstractmethod
    def crop(self, request: CropRequest, ctx: OpContext) -> ImageResult: ...


SPEC = ModuleSpec(
    id="imaging",
    clause="8.4 l)",
    title_zh="图像处理",
    title_en="Image processing",
    driver_class=ImagingDriver,
    operations=operations(
        OperationSpec("crop", CropRequest, ImageResult, summary="图像裁剪", needs_open=False),
    ),
)
