"""Serial QR/barcode scanner, Honeywell / Newland / GM65-style command dialects (clause 8.4 h)."""

from .driver import SerialScannerDriver

__all__ = ["SerialScannerDriver"]
