"""GA 467 SAM ID card reader over a serial line (module ``idcard``)."""

from .driver import SamSerialDriver, SamSerialSettings

__all__ = ["SamSerialDriver", "SamSerialSettings"]
