"""Binocular UVC camera pair (module ``camera``, clause 8.4 e): two OpenCV VideoCapture sources."""

from .driver import UvcPairDriver, UvcPairSettings

__all__ = ["UvcPairDriver", "UvcPairSettings"]
