"""ICAO 9303 eMRTD reader over PC/SC (module ``travel_doc``)."""

from .driver import IcaoPcscDriver, IcaoPcscSettings

__all__ = ["IcaoPcscDriver", "IcaoPcscSettings"]
