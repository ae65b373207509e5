"""A4 colour printer through CUPS / IPP (module ``a4_printer``, clause 8.4 f)."""

from .driver import CupsDriver, CupsSettings

__all__ = ["CupsDriver", "CupsSettings"]
