"""8.4 c) 手写签字板 — signature pad: open, close, get_signature."""

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


class GetSignatureRequest(Request):
    prompt: str = Field(default="请在此签名", max_length=40)


class Signature(Model):
    completed: bool = Field(description="True when the user confirmed (OK), False on cancel")
    image_png: bytes | None = None
    iso19794_7: bytes | None = Field(default=None, alias="iso19794_7",
                                     description="ISO/IEC 19794-7 full-format time series")
    points: int = 0
    strokes: int = 0
    pen_ups: int = 0
    duration_ms: int = 0


class SignaturePadDriver(Driver[SettingsT], abc.ABC):
    module = "signature_pad"

    @abc.abstractmethod
    def get_signature(self, request: GetSignatureRequest, ctx: OpContext) -> Signature: ...


SPEC = ModuleSpec(
    id="signature_pad",
    clause="8.4 c)",
    title_zh="手写签字板",
    title_en="Signature pad",
    driver_class=SignaturePadDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开设备"),
        OperationSpec("close", Request, Empty, summary="关闭设备"),
        OperationSpec("get_signature", GetSignatureRequest, Signature, summary="获取签名信息", default_timeout=120,
                      personal_data=True),
    ),
    events=("penDown", "signatureCompleted"),
    open_op="open",
    close_op="close",
)
