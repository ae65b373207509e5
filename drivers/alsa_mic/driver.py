"""ALSA microphone (8.4 i) through PortAudio (sounddevice).

``start_recording`` opens an input stream and returns at once; a reader thread
collects blocks, emits ``level`` events (RMS/peak dBFS every ``levelIntervalMs``) and
stops by itself at the maximum duration or after ``silenceStopMs`` of silence that
follows speech (``recordingFinished``).  ``stop_recording`` ends the recording (if it
is still running) and returns it as a WAV.  No audio is ever logged or written to disk.

``alsa_config`` points alsa-lib at another configuration (``ALSA_CONFIG_PATH``, used by
the simulator); PortAudio is re-initialised on connect so device names defined
there become visible.  This changes the variable for the whole process.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pydantic import Field

from gtsdk.driver import (
    DeviceInfo,
    DriverSettings,
    Empty,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    Request,
    StateSink,
    carrying_on,
)
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.microphone import MicrophoneDriver, Recording, StartRequest, StopReason

from . import codec


class AlsaMicSettings(DriverSettings):
    device: str | int = Field("default", description="PortAudio input device name (ALSA PCM) or index")
    alsa_config: str | None = Field(None, description="ALSA_CONFIG_PATH to load before PortAudio starts")
    block_ms: int = Field(50, ge=5, le=500, description="read block length")


class _Session:
    def __init__(self, req: StartRequest) -> None:
        self.req = req
        self.pcm = bytearray()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.reason = StopReason.REQUEST
        self.error: GtsdkError | None = None
        self.thread: threading.Thread | None = None


class AlsaMicrophoneDriver(MicrophoneDriver[AlsaMicSettings]):
    name = "alsa"
    version = "0.1"

    def __init__(self, settings: AlsaMicSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self._sd: Any = None
        self._device_name = ""
        self._session: _Session | None = None
        self.recordings = 0

    # ---- lifecycle ------------------------------------------------------------------
    def connect(self) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"PortAudio not available: {type(e).__name__}") from None
        if self.s.alsa_config:
            os.environ["ALSA_CONFIG_PATH"] = self.s.alsa_config
        try:
            sd._terminate()
            sd._initialize()
            info = sd.query_devices(self.s.device, "input")
        except (ValueError, sd.PortAudioError):
            raise GtsdkError(ErrorCode.NO_DEVICE, f"no input device {self.s.device!r}") from None
        self._sd = sd
        self._device_name = str(info["name"])

    def disconnect(self) -> None:
        sess = self._session
        if sess is not None:
            sess.stop.set()
            if sess.thread is not None:
                sess.thread.join(timeout=2)
        self._session = None
        self._sd = None

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="ALSA", model=self._device_name, driver=self.name, driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"sampleRates": [8000, 16000, 22050, 44100, 48000], "channels": [1, 2], "format": "wav/s16le",
                "levelEvents": True, "silenceDetection": True}

    def status_detail(self) -> dict[str, Any]:
        sess = self._session
        return {"recording": sess is not None and not sess.done.is_set(), "recordings": self.recordings}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        ok = self._sd is not None
        return HealthResult(level=level, ok=ok, text=f"input device {self._device_name}", checks={"device": ok})

    # ---- operations -----------------------------------------------------------------
    def start_recording(self, request: StartRequest, ctx: OpContext) -> Empty:
        if self._sd is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "microphone not connected")
        if self._session is not None and not self._session.done.is_set():
            raise GtsdkError(ErrorCode.DEVICE_BUSY, "already recording; call stop_recording first")
        sd = self._sd
        block = max(1, request.sample_rate * self.s.block_ms // 1000)
        try:
            stream = sd.RawInputStream(samplerate=request.sample_rate, channels=request.channels, dtype="int16",
                                       device=self.s.device, blocksize=block)
            stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot open the input stream: {type(e).__name__}") from None
        sess = _Session(request)
        sess.thread = threading.Thread(target=self._reader, args=(sess, stream, block), name="gtsdk-mic-reader",
                                       daemon=True)
        self._session = sess
        sess.thread.start()
        return Empty()

    def stop_recording(self, request: Request, ctx: OpContext) -> Recording:
        sess = self._session
        if sess is None:
            raise GtsdkError(ErrorCode.INVALID_STATE, "not recording; call start_recording first")
        sess.stop.set()
        while not sess.done.wait(min(0.05, max(ctx.remaining(), 0.001))):
            ctx.check()
        self._session = None
        if sess.error is not None:
            raise sess.error
        req = sess.req
        pcm = bytes(sess.pcm)
        rms, peak = codec.levels(pcm)
        frames = len(pcm) // (2 * req.channels)
        self.recordings += 1
        return Recording(wav=codec.encode_wav(pcm, req.sample_rate, req.channels),
                         duration_ms=frames * 1000 // req.sample_rate, sample_rate=req.sample_rate,
                         channels=req.channels, peak_dbfs=round(peak, 2), rms_dbfs=round(rms, 2),
                         silent=peak < req.silence_threshold_dbfs, stopped_by=sess.reason)

    # ---- the reader -------------------------------------------------------------------
    def _reader(self, sess: _Session, stream: Any, block: int) -> None:
        req = sess.req
        frame_bytes = 2 * req.channels
        max_bytes = req.sample_rate * req.max_duration_ms // 1000 * frame_bytes
        meter = codec.LevelMeter(req.level_interval_ms, req.sample_rate, req.channels)
        silence = codec.SilenceDetector(req.silence_threshold_dbfs, req.silence_stop_ms)
        block_ms = block * 1000 / req.sample_rate
        try:
            while not sess.stop.is_set():
                data, _overflow = stream.read(block)
                chunk = bytes(data)[: max_bytes - len(sess.pcm)]
                sess.pcm += chunk
                for rms, peak in meter.feed(chunk):
                    self.emit("level", {"rmsDbfs": round(rms, 1), "peakDbfs": round(peak, 1)})
                if len(sess.pcm) >= max_bytes:
                    sess.reason = StopReason.MAX_DURATION
                    break
                if silence.feed(codec.levels(chunk)[0], block_ms):
                    sess.reason = StopReason.SILENCE
                    break
        except Exception as e:  # noqa: BLE001 - PortAudio's own types when the device vanishes; noDevice below
            sess.error = GtsdkError(ErrorCode.NO_DEVICE, f"input stream failed: {type(e).__name__}")
        finally:
            with carrying_on("microphone", "closing the input stream"):
                stream.stop()
                stream.close()
            if sess.error is None:
                self.emit("recordingFinished", {"reason": sess.reason.value,
                                                "durationMs": len(sess.pcm) // frame_bytes * 1000 // req.sample_rate})
            sess.done.set()
