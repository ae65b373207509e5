"""ZhianTec / Synochip AS608 / R30x fingerprint modules (UART protocol; clause 8.4 d)."""

from gtsdk.drivers.zhiantec.driver import Session, ZhiantecDriver, ZhiantecSettings

__all__ = ["Session", "ZhiantecDriver", "ZhiantecSettings"]
