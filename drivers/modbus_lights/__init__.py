"""Light board over Modbus RTU (clause 8.4 j)."""

from .driver import ModbusLightsDriver

__all__ = ["ModbusLightsDriver"]
