"""OpenCV image processing (8.4 l): crop by rectangle or by four corners, document
detection and deskew, orientation fix, enhancement for printing, redaction and OCR.

No device: ``connect`` only checks that OpenCV imports (and reports whether the OCR
models are present).  Every input is decoded under a pixel limit before anything else
(``payloadTooLarge``); bytes that are not an image are ``invalidData`` (field ``image``).
Images and recognised text never reach logs or error details.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pydantic import Field

from gtsdk.driver import DeviceInfo, DriverSettings, EventSink, HealthLevel, HealthResult, OpContext, StateSink
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.imaging import (
    CropRequest,
    DetectDocumentRequest,
    DocumentDetection,
    EnhanceRequest,
    ImageResult,
    ImagingDriver,
    MrzResult,
    OcrRequest,
    OcrResult,
    OutputFormat,
    Point,
    Rect,
    RedactRequest,
    Rotation,
    TextLine,
)

from . import codec, geometry, ocr


class OpenCvSettings(DriverSettings):
    max_pixels: int = Field(codec.DEFAULT_MAX_PIXELS, ge=10_000, le=200_000_000,
                            description="largest decoded image accepted (pixels)")
    jpeg_quality: int = Field(90, ge=30, le=100)
    ocr_threads: int = Field(0, ge=0, le=64, description="onnxruntime threads for OCR (0: its default)")
    orientation_side: int = Field(960, ge=320, le=4000, description="longer side of the copy used to find the "
                                                                      "reading direction")


class OpenCvImagingDriver(ImagingDriver[OpenCvSettings]):
    name = "opencv"
    version = "0.1"

    def __init__(self, settings: OpenCvSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self._cv_version = ""

    # ---- lifecycle ------------------------------------------------------------------
    def connect(self) -> None:
        try:
            import cv2
        except ImportError as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"OpenCV not installed: {type(e).__name__}") from None
        self._cv_version = str(cv2.__version__)

    def disconnect(self) -> None:
        pass

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="OpenCV", model="imaging", firmware=self._cv_version, driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"operations": ["crop", "detect_document", "enhance", "redact", "ocr"], "ocr": ocr.available(),
                "ocrModels": "PP-OCRv4 (rapidocr-onnxruntime)" if ocr.available() else None,
                "mrz": ["TD1", "TD2", "TD3"], "maxPixels": self.s.max_pixels,
                "formats": ["jpeg", "png", "bmp", "tiff", "webp"]}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        checks = {"opencv": bool(self._cv_version), "ocrModels": ocr.available()}
        return HealthResult(level=level, ok=checks["opencv"], text="OpenCV " + self._cv_version, checks=checks)

    # ---- helpers --------------------------------------------------------------------
    def _decode(self, data: bytes) -> Any:
        return codec.decode(data, max_pixels=self.s.max_pixels)

    def _result(self, img: Any, fmt: OutputFormat, **extra: Any) -> ImageResult:
        data = codec.encode(img, fmt.value, quality=self.s.jpeg_quality)
        h, w = img.shape[:2]
        return ImageResult(image=data, format=fmt, width=w, height=h, **extra)

    @staticmethod
    def _rect(img: Any, r: Rect, field: str) -> tuple[int, int, int, int]:
        h, w = img.shape[:2]
        if r.x >= w or r.y >= h:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"rectangle starts outside the {w}x{h} image", field=field)
        return r.x, r.y, min(r.width, w - r.x), min(r.height, h - r.y)

    def _orient(self, img: Any, rotate: Rotation, ctx: OpContext) -> tuple[Any, int]:
        if rotate is Rotation.NONE:
            return img, 0
        if rotate is not Rotation.AUTO:
            deg = int(rotate.value)
            return geometry.rotate_bound(img, deg), deg
        # the text axis decides 0/180 against 90/270; OCR confidence on a small copy decides the rest
        small, _ = geometry._small(img, self.s.orientation_side)
        first = 90 if geometry.text_axis_vertical(small) else 0
        best, best_score = first, -1.0
        for deg in (first, first + 180):
            ctx.check()
            lines = ocr.read(geometry.rotate_bound(small, deg), threads=self.s.ocr_threads, min_confidence=0.3,
                             turn_lines=False)
            score = sum(ln.confidence * len(ln.text) for ln in lines)
            if score > best_score:
                best, best_score = deg, score
        return (geometry.rotate_bound(img, best) if best else img), best

    # ---- operations -----------------------------------------------------------------
    def crop(self, request: CropRequest, ctx: OpContext) -> ImageResult:
        chosen = (request.rect is not None) + (request.corners is not None) + bool(request.auto_document)
        if chosen != 1:
            raise GtsdkError(ErrorCode.INVALID_DATA, "give exactly one of rect, corners and autoDocument",
                             field="rect")
        img = self._decode(request.image)
        ctx.check()
        h, w = img.shape[:2]
        if request.rect is not None:
            x, y, cw, ch = self._rect(img, request.rect, "rect")
            return self._result(img[y:y + ch, x:x + cw], request.format)
        if request.corners is not None:
            pts = np.array([[p.x, p.y] for p in request.corners], dtype=np.float32)
            if (pts < -0.5).any() or (pts[:, 0] > w + 0.5).any() or (pts[:, 1] > h + 0.5).any():
                raise GtsdkError(ErrorCode.INVALID_DATA, f"corners lie outside the {w}x{h} image", field="corners")
            q = codec.order_corners(pts)
            import cv2

            if cv2.contourArea(q) < 4 or not cv2.isContourConvex(q.reshape(4, 1, 2)):
                raise GtsdkError(ErrorCode.INVALID_DATA, "corners do not form a convex quadrilateral",
                                 field="corners")
            return self._result(geometry.warp(img, q), request.format, corners=_points(q))
        det = geometry.detect_document(img)
        if det.corners is None:
            raise GtsdkError(ErrorCode.NO_MEDIA, "no document found in the image")
        ctx.check()
        return self._result(geometry.warp(img, det.corners), request.format, corners=_points(det.corners),
                            skew_degrees=round(det.skew_degrees, 2))

    def detect_document(self, request: DetectDocumentRequest, ctx: OpContext) -> DocumentDetection:
        img = self._decode(request.image)
        h, w = img.shape[:2]
        det = geometry.detect_document(img)
        if det.corners is None:
            return DocumentDetection(found=False, width=w, height=h, skew_degrees=geometry.skew_angle(img))
        return DocumentDetection(found=True, corners=_points(det.corners), area_ratio=round(det.area_ratio, 4),
                                 skew_degrees=round(det.skew_degrees, 2), width=w, height=h)

    def enhance(self, request: EnhanceRequest, ctx: OpContext) -> ImageResult:
        img = self._decode(request.image)
        ctx.check()
        img, rotation = self._orient(img, request.rotate, ctx)
        skew = 0.0
        if request.deskew:
            skew = geometry.skew_angle(img)
            if skew:
                img = geometry.rotate_bound(img, -skew)
        ctx.check()
        out = geometry.enhance(img, request.mode.value)
        return self._result(out, request.format, rotation=rotation, skew_degrees=skew)

    def redact(self, request: RedactRequest, ctx: OpContext) -> ImageResult:
        if not request.regions and not request.patterns:
            raise GtsdkError(ErrorCode.INVALID_DATA, "give regions or patterns to cover", field="regions")
        patterns = []
        for i, p in enumerate(request.patterns):
            try:
                patterns.append(re.compile(p))
            except re.error:
                raise GtsdkError(ErrorCode.INVALID_DATA, "not a regular expression", field=f"patterns.{i}") from None
        img = self._decode(request.image)
        rects = [self._rect(img, r, f"regions.{i}") for i, r in enumerate(request.regions)]
        if patterns:
            ctx.check()
            for ln in ocr.read(img, threads=self.s.ocr_threads, min_confidence=0.3):
                if any(p.search(ln.text.replace(" ", "")) for p in patterns):
                    xs, ys = [p[0] for p in ln.box], [p[1] for p in ln.box]
                    x0, y0 = max(0, int(min(xs)) - 2), max(0, int(min(ys)) - 2)
                    rects.append((x0, y0, int(max(xs)) - x0 + 4, int(max(ys)) - y0 + 4))
        ctx.check()
        out = geometry.redact(img, rects, request.style.value)
        return self._result(out, request.format, redacted=[Rect(x=x, y=y, width=w, height=h) for x, y, w, h in rects
                                                          if w > 0 and h > 0])

    def ocr(self, request: OcrRequest, ctx: OpContext) -> OcrResult:
        img = self._decode(request.image)
        ox = oy = 0
        if request.rect is not None:
            ox, oy, w, h = self._rect(img, request.rect, "rect")
            img = img[oy:oy + h, ox:ox + w]
        ctx.check()
        img, rotation = self._orient(img, request.rotate, ctx)
        ctx.check()
        lines = ocr.read(img, threads=self.s.ocr_threads, min_confidence=request.min_confidence)
        ctx.check()
        h, w = img.shape[:2]
        out = [TextLine(text=ln.text, confidence=round(ln.confidence, 4),
                        box=[Point(x=round(x + ox, 1), y=round(y + oy, 1)) for x, y in ln.box]) for ln in lines]
        mrz = None
        if request.mrz:
            parsed = codec.parse_mrz([ln.text for ln in lines])
            if parsed is not None:
                mrz = MrzResult(**parsed)
        return OcrResult(lines=out, text="\n".join(ln.text for ln in lines), rotation=rotation, mrz=mrz, width=w,
                         height=h)


def _points(q: Any) -> list[Point]:
    return [Point(x=round(float(x), 1), y=round(float(y), 1)) for x, y in np.asarray(q).reshape(4, 2)]
