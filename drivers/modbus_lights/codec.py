"""Light-board commands as Modbus RTU frames (pure, no I/O).

Two board profiles (docs/protocols.md §5.1: no public kiosk light-board protocol exists; generic
Modbus relay boards are the documented pattern):

- **relay board** (``board_flash`` unset): one coil per channel, FC05 on/off
  (``01 05 00 00 FF 00 8C 3A`` = channel 0 on, IO-Box README).  Flashing is done by the
  driver, which toggles the coil on a timer thread (see :func:`flash_level`).
- **board with a flash register** (``board_flash`` set): per channel a mode holding register
  (0 off, 1 steady, 2 flash) at ``mode_base + channel``, period in ms at ``period_base + channel``
  and duty in percent at ``duty_base + channel``; the board flashes by itself.
"""

from __future__ import annotations

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.transport import modbus_frames as rtu

MODE_OFF, MODE_ON, MODE_FLASH = 0, 1, 2
MODES = {"off": MODE_OFF, "on": MODE_ON, "flash": MODE_FLASH}


class BoardFlash(Model):
    """Register layout of a board that flashes by itself."""

    mode_base: int = 0
    period_base: int = 16
    duty_base: int = 32


def resolve(lights: dict[str, int], name: str) -> int:
    """Channel of logical light *name*; ``invalidData`` (field ``light``) if it is not configured."""
    try:
        return lights[name]
    except KeyError:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown light {name!r}; configured: {', '.join(sorted(lights))}",
                         field="light") from None


def steady_frames(device: int, channel: int, on: bool, board: BoardFlash | None) -> list[bytes]:
    if board is None:
        return [rtu.write_coil_request(device, channel, on)]
    return [rtu.write_register_request(device, board.mode_base + channel, MODE_ON if on else MODE_OFF)]


def flash_frames(device: int, channel: int, period_ms: int, duty: float, board: BoardFlash) -> list[bytes]:
    """Frames that make a flash-capable board flash (period and duty first, then the mode)."""
    return [
        rtu.write_register_request(device, board.period_base + channel, period_ms),
        rtu.write_register_request(device, board.duty_base + channel, duty_percent(duty)),
        rtu.write_register_request(device, board.mode_base + channel, MODE_FLASH),
    ]


def duty_percent(duty: float) -> int:
    return max(1, min(99, round(duty * 100)))


def flash_level(elapsed: float, period_ms: int, duty: float) -> bool:
    """Whether a light flashing since *elapsed* seconds ago is lit now (on for the first *duty* of each period)."""
    if period_ms <= 0 or elapsed < 0:
        raise ValueError("period and elapsed time must be positive")
    period = period_ms / 1000.0
    return (elapsed % period) < duty * period


def next_edge(elapsed: float, period_ms: int, duty: float) -> float:
    """Seconds from *elapsed* to the next on/off change of :func:`flash_level`."""
    period = period_ms / 1000.0
    phase = elapsed % period
    on_for = duty * period
    return (on_for - phase) if phase < on_for else (period - phase)
