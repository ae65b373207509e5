"""8.4 m) 语音提示 — voice prompt: speak (语音合成并播放), stop (停止播放)."""

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


class SpeakRequest(Request):
    text: str | None = Field(default=None, max_length=500)
    prompt: str | None = Field(default=None, max_length=64, description="id from the prompt catalogue, e.g. placeCard")
    language: str = Field(default="zh", pattern=r"^(zh|en)$")
    voice: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)?$",
                              description="engine voice name (default: the configured voice for the language)")
    rate: int | None = Field(default=None, ge=50, le=400, description="words per minute")
    volume: int = Field(default=100, ge=0, le=200)
    elderly: bool = Field(default=False, description="slower, clearer (7.2 e)")
    interrupt: bool = Field(default=False, description="stop what is playing first")
    wait: bool = Field(default=False, description="return when playback ends")


class Utterance(Model):
    utterance_id: str
    text: str
    duration_ms: int
    queued: int = Field(default=0, description="utterances ahead of this one when it was queued")
    played: bool = Field(default=False, description="playback finished (only with wait)")


class VoiceDriver(Driver[SettingsT], abc.ABC):
    module = "voice"

    @abc.abstractmethod
    def speak(self, request: SpeakRequest, ctx: OpContext) -> Utterance: ...

    @abc.abstractmethod
    def stop(self, request: Request, ctx: OpContext) -> Empty: ...


SPEC = ModuleSpec(
    id="voice",
    clause="8.4 m)",
    title_zh="语音提示",
    title_en="Voice prompt",
    driver_class=VoiceDriver,
    operations=operations(
        OperationSpec("speak", SpeakRequest, Utterance, summary="语音合成并播放", needs_open=False),
        OperationSpec("stop", Request, Empty, summary="停止播放", needs_open=False),
    ),
    events=("speakStarted", "speakFinished"),
)
