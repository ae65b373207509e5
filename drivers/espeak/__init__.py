"""Voice prompt driver (8.4 m) on espeak-ng, played through ALSA."""

from .driver import EspeakSettings, EspeakVoiceDriver
from .engine import EspeakEngine, TtsEngine

__all__ = ["EspeakEngine", "EspeakSettings", "EspeakVoiceDriver", "TtsEngine"]
