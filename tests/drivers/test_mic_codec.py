"""Microphone codec (8.4 i): levels, silence detection and WAV encoding."""

from __future__ import annotations

import io
import struct
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.alsa_mic import codec


def test_levels_golden() -> None:
    full = struct.pack("<4h", 32767, -32768, 32767, -32768)
    rms, peak = codec.levels(full)
    assert rms == pytest.approx(0.0, abs=0.01) and peak == pytest.approx(0.0, abs=0.01)
    assert codec.levels(bytes(100)) == (codec.FLOOR_DBFS, codec.FLOOR_DBFS)
    assert codec.levels(b"") == (codec.FLOOR_DBFS, codec.FLOOR_DBFS)
    half = struct.pack("<2h", 16384, -16384)
    assert codec.levels(half)[0] == pytest.approx(-6.02, abs=0.01)


def test_wav_encoding_reads_back() -> None:
    pcm = struct.pack("<6h", 1, 2, 3, 4, 5, 6)
    with wave.open(io.BytesIO(codec.encode_wav(pcm, 48000, 2))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (48000, 2, 2, 3)
        assert w.readframes(3) == pcm


def test_silence_detector() -> None:
    d = codec.SilenceDetector(-40.0, 300)
    assert not any(d.feed(-90, 100) for _ in range(50))  # leading silence never stops
    assert not d.feed(-10, 100)
    assert not d.feed(-90, 100) and not d.feed(-90, 100)
    assert d.feed(-90, 100)
    never = codec.SilenceDetector(-40.0, None)
    assert not any(never.feed(x, 100) for x in [-10, -90, -90, -90, -90])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-130, 0), max_size=80), st.integers(100, 2000), st.floats(-80, -10))
def test_silence_detector_stops_only_after_enough_trailing_silence(rms: list[float], stop_ms: int,
                                                                   thr: float) -> None:
    d = codec.SilenceDetector(thr, stop_ms)
    trailing, spoke = 0.0, False
    for x in rms:
        stop = d.feed(x, 50)
        if x >= thr:
            spoke, trailing = True, 0.0
        elif spoke:
            trailing += 50
        assert stop == (spoke and trailing >= stop_ms)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=20), st.integers(20, 500))
def test_level_meter_chunks_every_interval(blocks: list[bytes], interval: int) -> None:
    m = codec.LevelMeter(interval, 16000, 1)
    got = sum(len(m.feed(b)) for b in blocks)
    assert got == sum(len(b) for b in blocks) // m.bytes_per_interval
    for b in blocks:
        for rms, peak in codec.LevelMeter(interval, 16000, 1).feed(b * 50):
            assert codec.FLOOR_DBFS <= rms <= peak + 1e-9 <= 0.01
