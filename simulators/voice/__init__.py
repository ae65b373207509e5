"""Voice prompt simulator: a speaker made of ALSA's ``file`` plugin (see :mod:`gtsdk.simulators._alsa`).

The real driver runs espeak-ng and the real ``aplay``; the sound goes through ALSA's
``plug`` and ``file`` plugins into a FIFO that is drained at real-time speed, so
playback lasts as long as the sound and the audio can be measured afterwards.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action
from gtsdk.simulators import _alsa


class VoiceSimulation:
    module = "voice"
    driver = "espeak"

    def __init__(self, workdir: Path, *, realtime: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.fifo = workdir / "speaker.fifo"
        self.speaker = _alsa.PacedSpeaker(self.fifo, workdir / "speaker.raw", realtime=realtime).start()
        self.asoundrc = _alsa.write_asoundrc(workdir, speaker_fifo=self.fifo)
        self.settings: dict[str, Any] = {"device": _alsa.SPEAKER_PCM, "alsa_config": str(self.asoundrc)}

    def describe(self) -> str:
        return f"ALSA speaker {_alsa.SPEAKER_PCM} ({self.asoundrc}) captured to {self.workdir / 'speaker.raw'}"

    def actions(self) -> dict[str, str]:
        return {
            "captured": "duration/RMS/peak of what was played since the last take; params: wav=true to get the "
                        "audio (base64 WAV, 16 kHz mono), keep=true to leave it in place",
            "drain": "wait until the speaker has been quiet for 0.25 s",
            "unplug": "remove the speaker (the FIFO disappears; playback fails)",
            "replug": "bring the speaker back",
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "drain":
            self.speaker.drain()
            return {"ok": True}
        if action == "captured":
            self.speaker.drain()
            raw = self.speaker.take()
            if params.get("keep"):
                with open(self.speaker.capture, "ab") as f:
                    f.write(raw)
            out: dict[str, Any] = _alsa.measure(raw)
            out["bytes"] = len(raw)
            if params.get("wav"):
                out["wav"] = base64.b64encode(_alsa.raw_to_wav(raw)).decode()
            return out
        if action == "unplug":
            self.speaker.stop()
            self.asoundrc.write_text("</usr/share/alsa/alsa.conf>\n", encoding="ascii")
            return {"ok": True}
        if action == "replug":
            self.speaker = _alsa.PacedSpeaker(self.fifo, self.workdir / "speaker.raw",
                                              realtime=self.speaker.realtime).start()
            _alsa.write_asoundrc(self.workdir, speaker_fifo=self.fifo)
            return {"ok": True}
        raise unknown_action(self, action)

    def stop(self) -> None:
        self.speaker.stop()


def start(workdir: Path) -> VoiceSimulation:
    try:
        return VoiceSimulation(workdir)
    except OSError as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot create the simulated speaker: {e.strerror}") from None
