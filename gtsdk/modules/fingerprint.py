"""8.4 d) 指纹采集器 — fingerprint: open, close, capture, compare."""

from __future__ import annotations

import abc

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


class CaptureRequest(Request):
    with_image: bool = True
    wait_ms: int | None = Field(default=None, ge=0, le=600_000,
                                description="how long to wait for a finger before noMedia (driver default if None)")


class Capture(Model):
    quality: int = Field(ge=0, le=100, description="image quality 0..100 (higher is better)")
    template: bytes = Field(description="device-format template")
    template_format: str
    iso19794_2: bytes | None = Field(default=None, alias="iso19794_2",
                                     description="ISO/IEC 19794-2:2005 minutiae record, when available")
    image_png: bytes | None = None


class CompareRequest(Request):
    probe: bytes | None = Field(default=None, description="template to compare; None captures a live finger")
    references: list[bytes] = Field(min_length=1, max_length=16)
    threshold: int | None = Field(default=None, ge=0, description="decision threshold (driver default if None)")
    wait_ms: int | None = Field(default=None, ge=0, le=600_000, description="live finger: wait before noMedia")


class Comparison(Model):
    matched: bool
    score: int
    threshold: int
    best_index: int | None = None
    scores: list[int] = Field(default_factory=list)


class FingerprintDriver(Driver[SettingsT], abc.ABC):
    module = "fingerprint"

    @abc.abstractmethod
    def capture(self, request: CaptureRequest, ctx: OpContext) -> Capture: ...

    @abc.abstractmethod
    def compare(self, request: CompareRequest, ctx: OpContext) -> Comparison: ...


SPEC = ModuleSpec(
    id="fingerprint",
    clause="8.4 d)",
    title_zh="指纹采集器",
    title_en="Fingerprint scanner",
    driver_class=FingerprintDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开设备"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
        OperationSpec("capture", CaptureRequest, Capture, summary="采集指纹", default_timeout=30, personal_data=True),
        OperationSpec("compare", CompareRequest, Comparison, summary="指纹比对", default_timeout=30),
    ),
    events=("fingerPlaced", "fingerRemoved"),
    open_op="open",
    close_op="close",
)
