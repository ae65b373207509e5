"""8.4 l) 图像处理 — image processing: crop (图像裁剪), plus the processing of scanned
materials that 7.1.2 b / 7.1.3 c ask for (扫描、识别): document detection and deskew,
orientation fix, enhancement for printing, redaction of regions and OCR (including the
machine readable zone of a travel document for the ``travel_doc`` module)."""

from __future__ import annotations

import abc
from enum import StrEnum

from pydantic import Field

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, SettingsT, operations

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
    corners: list[Point] | None = Field(default=None, min_length=4, max_length=4,
                                        description="perspective-corrected crop")
    auto_document: bool = Field(default=False, description="detect the document and deskew it")
    format: OutputFormat = OutputFormat.JPEG


class Rotation(StrEnum):
    NONE = "0"
    CW90 = "90"
    CW180 = "180"
    CW270 = "270"
    AUTO = "auto"


class ImageResult(Model):
    image: bytes
    format: OutputFormat
    width: int
    height: int
    corners: list[Point] | None = Field(default=None,
                                        description="document corners found in the input (tl, tr, br, bl)")
    rotation: int | None = Field(default=None, description="clockwise degrees the image was turned (orientation fix)")
    skew_degrees: float | None = Field(default=None, description="skew that was corrected")
    redacted: list[Rect] | None = Field(default=None, description="regions that were covered")


class DetectDocumentRequest(Request):
    image: bytes = Field(max_length=MAX_IMAGE_BYTES)


class DocumentDetection(Model):
    found: bool
    corners: list[Point] | None = None
    area_ratio: float = Field(default=0.0, description="document area / image area")
    skew_degrees: float = Field(default=0.0, description="angle of the document's top edge, clockwise positive")
    width: int
    height: int


class EnhanceMode(StrEnum):
    PRINT = "print"  # flat white background, dark crisp text: for the A4 printer / archive
    GRAYSCALE = "grayscale"
    BW = "bw"  # binarised (smallest files, faxes, signatures)
    COLOR = "color"  # contrast and white balance only


class EnhanceRequest(Request):
    image: bytes = Field(max_length=MAX_IMAGE_BYTES)
    mode: EnhanceMode = EnhanceMode.PRINT
    deskew: bool = Field(default=True, description="straighten text lines (scanned materials)")
    rotate: Rotation = Field(default=Rotation.NONE, description="turn clockwise, or auto: the way the text reads")
    format: OutputFormat = OutputFormat.PNG


class RedactStyle(StrEnum):
    BLACK = "black"
    BLUR = "blur"
    PIXELATE = "pixelate"


class RedactRequest(Request):
    image: bytes = Field(max_length=MAX_IMAGE_BYTES)
    regions: list[Rect] = Field(default_factory=list, max_length=64)
    patterns: list[str] = Field(default_factory=list, max_length=8,
                                description="regular expressions: OCR the image and cover matching text lines")
    style: RedactStyle = RedactStyle.BLACK
    format: OutputFormat = OutputFormat.JPEG


class OcrRequest(Request):
    image: bytes = Field(max_length=MAX_IMAGE_BYTES)
    rect: Rect | None = Field(default=None, description="read only this region")
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    rotate: Rotation = Rotation.NONE
    mrz: bool = Field(default=False, description="look for a machine readable zone (ICAO 9303) and parse it")


class TextLine(Model):
    text: str
    confidence: float
    box: list[Point] = Field(description="four corners in input-image pixels (tl, tr, br, bl)")


class MrzResult(Model):
    format: str = Field(description="TD1, TD2, TD3 or CS (one-line Chinese permits)")
    lines: list[str]
    valid: bool = Field(description="every check digit matches")
    error: str | None = None
    document_type: str | None = None
    issuing_state: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    birth_date: str | None = Field(default=None, description="YYMMDD")
    expiry_date: str | None = Field(default=None, description="YYMMDD")
    sex: str | None = None
    surname: str | None = None
    given_names: str | None = None


class OcrResult(Model):
    lines: list[TextLine]
    text: str
    rotation: int = 0
    mrz: MrzResult | None = None
    width: int
    height: int


class ImagingDriver(Driver[SettingsT], abc.ABC):
    module = "imaging"

    @abc.abstractmethod
    def crop(self, request: CropRequest, ctx: OpContext) -> ImageResult: ...

    def detect_document(self, request: DetectDocumentRequest, ctx: OpContext) -> DocumentDetection:
        raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "this driver does not detect documents")

    def enhance(self, request: EnhanceRequest, ctx: OpContext) -> ImageResult:
        raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "this driver does not enhance images")

    def redact(self, request: RedactRequest, ctx: OpContext) -> ImageResult:
        raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "this driver does not redact images")

    def ocr(self, request: OcrRequest, ctx: OpContext) -> OcrResult:
        raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "this driver has no OCR")


SPEC = ModuleSpec(
    id="imaging",
    clause="8.4 l)",
    title_zh="图像处理",
    title_en="Image processing",
    driver_class=ImagingDriver,
    operations=operations(
        OperationSpec("crop", CropRequest, ImageResult, summary="图像裁剪", needs_open=False),
        OperationSpec("detect_document", DetectDocumentRequest, DocumentDetection, summary="检测材料边缘与倾斜",
                      needs_open=False),
        OperationSpec("enhance", EnhanceRequest, ImageResult, summary="纠偏、方向校正与打印增强", needs_open=False),
        OperationSpec("redact", RedactRequest, ImageResult, summary="遮盖敏感区域", needs_open=False,
                      personal_data=True),
        OperationSpec("ocr", OcrRequest, OcrResult, summary="文字识别（含证件机读码）", needs_open=False,
                      default_timeout=60.0, personal_data=True),
    ),
)
