"""8.4 i) 拾音器 — microphone: open, close, start_recording, stop_recording."""

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


class StopReason(StrEnum):
    REQUEST = "request"
    MAX_DURATION = "maxDuration"
    SILENCE = "silence"


class StartRequest(Request):
    sample_rate: int = Field(default=16000, ge=8000, le=48000)
    channels: int = Field(default=1, ge=1, le=2)
    max_duration_ms: int = Field(default=60_000, ge=100, le=600_000)
    silence_stop_ms: int | None = Field(default=None, ge=100, le=60_000,
                                        description="stop by itself after this much silence following speech")
    silence_threshold_dbfs: float = Field(default=-45.0, ge=-100.0, le=0.0,
                                          description="below this RMS a block is silence")
    level_interval_ms: int = Field(default=100, ge=20, le=5_000, description="period of the level events")


class Recording(Model):
    wav: bytes
    duration_ms: int
    sample_rate: int
    channels: int
    peak_dbfs: float
    rms_dbfs: float = -120.0
    silent: bool
    stopped_by: StopReason = StopReason.REQUEST


class MicrophoneDriver(Driver[SettingsT], abc.ABC):
    module = "microphone"

    @abc.abstractmethod
    def start_recording(self, request: StartRequest, ctx: OpContext) -> Empty: ...

    @abc.abstractmethod
    def stop_recording(self, request: Request, ctx: OpContext) -> Recording: ...


SPEC = ModuleSpec(
    id="microphone",
    clause="8.4 i)",
    title_zh="拾音器",
    title_en="Microphone",
    driver_class=MicrophoneDriver,
    operations=operations(
        OperationSpec("open", Request, Empty, summary="打开拾音器"),
        OperationSpec("close", Request, Empty, summary="关闭拾音器"),
        OperationSpec("start_recording", StartRequest, Empty, summary="开始录音"),
        OperationSpec("stop_recording", Request, Recording, summary="结束录音", personal_data=True),
    ),
    events=("level", "recordingFinished"),
    open_op="open",
    close_op="close",
)
