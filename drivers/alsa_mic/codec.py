"""Pure parts of the microphone driver: levels, silence detection, WAV encoding (no I/O)."""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass

import numpy as np

FLOOR_DBFS = -120.0


def dbfs(value: float) -> float:
    """Level of a sample magnitude (0..32768) in dB relative to full scale, floored at -120."""
    if value <= 0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(value / 32768.0))


def levels(block: bytes) -> tuple[float, float]:
    """(RMS dBFS, peak dBFS) of interleaved S16_LE samples."""
    n = len(block) // 2
    if n == 0:
        return FLOOR_DBFS, FLOOR_DBFS
    a = np.frombuffer(block[: n * 2], dtype="<i2").astype(np.float64)
    return dbfs(float(np.sqrt(np.mean(a * a)))), dbfs(float(np.max(np.abs(a))))


def encode_wav(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


@dataclass
class SilenceDetector:
    """Stops a recording after *stop_ms* of silence that follows speech.

    A block is speech when its RMS is at or above *threshold_dbfs*.  Leading silence
    (before anyone spoke) never stops the recording; the maximum duration does.
    """

    threshold_dbfs: float
    stop_ms: int | None
    speech_seen: bool = False
    trailing_ms: float = 0.0

    def feed(self, rms_dbfs: float, block_ms: float) -> bool:
        """Account one block; True when the recording should stop now."""
        if rms_dbfs >= self.threshold_dbfs:
            self.speech_seen = True
            self.trailing_ms = 0.0
            return False
        if self.speech_seen:
            self.trailing_ms += block_ms
        return self.stop_ms is not None and self.speech_seen and self.trailing_ms >= self.stop_ms


class LevelMeter:
    """Accumulates blocks and yields one (rms, peak) pair per *interval_ms* of audio."""

    def __init__(self, interval_ms: int, sample_rate: int, channels: int) -> None:
        self.bytes_per_interval = max(2 * channels, sample_rate * channels * 2 * interval_ms // 1000)
        self.buf = bytearray()

    def feed(self, block: bytes) -> list[tuple[float, float]]:
        self.buf += block
        out: list[tuple[float, float]] = []
        while len(self.buf) >= self.bytes_per_interval:
            chunk = bytes(self.buf[: self.bytes_per_interval])
            del self.buf[: self.bytes_per_interval]
            out.append(levels(chunk))
        return out
