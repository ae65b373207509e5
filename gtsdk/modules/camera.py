"""8.4 e) 双目摄像头 — binocular camera: init, capture, face_compare, liveness.

Results carry scores and thresholds; the app makes the decision (9.4.1 e).
"""

from __future__ import annotations

import abc
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


class View(StrEnum):
    RGB = "rgb"
    NIR = "nir"
    LEFT = "left"
    RIGHT = "right"


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"


class InitRequest(Request):
    width: int | None = Field(default=None, ge=160, le=4096)
    height: int | None = Field(default=None, ge=120, le=4096)


class CaptureRequest(Request):
    view: View = View.RGB
    format: ImageFormat = ImageFormat.JPEG
    require_face: bool = False


class Photo(Model):
    image: bytes
    format: ImageFormat
    width: int
    height: int
    quality: dict[str, float] = Field(default_factory=dict, description="sharpness, brightness, faceSize, yaw, pitch")


class FaceCompareRequest(Request):
    reference: bytes = Field(description="reference face image (ID card photo, DG2 or any image)")
    probe: bytes | None = Field(default=None, description="image to compare; None captures the live face")
    threshold: float | None = Field(default=None, gt=0)


class FaceComparison(Model):
    distance: float
    similarity: float
    threshold: float
    suggested_match: bool = Field(description="distance <= threshold; the app decides (9.4.1 e)")
    model: str = ""


class LivenessRequest(Request):
    checks: list[str] | None = Field(default=None, max_length=8, description="subset of the driver's checks; None: all")
    challenge: bool = False


class LivenessCheck(Model):
    name: str
    score: float
    threshold: float
    passed: bool
    detail: str = ""


class Liveness(Model):
    suggested_live: bool
    score: float
    checks: list[LivenessCheck]


class CameraDriver(Driver[SettingsT], abc.ABC):
    module = "camera"

    @abc.abstractmethod
    def init(self, request: InitRequest, ctx: OpContext) -> Empty: ...

    @abc.abstractmethod
    def capture(self, request: CaptureRequest, ctx: OpContext) -> Photo: ...

    @abc.abstractmethod
    def face_compare(self, request: FaceCompareRequest, ctx: OpContext) -> FaceComparison: ...

    @abc.abstractmethod
    def liveness(self, request: LivenessRequest, ctx: OpContext) -> Liveness: ...


SPEC = ModuleSpec(
    id="camera",
    clause="8.4 e)",
    title_zh="双目摄像头",
    title_en="Binocular camera",
    driver_class=CameraDriver,
    operations=operations(
        OperationSpec("init", InitRequest, Empty, summary="设备初始化", needs_open=False),
        OperationSpec("capture", CaptureRequest, Photo, summary="照片获取", personal_data=True),
        OperationSpec("face_compare", FaceCompareRequest, FaceComparison, summary="人脸比对"),
        OperationSpec("liveness", LivenessRequest, Liveness, summary="活体检测"),
    ),
    events=("faceDetected", "livenessChallenge"),
    open_op="init",
)
