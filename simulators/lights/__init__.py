"""Light-board simulator: a pymodbus RTU server (device 1) on a pty, paced at the baud rate.

The board has 16 coils (relays) and 48 holding registers (mode/period/duty per channel at
0/16/32, used only when the driver is configured with ``board_flash``).  Every coil write
is time-stamped, so a test can see the driver flash a relay board.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from gtsdk.sim import unknown_action
from gtsdk.simulators._history import History
from gtsdk.simulators._modbus import FAULT_ACTIONS, ModbusPtyServer

DEVICE = 1
CHANNELS = 16


class LightBoard:
    def __init__(self) -> None:
        self.coils = [False] * CHANNELS
        self.holding = [0] * 48
        self.toggles: History[tuple[float, int, bool]] = History()
        self.lock = threading.Lock()

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     current_registers: list[int], set_values: list[Any] | None) -> None:
        if set_values is None:
            return None
        now = time.monotonic()
        with self.lock:
            if function_code in (5, 15):
                for i, v in enumerate(set_values):
                    ch = address + i
                    if 0 <= ch < CHANNELS and self.coils[ch] != bool(v):
                        self.coils[ch] = bool(v)
                        self.toggles.append((now, ch, bool(v)))
                del self.toggles[:-2000]
            elif function_code in (6, 16):
                for i, v in enumerate(set_values):
                    if 0 <= address + i < len(self.holding):
                        self.holding[address + i] = int(v)
        return None

    def sim_device(self, device: int = DEVICE) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        return SimDevice(id=device, action=self.action, simdata=(
            [SimData(0, count=CHANNELS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=CHANNELS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=48, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]))


class LightsSimulation:
    module = "lights"
    driver = "modbus_rtu"

    def __init__(self, workdir: Path, *, baudrate: int = 9600, board_flash: bool = False, pace: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.board = LightBoard()
        self.server = ModbusPtyServer([self.board.sim_device()], baudrate=baudrate, pace=pace,
                                      link=workdir / "ttyLights").start()
        self.settings: dict[str, Any] = {"port": self.server.path, "baudrate": baudrate, "device": DEVICE,
                                         "answer_timeout": 0.3}
        if board_flash:
            self.settings["board_flash"] = {"mode_base": 0, "period_base": 16, "duty_base": 32}

    def describe(self) -> str:
        return f"Modbus RTU light board (pymodbus server, device {DEVICE}) on {self.server.path}"

    def actions(self) -> dict[str, str]:
        return {"state": "coils, mode registers and the number of coil toggles so far", **FAULT_ACTIONS,
                "power_cycle": "the board restarts: every relay off, registers cleared"}

    def state(self) -> dict[str, Any]:
        with self.board.lock:
            return {"coils": list(self.board.coils), "modes": self.board.holding[0:CHANNELS],
                    "periods": self.board.holding[16:16 + CHANNELS], "duties": self.board.holding[32:32 + CHANNELS],
                    "toggles": len(self.board.toggles), "requests": self.server.relay.requests}

    def toggles(self, channel: int) -> list[tuple[float, bool]]:
        with self.board.lock:
            return [(t, v) for t, ch, v in self.board.toggles if ch == channel]

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "state":
            return self.state()
        if action == "power_cycle":
            # the server's own memory is reset by writing zeros through the action hook's view
            with self.board.lock:
                self.board.coils = [False] * CHANNELS
                self.board.holding = [0] * 48
            self._reset_server_memory()
            return self.state()
        out = self.server.fault(action)
        if out is None:
            raise unknown_action(self, action)
        return out

    def _reset_server_memory(self) -> None:
        """Zero the pymodbus server's own memory (SimCore.devices → SimRuntime.block)."""
        core = getattr(self.server._server, "context", None)
        for runtime in getattr(core, "devices", {}).values():
            for _start, _count, regs, _flags in runtime.block.values():
                regs[:] = [0] * len(regs)

    def stop(self) -> None:
        self.server.stop()


def start(workdir: Path, **kw: Any) -> LightsSimulation:
    return LightsSimulation(workdir, **kw)
