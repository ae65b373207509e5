"""End to end through one simulated terminal with all four media modules: a prompt spoken by the voice
module is captured from the simulated speaker, fed to the simulated microphone and recorded back; the
recording is the same sound.  Keyboard and imaging answer alongside."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from _media_fixtures import need, wait_for

from gtsdk.modules.imaging import Rect
from gtsdk.simulated import simulated_terminal
from gtsdk.simulators.imaging import scans

pytestmark = pytest.mark.peer


def test_speak_then_record(tmp_path: Path) -> None:
    need("espeak-ng", "aplay")
    pytest.importorskip("sounddevice")
    t = simulated_terminal(tmp_path, modules=["voice", "microphone", "keyboard", "imaging"])
    with t:
        wait_for(lambda: all(t.module(m).status().state == "online"
                             for m in ("voice", "microphone", "keyboard", "imaging")))
        t.simulations["voice"].control("captured", {})
        u = t.voice.speak(prompt="placeCard", language="zh", wait=True)
        played = t.simulations["voice"].control("captured", {"wav": True})
        assert played["rmsDbfs"] > -35 and played["seconds"] >= u.duration_ms / 1000
        t.simulations["microphone"].control("feed", {"wav": played["wav"], "silence_after": 2})
        t.microphone.start_recording(max_duration=30, silence_stop=0.8)
        wait_for(lambda: not t.microphone.status().detail["recording"])
        rec = t.microphone.stop_recording()
        assert rec.stopped_by == "silence" and not rec.silent
        with wave.open(io.BytesIO(rec.wav)) as w:
            got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        with wave.open(io.BytesIO(base64.b64decode(played["wav"]))) as w:
            sent = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        n = min(len(got), len(sent))
        assert n > 16000 and np.array_equal(got[:n], sent[:n])
        # the other two answer on the same terminal
        assert t.keyboard.show(layout="numeric").visible
        assert t.imaging.crop(image=scans.encode(np.full((50, 80, 3), 255, np.uint8)),
                              rect=Rect(x=0, y=0, width=10, height=10)).width == 10
