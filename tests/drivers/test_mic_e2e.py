"""Microphone (8.4 i): the real driver records through PortAudio from ALSA's file plugin fed with WAV files."""

from __future__ import annotations

import base64
import io
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from _media_fixtures import Recorder, need, wait_for

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    pytest.importorskip("sounddevice")
    t = simulated_terminal(tmp_path_factory.mktemp("mic"), modules=["microphone"])
    with t:
        wait_for(lambda: t.microphone.status().state == "online")
        yield t


def _fed(t: SimulatedTerminal) -> bytes:
    return base64.b64decode(t.simulations["microphone"].control("fed", {"raw": True})["raw"])


def _data(wav_bytes: bytes) -> tuple[int, int, bytes]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        return w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())


def test_recording_returns_what_was_fed(term: SimulatedTerminal, tmp_path: Path) -> None:
    need("espeak-ng", "soxi")
    # a real WAV file at 22 050 Hz from espeak-ng, fed through the simulator's conversion
    src = tmp_path / "in.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(src), "please place your card"], check=True)
    term.simulations["microphone"].control("feed", {"path": str(src), "silence_after": 1})
    fed = _fed(term)
    rec = Recorder(term, "microphone")
    term.microphone.start_recording(max_duration=1)
    wait_for(lambda: rec.of("recordingFinished"))
    r = term.microphone.stop_recording()
    assert r.stopped_by == "maxDuration" and r.duration_ms == 1000 and not r.silent
    rate, ch, pcm = _data(r.wav)
    assert (rate, ch) == (16000, 1)
    assert pcm == fed[:32000]  # exactly the fed samples, byte for byte
    out = tmp_path / "rec.wav"
    out.write_bytes(r.wav)
    assert subprocess.run(["soxi", "-D", str(out)], capture_output=True, text=True).stdout.strip() == "1.000000"
    assert rec.of("recordingFinished") == [{"reason": "maxDuration", "durationMs": 1000}]
    levels = rec.of("level")
    assert len(levels) == 10 and max(e["rmsDbfs"] for e in levels) > -30


def test_silence_detection_stops_after_speech(term: SimulatedTerminal) -> None:
    term.simulations["microphone"].control("feed", {"tone": 0.8, "silence_after": 5})
    rec = Recorder(term, "microphone")
    term.microphone.start_recording(max_duration=20, silence_stop=0.5, level_interval=0.2)
    wait_for(lambda: rec.of("recordingFinished"))
    r = term.microphone.stop_recording()
    assert r.stopped_by == "silence"
    assert 1300 <= r.duration_ms <= 1400  # 0.8 s of tone + 0.5 s of silence, rounded up to a read block
    lv = [e["rmsDbfs"] for e in rec.of("level")]
    assert lv[0] > -15 and lv[-1] == -120.0


def test_silence_is_reported_silent(term: SimulatedTerminal) -> None:
    term.simulations["microphone"].control("silence", {})
    term.microphone.start_recording(max_duration=0.5, silence_stop=0.2)
    wait_for(lambda: not term.microphone.status().detail["recording"])
    r = term.microphone.stop_recording()
    assert r.silent and r.stopped_by == "maxDuration" and r.peak_dbfs == -120.0  # leading silence never stops


def test_other_rate_and_stereo(term: SimulatedTerminal) -> None:
    term.simulations["microphone"].control("feed", {"tone": 1.0})
    term.microphone.start_recording(sample_rate=48000, channels=2, max_duration=0.5)
    wait_for(lambda: not term.microphone.status().detail["recording"])
    r = term.microphone.stop_recording()
    rate, ch, pcm = _data(r.wav)
    assert (rate, ch, r.duration_ms, len(pcm)) == (48000, 2, 500, 48000 * 2 * 2 // 2)
    assert r.rms_dbfs == pytest.approx(-13.5, abs=1.0)  # 0.3 full-scale sine → 20·log10(0.3/√2)


def test_stop_early_by_request(term: SimulatedTerminal) -> None:
    term.simulations["microphone"].control("feed", {"tone": 0.2})
    term.microphone.start_recording(max_duration=600)
    r = term.microphone.stop_recording()
    assert r.stopped_by in ("request", "maxDuration") and r.duration_ms < 600_000


@pytest.mark.parametrize("req,field", [
    ({"max_duration_ms": -5}, "maxDurationMs"),
    ({"max_duration_ms": 0}, "maxDurationMs"),
    ({"sample_rate": 1000}, "sampleRate"),
    ({"channels": 3}, "channels"),
    ({"silence_stop_ms": -1}, "silenceStopMs"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_requests(term: SimulatedTerminal, req: dict[str, int], field: str) -> None:
    with pytest.raises(GtsdkError) as ei:
        term.call("microphone", "start_recording", req)  # the untyped path: a request as the wire would carry it
    assert ei.value.code == ErrorCode.INVALID_DATA
    assert ei.value.field is not None and ei.value.field.replace("_", "").lower() == field.lower()


def test_state_errors(term: SimulatedTerminal) -> None:
    with pytest.raises(GtsdkError) as ei:
        term.microphone.stop_recording()
    assert ei.value.code == ErrorCode.INVALID_STATE
    term.simulations["microphone"].control("silence", {})
    term.microphone.start_recording(max_duration=600)
    with pytest.raises(GtsdkError) as ei:
        term.microphone.start_recording()
    assert ei.value.code == ErrorCode.DEVICE_BUSY
    term.microphone.stop_recording()


def test_unplugged_microphone(tmp_path: Path) -> None:
    pytest.importorskip("sounddevice")
    t = simulated_terminal(tmp_path, modules=["microphone"])
    with t:
        sim = t.simulations["microphone"]
        wait_for(lambda: t.microphone.status().state == "online")
        t.microphone.close()
        sim.control("unplug", {})
        with pytest.raises(GtsdkError) as ei:
            t.microphone.open()
        assert ei.value.code == ErrorCode.NO_DEVICE
        sim.control("replug", {})
        sim.control("feed", {"tone": 0.3})
        t.microphone.open()
        t.microphone.start_recording(max_duration=0.3)
        wait_for(lambda: not t.microphone.status().detail["recording"])
        assert not t.microphone.stop_recording().silent
