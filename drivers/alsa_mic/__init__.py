"""Microphone driver (8.4 i) on PortAudio/ALSA through sounddevice."""

from .driver import AlsaMicrophoneDriver, AlsaMicSettings

__all__ = ["AlsaMicSettings", "AlsaMicrophoneDriver"]
