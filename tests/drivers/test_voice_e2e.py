"""Voice prompts (8.4 m, 7.2 e) with the real espeak-ng and aplay, played into the ALSA file-plugin speaker."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _media_fixtures import Recorder, need, sox_stat, wait_for

from gtsdk.drivers.espeak import EspeakEngine, codec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

pytestmark = pytest.mark.peer

LONG_EN = "This is a long announcement that keeps on going for several seconds so that it can be interrupted."


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    need("espeak-ng", "aplay", "sox")
    t = simulated_terminal(tmp_path_factory.mktemp("voice"), modules=["voice"])
    with t:
        wait_for(lambda: t.voice.status().state == "online")
        yield t


def _captured(t: SimulatedTerminal, **kw: Any) -> dict[str, Any]:
    return t.simulations["voice"].control("captured", kw)


def test_espeak_mandarin_is_real_speech(tmp_path: Path) -> None:
    need("espeak-ng", "sox")
    eng = EspeakEngine()
    text = codec.prepare_text(codec.PROMPTS["insertIdCard"]["zh"], "zh")
    wav = eng.synthesize(text, language="zh", voice="cmn-latn-pinyin", rate=160, volume=100, gap=0, timeout=10)
    p = tmp_path / "zh.wav"
    p.write_bytes(wav)
    st = sox_stat(p)
    assert st["Length (seconds)"] > 1.0
    assert st["RMS     amplitude"] > 0.02  # not silence
    slow = eng.synthesize(text, language="zh", voice="cmn-latn-pinyin", rate=115, volume=100, gap=4, timeout=10)
    assert codec.parse_wav(slow).seconds > 1.3 * codec.parse_wav(wav).seconds  # elderly mode is slower (7.2 e)


def test_speak_prompt_plays_through_alsa(term: SimulatedTerminal) -> None:
    _captured(term)
    rec = Recorder(term, "voice")
    u = term.voice.speak(prompt="placeCard", language="zh", wait=True)
    assert u.text == "请放置证件" and u.played and u.duration_ms > 800
    got = _captured(term, wav=True)
    # the simulated speaker received what espeak-ng synthesised: same length (plug resampling and
    # period padding add a little), clearly not silence
    assert got["seconds"] == pytest.approx(u.duration_ms / 1000, abs=0.35)
    assert got["rmsDbfs"] > -35
    with wave.open(io.BytesIO(__import__("base64").b64decode(got["wav"]))) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
    assert [e["utteranceId"] for e in rec.of("speakStarted")] == [u.utterance_id]
    fin = rec.of("speakFinished")
    assert fin == [{"utteranceId": u.utterance_id, "interrupted": False, "played": True}]
    assert all("text" not in e for e in rec.events)  # events never carry what was said


def test_queue_plays_in_order(term: SimulatedTerminal) -> None:
    _captured(term)
    rec = Recorder(term, "voice")
    a = term.voice.speak(text="one", language="en")
    b = term.voice.speak(text="two", language="en")
    c = term.voice.speak(text="three", language="en", wait=True)
    assert (a.queued, b.queued >= 1, c.queued >= 1) == (0, True, True)
    assert [e["utteranceId"] for e in rec.of("speakStarted")] == [a.utterance_id, b.utterance_id, c.utterance_id]
    total = (a.duration_ms + b.duration_ms + c.duration_ms) / 1000
    assert _captured(term)["seconds"] == pytest.approx(total, abs=0.5)


def test_interrupt_cuts_the_long_prompt(term: SimulatedTerminal) -> None:
    _captured(term)
    rec = Recorder(term, "voice")
    long = term.voice.speak(text=LONG_EN, language="en")
    assert long.duration_ms > 4000
    wait_for(lambda: rec.of("speakStarted"))
    short = term.voice.speak(text="Stop.", language="en", interrupt=True, wait=True)
    fin = {e["utteranceId"]: e for e in rec.of("speakFinished")}
    assert fin[long.utterance_id]["interrupted"] is True and fin[long.utterance_id]["played"] is False
    assert fin[short.utterance_id]["played"] is True
    played = _captured(term)["seconds"]
    assert played < (long.duration_ms + short.duration_ms) / 1000 - 1.5


def test_stop_drops_queue(term: SimulatedTerminal) -> None:
    rec = Recorder(term, "voice")
    first = term.voice.speak(text=LONG_EN, language="en")
    queued = term.voice.speak(text="never heard", language="en")
    wait_for(lambda: rec.of("speakStarted"))
    term.voice.stop()
    wait_for(lambda: len(rec.of("speakFinished")) == 2)
    fin = {e["utteranceId"]: e for e in rec.of("speakFinished")}
    assert fin[first.utterance_id]["interrupted"] and fin[queued.utterance_id] == {
        "utteranceId": queued.utterance_id, "interrupted": True, "played": False}
    assert [e["utteranceId"] for e in rec.of("speakStarted")] == [first.utterance_id]
    _captured(term)


def test_elderly_and_rate(term: SimulatedTerminal) -> None:
    normal = term.voice.speak(prompt="takeReceipt", language="en", rate=200)
    elderly = term.voice.speak(prompt="takeReceipt", language="en", elderly=True)
    term.voice.stop()
    assert elderly.duration_ms > 1.4 * normal.duration_ms
    caps = term.voice.capabilities().features
    assert "placeCard" in caps["prompts"] and "cmn-latn-pinyin" in caps["voices"]
    _captured(term)


@pytest.mark.parametrize("req,code,field", [
    ({"prompt": "nope"}, ErrorCode.INVALID_DATA, "prompt"),
    ({"text": "a", "prompt": "placeCard"}, ErrorCode.INVALID_DATA, "text"),
    ({}, ErrorCode.INVALID_DATA, "text"),
    ({"text": "a", "rate": 10}, ErrorCode.INVALID_DATA, "rate"),
    ({"text": "a", "volume": -1}, ErrorCode.INVALID_DATA, "volume"),
    ({"text": "a", "language": "fr"}, ErrorCode.INVALID_DATA, "language"),
    ({"text": "a", "voice": "no-such-voice"}, ErrorCode.UNSUPPORTED_DATA, "voice"),
    ({"text": "a", "voice": "../../etc"}, ErrorCode.INVALID_DATA, "voice"),
    ({"text": "x" * 501}, ErrorCode.INVALID_DATA, "text"),
])
def test_bad_requests(term: SimulatedTerminal, req: dict[str, Any], code: ErrorCode, field: str) -> None:
    with pytest.raises(GtsdkError) as ei:
        term.voice.speak(**req)
    assert ei.value.code == code and ei.value.field == field


def test_speaker_unplugged_then_back(tmp_path: Path) -> None:
    need("espeak-ng", "aplay")
    t = simulated_terminal(tmp_path, modules=["voice"])
    with t:
        sim = t.simulations["voice"]
        wait_for(lambda: t.voice.status().state == "online")
        sim.control("unplug", {})
        with pytest.raises(GtsdkError) as ei:
            t.voice.speak(text="hello", language="en", wait=True)
        assert ei.value.code == ErrorCode.NO_DEVICE
        wait_for(lambda: t.voice.status().state == "noDevice")
        sim.control("replug", {})
        u = wait_for(lambda: _try_speak(t), limit=10)
        assert u.played
        assert sim.control("captured", {})["rmsDbfs"] > -35


def _try_speak(t: SimulatedTerminal) -> Any:
    try:
        return t.voice.speak(text="hello", language="en", wait=True)
    except GtsdkError:
        return None


class ToneEngine:
    """A stand-in vendor TTS: a 440 Hz tone as long as the text (proves the engine is pluggable)."""

    name = "tone"

    def __init__(self, ms_per_char: int = 50) -> None:
        self.ms = ms_per_char

    def check(self) -> None:
        pass

    def voices(self) -> list[str]:
        return ["tone"]

    def synthesize(self, text: str, *, language: str, voice: str, rate: int, volume: int, gap: int,
                   timeout: float) -> bytes:
        import math
        import struct

        n = 16 * self.ms * len(text)
        pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000))) for i in range(n))
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm)
        return buf.getvalue()


def test_vendor_engine_plugs_in(tmp_path: Path) -> None:
    need("aplay")
    from _media_fixtures import terminal_for

    from gtsdk.simulators.voice import VoiceSimulation

    sim = VoiceSimulation(tmp_path)
    try:
        t = terminal_for("voice", "espeak", {**sim.settings, "engine": "test_voice_e2e:ToneEngine",
                                             "engine_options": {"ms_per_char": 40}, "voice_en": "tone"})
        with t:
            u = t.voice.speak(text="abcdefghij", language="en", wait=True)
            assert u.duration_ms == 400
            got = sim.control("captured", {})
            # aplay pads its last period with silence: at least the tone, at most a period more
            assert 0.39 <= got["seconds"] <= 0.75 and got["rmsDbfs"] > -20
            assert t.voice.capabilities().device.model == "tone"
    finally:
        sim.stop()
