"""Sensor board over Modbus RTU (clause 8.4 k; alarms 9.1.1.1 b)."""

from .driver import ModbusSensorsDriver

__all__ = ["ModbusSensorsDriver"]
