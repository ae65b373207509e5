"""Speech engines.  The driver talks to a :class:`TtsEngine`; espeak-ng is the default.

A vendor TTS plugs in by naming its class in the ``engine`` setting
(``"acme_tts.engine:AcmeEngine"``); the class is built with the ``engine_options``
table and must implement :class:`TtsEngine`.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Protocol, runtime_checkable

from gtsdk.errors import ErrorCode, GtsdkError

from . import codec


@runtime_checkable
class TtsEngine(Protocol):
    name: str

    def check(self) -> None:
        """Raise ``noDevice`` if the engine cannot synthesise."""

    def voices(self) -> list[str]: ...

    def synthesize(self, text: str, *, language: str, voice: str, rate: int, volume: int, gap: int,
                   timeout: float) -> bytes:
        """*text* (already prepared for *voice*) as a PCM WAV.  *rate* in words per minute,
        *volume* 0–200 (100 normal), *gap* extra pause between words in 10 ms units."""


class EspeakEngine:
    name = "espeak-ng"

    def __init__(self, executable: str = "espeak-ng") -> None:
        self.executable = executable
        self._voices: list[str] | None = None

    def _exe(self) -> str:
        exe = shutil.which(self.executable)
        if exe is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"{self.executable} not found")
        return exe

    def check(self) -> None:
        self.voices()

    def voices(self) -> list[str]:
        if self._voices is None:
            try:
                out = subprocess.run([self._exe(), "--voices"], capture_output=True, timeout=10, check=True).stdout
            except (OSError, subprocess.SubprocessError) as e:
                raise GtsdkError(ErrorCode.NO_DEVICE, f"espeak-ng does not run: {type(e).__name__}") from None
            names: list[str] = []
            for line in out.decode("utf-8", "replace").splitlines()[1:]:
                cols = line.split()
                if len(cols) >= 5:  # Pty Language Age/Gender VoiceName File (Other languages)
                    names += [cols[1], cols[4], cols[4].rsplit("/", 1)[-1]]
                    names += [c.strip("()") for c in cols[5:] if c.startswith("(")]
            self._voices = sorted(set(names))
        return self._voices

    def synthesize(self, text: str, *, language: str, voice: str, rate: int, volume: int, gap: int,
                   timeout: float) -> bytes:
        if voice not in self.voices():
            raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"espeak-ng has no voice {voice!r}", field="voice")
        cmd = [self._exe(), "-v", voice, "-s", str(rate), "-a", str(volume), "-g", str(gap), "--stdout"]
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            raise GtsdkError(ErrorCode.TIME_OUT, "speech synthesis did not finish in time") from None
        except OSError as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"espeak-ng does not run: {e.strerror}") from None
        if proc.returncode != 0 or not proc.stdout:
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"espeak-ng failed with exit code {proc.returncode}")
        return codec.fix_wav(proc.stdout)


def load_engine(spec: str, options: dict[str, Any], espeak: str) -> TtsEngine:
    """The engine named by the ``engine`` setting."""
    if spec in ("espeak", "espeak-ng"):
        return EspeakEngine(espeak)
    import importlib

    mod_name, _, cls_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
        engine = cls(**options)
    except Exception as e:  # noqa: BLE001 - a configured plugin may raise anything; reported as configError
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"TTS engine {spec!r} failed to load: {type(e).__name__}",
                         field="engine") from None
    if not isinstance(engine, TtsEngine):
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{spec!r} does not implement TtsEngine", field="engine")
    return engine
