"""ESC/POS receipt printers over serial or USB (module ``receipt_printer``, clause 8.4 g)."""

from .driver import EscposDriver, EscposSettings

__all__ = ["EscposDriver", "EscposSettings"]
