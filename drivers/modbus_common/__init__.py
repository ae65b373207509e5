"""Modbus RTU master shared by the light-board and sensor-board drivers."""

from .line import ModbusLine, ModbusSettings

__all__ = ["ModbusLine", "ModbusSettings"]
