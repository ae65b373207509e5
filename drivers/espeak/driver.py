"""espeak-ng voice prompts (8.4 m) with a play queue, interruption and an elderly mode (7.2 e).

``speak`` synthesises in the calling operation (so a bad voice or a dead engine is
reported to the caller) and queues the audio; a player thread plays the queue in
order through ``aplay`` on an ALSA PCM and emits ``speakStarted``/``speakFinished``.
``interrupt`` (or ``stop``) kills the sound that is playing and drops what is queued.
Events carry the utterance id, never the text (an application may speak a name).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gtsdk import leftovers
from gtsdk.driver import (
    DeviceInfo,
    DeviceState,
    DriverSettings,
    Empty,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    Request,
    StateSink,
    swallowed,
)
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.voice import SpeakRequest, Utterance, VoiceDriver

from . import codec
from .engine import TtsEngine, load_engine


class EspeakSettings(DriverSettings):
    engine: str = Field("espeak", description='"espeak" or "module:Class" of a vendor TtsEngine')
    engine_options: dict[str, Any] = Field(default_factory=dict)
    espeak: str = Field("espeak-ng", description="espeak-ng executable")
    voice_zh: str = "cmn-latn-pinyin"
    voice_en: str = "en"
    rate: int = Field(160, ge=50, le=400, description="words per minute")
    elderly_rate: int = Field(115, ge=50, le=400, description="rate in elderly mode (7.2 e: slower)")
    elderly_gap: int = Field(4, ge=0, le=100, description="extra pause between words in elderly mode, 10 ms units")
    elderly_volume_boost: int = Field(20, ge=0, le=100)
    pinyin: bool = Field(True, description="convert Chinese text to tone-numbered pinyin (pypinyin) first")
    player: Literal["aplay", "none"] = "aplay"
    aplay: str = "aplay"
    device: str = Field("default", description="ALSA PCM to play on")
    alsa_config: str | None = Field(None, description="ALSA_CONFIG_PATH for the player (simulator)")
    max_queue: int = Field(16, ge=1, le=256)
    probe_when_idle: bool = Field(True, description="before queueing on an idle speaker, play 5 ms of silence so a "
                                                    "missing output is reported by speak itself")
    prompts: dict[str, dict[str, str]] = Field(default_factory=dict, description="extra or replaced prompts")


@dataclass
class _Item:
    utterance_id: str
    wav: bytes
    seconds: float
    prompt: str | None
    done: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    error: str | None = None


class EspeakVoiceDriver(VoiceDriver[EspeakSettings]):
    name = "espeak"
    version = "0.1"

    def __init__(self, settings: EspeakSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.catalogue = {**codec.PROMPTS, **self.s.prompts}
        self.engine: TtsEngine | None = None
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._current: _Item | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: the utterances' WAV files, in a folder recorded in gtsdk.leftovers' ledger so that a crashed host's
        #: successor removes it
        self._tmp: Path | None = None
        self.played = 0
        self.interrupted = 0

    # ---- lifecycle ------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.s.alsa_config:
            env["ALSA_CONFIG_PATH"] = self.s.alsa_config
        return env

    def connect(self) -> None:
        engine = load_engine(self.s.engine, self.s.engine_options, self.s.espeak)
        engine.check()
        self._probe()
        self.engine = engine
        self._tmp = leftovers.make_temp_dir("gtsdk-voice-")
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._player, name="gtsdk-voice-player", daemon=True)
        self._thread.start()

    def _probe(self) -> None:
        """The output device must accept a short silence."""
        if self.s.player != "aplay":
            return
        exe = shutil.which(self.s.aplay)
        if exe is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "aplay not found (alsa-utils)")
        try:
            r = subprocess.run([exe, "-q", "-D", self.s.device, "-"], input=codec.silence_wav(5),
                               capture_output=True, timeout=5, env=self._env())
        except (OSError, subprocess.SubprocessError):
            raise GtsdkError(ErrorCode.NO_DEVICE, "audio output does not answer") from None
        if r.returncode != 0:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"audio output {self.s.device!r} not available")

    def disconnect(self) -> None:
        self._flush(interrupted=True)
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        if self._tmp is not None:
            leftovers.remove_temp_dir(self._tmp)
            self._tmp = None

    def device_info(self) -> DeviceInfo:
        name = self.engine.name if self.engine else self.s.engine
        return DeviceInfo(vendor="eSpeak NG" if name == "espeak-ng" else "", model=name, driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        voices: list[str] = []
        with contextlib.suppress(GtsdkError):
            voices = self.engine.voices() if self.engine else []
        return {"languages": ["zh", "en"], "prompts": sorted(self.catalogue), "voices": voices,
                "elderlyMode": True, "queue": self.s.max_queue, "player": self.s.player}

    def status_detail(self) -> dict[str, Any]:
        cur = self._current
        return {"speaking": cur is not None, "queued": self._queue.qsize(), "played": self.played,
                "interrupted": self.interrupted}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        assert self.engine is not None
        wav = self.engine.synthesize("a", language="en", voice=self.s.voice_en, rate=self.s.rate, volume=100, gap=0,
                                     timeout=ctx.remaining())
        ok = codec.parse_wav(wav).seconds > 0
        return HealthResult(level=level, ok=ok, text="engine synthesises", checks={"synthesis": ok})

    # ---- operations -----------------------------------------------------------------
    def speak(self, request: SpeakRequest, ctx: OpContext) -> Utterance:
        assert self.engine is not None
        text = codec.resolve(request.text, request.prompt, request.language, self.catalogue)
        voice = request.voice or (self.s.voice_zh if request.language == "zh" else self.s.voice_en)
        rate = request.rate or self.s.rate
        gap = 0
        volume = request.volume
        if request.elderly:
            rate = min(rate, self.s.elderly_rate)
            gap = self.s.elderly_gap
            volume = min(200, volume + self.s.elderly_volume_boost)
        spoken = codec.prepare_text(text, request.language, pinyin=self.s.pinyin and voice.endswith("pinyin"))
        ctx.check()
        wav = self.engine.synthesize(spoken, language=request.language, voice=voice, rate=rate, volume=volume, gap=gap,
                                     timeout=ctx.remaining())
        info = codec.parse_wav(wav)
        ctx.check()
        if request.interrupt:
            self._flush(interrupted=True)
        if self.s.probe_when_idle and self._current is None and self._queue.empty():
            self._probe()
        ahead = self._queue.qsize() + (1 if self._current is not None else 0)
        if self._queue.qsize() >= self.s.max_queue:
            raise GtsdkError(ErrorCode.DEVICE_BUSY, f"{self.s.max_queue} prompts already queued")
        item = _Item(uuid.uuid4().hex[:16], wav, info.seconds, request.prompt)
        self._queue.put(item)
        if request.wait:
            while not item.done.is_set():
                ctx.sleep(0.02)
            if item.error:
                raise GtsdkError(item.error, "playback failed")
        return Utterance(utterance_id=item.utterance_id, text=text, duration_ms=round(info.seconds * 1000),
                         queued=ahead, played=item.done.is_set() and not item.interrupted)

    def stop(self, request: Request, ctx: OpContext) -> Empty:
        self._flush(interrupted=True)
        return Empty()

    # ---- the player -------------------------------------------------------------------
    def _flush(self, *, interrupted: bool) -> None:
        dropped: list[_Item] = []
        while True:
            try:
                it = self._queue.get_nowait()
            except queue.Empty:
                break
            if it is None:
                self._queue.put(None)
                break
            dropped.append(it)
        for it in dropped:
            it.interrupted = True
            it.done.set()
            self.emit("speakFinished", {"utteranceId": it.utterance_id, "interrupted": True, "played": False})
        with self._lock:
            cur, proc = self._current, self._proc
            if cur is not None:
                cur.interrupted = interrupted
            if proc is not None and proc.poll() is None:
                proc.kill()

    def _player(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            with self._lock:
                self._current = item
            self.emit("speakStarted", {"utteranceId": item.utterance_id, "durationMs": round(item.seconds * 1000),
                                       **({"prompt": item.prompt} if item.prompt else {})})
            try:
                self._play(item)
            except GtsdkError as e:
                item.error = e.code
            except Exception as e:  # noqa: BLE001 - the player thread must go on to the next item; logged
                swallowed("voice", "playing a prompt", e)
                item.error = ErrorCode.HARDWARE_ERROR.value
            with self._lock:
                self._current = None
                self._proc = None
            if item.interrupted:
                self.interrupted += 1
            else:
                self.played += 1
            data: dict[str, Any] = {"utteranceId": item.utterance_id, "interrupted": item.interrupted,
                                    "played": not item.interrupted and item.error is None}
            if item.error:
                data["error"] = item.error
            self.emit("speakFinished", data)
            item.done.set()

    def _play(self, item: _Item) -> None:
        if self.s.player == "none":
            return
        assert self._tmp is not None
        path = self._tmp / f"{item.utterance_id}.wav"
        path.write_bytes(item.wav)
        try:
            with self._lock:
                if item.interrupted:
                    return
                self._proc = subprocess.Popen([self.s.aplay, "-q", "-D", self.s.device, str(path)],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, env=self._env())
            proc = self._proc
            limit = time.monotonic() + item.seconds + 10.0
            while proc.poll() is None:
                if time.monotonic() > limit:
                    proc.kill()
                    raise GtsdkError(ErrorCode.HARDWARE_ERROR, "audio output hung")
                time.sleep(0.01)
            if proc.returncode != 0 and not item.interrupted:
                self.set_state(DeviceState.NO_DEVICE, "audio output failed")
                raise GtsdkError(ErrorCode.NO_DEVICE, "audio output failed")
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
