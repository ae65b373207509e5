"""Microphone simulator: ALSA's ``file`` plugin reading WAV content as capture (docs/test-peers.md §5).

The real driver opens the PCM ``gtsdk_mic`` through PortAudio exactly as it would open
a USB microphone; alsa-lib delivers the samples of ``mic.raw`` (S16_LE 16 kHz mono, made
from whatever WAV is fed, any rate or channel count), then zeros.  Each recording reads
the file from its start.  The null slave is not paced, so recordings finish as fast as
they are read: use ``maxDurationMs`` or ``silenceStopMs`` to end them.  Past the end
of its ``infile`` the plugin hands on the null slave's junk, not silence, so every feed
is followed by :data:`PAD_SECONDS` of zeros (a quiet room).
"""

from __future__ import annotations

import base64
import math
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action
from gtsdk.simulators import _alsa


def tone(seconds: float, freq: float = 440.0, amplitude: float = 0.3, rate: int = _alsa.RATE) -> bytes:
    n = int(seconds * rate)
    a = int(amplitude * 32767)
    return b"".join(struct.pack("<h", int(a * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))


PAD_SECONDS = 30


class MicrophoneSimulation:
    module = "microphone"
    driver = "alsa"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.mic = workdir / "mic.raw"
        self.unplugged = workdir / "mic.raw.unplugged"
        self.fed_len = 0
        self.feed_raw(b"")
        self.asoundrc = _alsa.write_asoundrc(workdir, mic=self.mic)
        self.settings: dict[str, Any] = {"device": _alsa.MIC_PCM, "alsa_config": str(self.asoundrc)}

    def describe(self) -> str:
        return f"ALSA microphone {_alsa.MIC_PCM} ({self.asoundrc}) reading {self.mic}"

    def actions(self) -> dict[str, str]:
        return {
            "feed": "what the microphone hears next: wav=<base64 WAV> | path=<WAV file> | "
                    "say=<text> (espeak-ng, voice=...) | tone=<seconds>; silence_after=<seconds> of zeros",
            "silence": "the microphone hears nothing",
            "fed": "duration/RMS of what is being fed and the raw samples (base64) with raw=true",
            "unplug": "the PCM disappears from the ALSA configuration",
            "replug": "the PCM comes back",
        }

    def feed_raw(self, raw: bytes) -> dict[str, Any]:
        self.fed_len = len(raw)
        self.mic.write_bytes(raw + bytes(PAD_SECONDS * _alsa.BYTES_PER_SECOND))
        return _alsa.measure(raw)

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "feed":
            raw = self._source(params)
            raw += bytes(int(float(params.get("silence_after", 0)) * _alsa.BYTES_PER_SECOND) & ~1)
            return self.feed_raw(raw)
        if action == "silence":
            return self.feed_raw(b"")
        if action == "fed":
            raw = self.mic.read_bytes()[: self.fed_len]
            out: dict[str, Any] = _alsa.measure(raw)
            if params.get("raw"):
                out["raw"] = base64.b64encode(raw).decode()
            return out
        if action == "unplug":  # the PCM leaves the configuration and its file goes away
            self.asoundrc.write_text("</usr/share/alsa/alsa.conf>\n", encoding="ascii")
            if self.mic.exists():
                self.mic.rename(self.unplugged)
            return {"ok": True}
        if action == "replug":
            if self.unplugged.exists():
                self.unplugged.rename(self.mic)
            _alsa.write_asoundrc(self.workdir, mic=self.mic)
            return {"ok": True}
        raise unknown_action(self, action)

    def _source(self, params: dict[str, Any]) -> bytes:
        try:
            if "wav" in params:
                return _alsa.wav_to_raw16k(base64.b64decode(params["wav"]))
            if "path" in params:
                return _alsa.wav_to_raw16k(Path(params["path"]).read_bytes())
            if "tone" in params:
                return tone(float(params["tone"]), float(params.get("freq", 440.0)))
            if "say" in params:
                exe = shutil.which("espeak-ng")
                if exe is None:
                    raise GtsdkError(ErrorCode.NO_DEVICE, "espeak-ng not installed")
                wav = subprocess.run([exe, "-v", str(params.get("voice", "en")), "--stdout"],
                                     input=str(params["say"]).encode(), capture_output=True, check=True,
                                     timeout=30).stdout
                from gtsdk.drivers.espeak.codec import fix_wav

                return _alsa.wav_to_raw16k(fix_wav(wav))
        except (ValueError, OSError, EOFError, subprocess.SubprocessError) as e:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"cannot use that audio: {type(e).__name__}") from None
        raise GtsdkError(ErrorCode.INVALID_DATA, "feed needs wav, path, say or tone", field="params")

    def stop(self) -> None:
        pass


def start(workdir: Path) -> MicrophoneSimulation:
    return MicrophoneSimulation(workdir)
