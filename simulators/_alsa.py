"""ALSA without a sound card: the userspace ``file`` plugin as microphone and speaker.

The kernel of a CI machine has no sound driver, but alsa-lib's plugins need none
(docs/test-peers.md §5).  This writes an ``asoundrc``
into the simulator's workdir that defines two PCMs:

``gtsdk_mic``
    capture reads raw S16_LE 16 kHz mono samples from ``mic.raw`` (the ``infile``
    of the ``file`` plugin, slave ``null``).  Every time the PCM is opened it reads
    the file from the start; past its end the plugin delivers zeros.  The null slave
    is not paced, so a recording returns as fast as the CPU reads.
``gtsdk_speaker``
    playback goes through ``plug`` (any rate/format → S16_LE 16 kHz mono) into the
    ``file`` plugin whose output file is a FIFO.  :class:`PacedSpeaker` reads that FIFO
    at real-time speed (32 000 bytes/s) with a one-page pipe buffer, so ``aplay``
    takes as long as the sound lasts (the interruption of a long prompt can be tested)
    and everything played lands in ``speaker.raw``.

Drivers reach the PCMs through their ``device`` and ``alsa_config`` settings: the
latter becomes ``ALSA_CONFIG_PATH`` for alsa-lib.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import math
import os
import select
import threading
import time
import wave
from pathlib import Path

RATE = 16000
BYTES_PER_SECOND = RATE * 2
F_SETPIPE_SZ = 1031

MIC_PCM = "gtsdk_mic"
SPEAKER_PCM = "gtsdk_speaker"


def write_asoundrc(workdir: Path, *, mic: Path | None = None, speaker_fifo: Path | None = None) -> Path:
    """Write ``workdir/asoundrc`` defining the PCMs whose files are given."""
    lines = ["</usr/share/alsa/alsa.conf>"]
    if mic is not None:
        lines += [
            f'pcm.{MIC_PCM}_file {{ type file slave.pcm "null" file "/dev/null" infile "{mic}" format "raw" }}',
            f"pcm.{MIC_PCM} {{ type plug slave {{ pcm \"{MIC_PCM}_file\" format S16_LE rate {RATE} channels 1 }} }}",
        ]
    if speaker_fifo is not None:
        lines += [
            f'pcm.{SPEAKER_PCM}_file {{ type file slave.pcm "null" file "{speaker_fifo}" format "raw" }}',
            f"pcm.{SPEAKER_PCM} {{ type plug slave {{ pcm \"{SPEAKER_PCM}_file\" format S16_LE rate {RATE} "
            "channels 1 } }",
        ]
    path = workdir / "asoundrc"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def wav_to_raw16k(data: bytes) -> bytes:
    """Any PCM WAV (8/16-bit, mono/stereo, any rate) → raw S16_LE 16 kHz mono (linear resampling)."""
    import numpy as np

    with wave.open(io.BytesIO(data)) as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        frames = w.readframes(n)
    if width == 2:
        a = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    elif width == 1:
        a = (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    else:
        raise ValueError(f"unsupported sample width {width}")
    if ch > 1:
        a = a.reshape(-1, ch).mean(axis=1)
    if rate != RATE and len(a):
        out_n = round(len(a) * RATE / rate)
        a = np.interp(np.arange(out_n) * (rate / RATE), np.arange(len(a)), a)
    return bytes(np.clip(np.round(a), -32768, 32767).astype("<i2").tobytes())


def raw_to_wav(raw: bytes, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(raw)
    return buf.getvalue()


def measure(raw: bytes, rate: int = RATE) -> dict[str, float]:
    """Duration (s), RMS and peak (dBFS) of raw S16_LE mono."""
    import numpy as np

    n = len(raw) // 2
    if n == 0:
        return {"seconds": 0.0, "rmsDbfs": -120.0, "peakDbfs": -120.0}
    a = np.frombuffer(raw[: n * 2], dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(a * a)))
    peak = float(np.max(np.abs(a)))
    return {"seconds": n / rate, "rmsDbfs": 20 * math.log10(max(rms, 1e-6) / 32768.0),
            "peakDbfs": 20 * math.log10(max(peak, 1e-6) / 32768.0)}


class PacedSpeaker:
    """Reads the speaker FIFO at real-time speed into ``speaker.raw``."""

    def __init__(self, fifo: Path, capture: Path, *, realtime: bool = True) -> None:
        self.fifo = fifo
        self.capture = capture
        self.realtime = realtime
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._fd = -1
        self._thread: threading.Thread | None = None
        self.last_data = 0.0

    def start(self) -> PacedSpeaker:
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        os.mkfifo(self.fifo, 0o600)
        self.capture.write_bytes(b"")
        # O_RDWR: the FIFO always has a reader and a writer, so the plugin's open never blocks
        # and our reads never see EOF between two players.
        self._fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._fd, F_SETPIPE_SZ, 4096)
        self._thread = threading.Thread(target=self._loop, name="gtsdk-sim-speaker", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        t0 = time.monotonic()
        budget_base = 0
        with open(self.capture, "ab") as out:
            while not self._stop.is_set():
                r, _, _ = select.select([self._fd], [], [], 0.05)
                if not r:
                    # idle: restart the real-time budget so a new sound is paced from now
                    t0, budget_base = time.monotonic(), 0
                    continue
                allowed = 4096
                if self.realtime:
                    allowed = int((time.monotonic() - t0) * BYTES_PER_SECOND) - budget_base + 640
                    if allowed < 2:
                        time.sleep(0.005)
                        continue
                try:
                    chunk = os.read(self._fd, min(allowed, 4096) & ~1)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                if chunk:
                    budget_base += len(chunk)
                    self.last_data = time.monotonic()
                    with self._lock:
                        out.write(chunk)
                        out.flush()

    def drain(self, quiet: float = 0.25, limit: float = 10.0) -> None:
        """Wait until nothing has arrived for *quiet* seconds."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if time.monotonic() - self.last_data >= quiet:
                r, _, _ = select.select([self._fd], [], [], 0)
                if not r:
                    return
            time.sleep(0.02)

    def take(self) -> bytes:
        """Everything played since the last take (raw S16_LE 16 kHz mono)."""
        with self._lock:
            data = self.capture.read_bytes()
            self.capture.write_bytes(b"")
        return data

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
