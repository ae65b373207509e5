"""Sensor-board simulator: a pymodbus RTU server (device 1) on a pty with a scripted world.

Input registers 0..9 follow the default map of the ``modbus_rtu`` sensors driver:
temperature (0.1 °C, signed), humidity (0.1 %RH), door, tamper, tilt, vibration,
presence, mains, UPS battery %, on battery.  The pymodbus ``action`` hook copies the
simulated world into the registers on every read, so the values a driver reads are the
world's at that moment.  Scripts replay sensor histories (a heat wave, a brown-out, a
break-in) step by step on a thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action
from gtsdk.simulators._modbus import FAULT_ACTIONS, ModbusPtyServer

DEVICE = 1
FIELDS = ("temperature", "humidity", "door", "tamper", "tilt", "vibration", "presence", "mains", "ups_battery",
          "on_battery")
SCALE = {"temperature": 10, "humidity": 10}

SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "heatwave": [{"temperature": t} for t in (30.0, 40.0, 50.0, 56.0, 61.0)],
    "cooldown": [{"temperature": t} for t in (52.0, 45.0, 30.0, 22.5)],
    "brownout": [{"mains": False, "on_battery": True}, {"ups_battery": 90}, {"ups_battery": 80},
                 {"mains": True, "on_battery": False}],
    "break_in": [{"vibration": True}, {"tilt": True}, {"door": True, "tamper": True}],
    "repair": [{"vibration": False, "tilt": False, "door": False, "tamper": False}],
}


def normal() -> dict[str, Any]:
    return {"temperature": 22.5, "humidity": 45.0, "door": False, "tamper": False, "tilt": False,
            "vibration": False, "presence": False, "mains": True, "ups_battery": 100, "on_battery": False}


class SensorBoard:
    def __init__(self) -> None:
        self.world = normal()
        self.lock = threading.Lock()
        self.reads = 0

    def registers(self) -> list[int]:
        with self.lock:
            out = []
            for f in FIELDS:
                v = self.world[f]
                out.append(round(float(v) * SCALE.get(f, 1)) & 0xFFFF)
            return out

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     current_registers: list[int], set_values: list[Any] | None) -> None:
        if function_code == 4:
            self.reads += 1
            regs = self.registers()
            for i, v in enumerate(regs):
                j = i - start_address
                if 0 <= j < len(current_registers):
                    current_registers[j] = v
        return None

    def sim_device(self, device: int = DEVICE) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        return SimDevice(id=device, action=self.action, simdata=(
            [SimData(0, count=1, values=False, datatype=DataType.BITS)],
            [SimData(0, count=1, values=False, datatype=DataType.BITS)],
            [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]))


class SensorsSimulation:
    module = "sensors"
    driver = "modbus_rtu"

    def __init__(self, workdir: Path, *, baudrate: int = 9600, pace: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.board = SensorBoard()
        self.server = ModbusPtyServer([self.board.sim_device()], baudrate=baudrate, pace=pace,
                                      link=workdir / "ttySensors").start()
        self.settings: dict[str, Any] = {"port": self.server.path, "baudrate": baudrate, "device": DEVICE,
                                         "answer_timeout": 0.3, "state_dir": str(workdir / "state"),
                                         "poll_every": 0.25}
        self._script: threading.Thread | None = None
        self._script_stop = threading.Event()

    def describe(self) -> str:
        return f"Modbus RTU sensor board (pymodbus server, device {DEVICE}) on {self.server.path}"

    def actions(self) -> dict[str, str]:
        return {
            "state": "the simulated world",
            "set": "params {values: {field: value}} (fields: " + ", ".join(FIELDS) + ")",
            "open_door": "the cabinet door is forced: door and tamper switches open",
            "close_door": "door closed, tamper switch back",
            "cut_power": "mains lost, the UPS takes over",
            "restore_power": "mains back",
            "heat_up": "params {to: °C (default 60)}: the cabinet overheats",
            "cool_down": "temperature back to 22.5 °C",
            "tilt": "the kiosk is tilted", "shake": "vibration detected", "presence": "params {on: bool}",
            "normal": "everything back to normal",
            "script": "params {name: " + "|".join(SCRIPTS) + " or steps: [{field: value}], interval: s}",
            **FAULT_ACTIONS,
        }

    def set(self, **values: Any) -> dict[str, Any]:
        with self.board.lock:
            for k, v in values.items():
                if k not in FIELDS:
                    raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown sensor field {k!r}", field="values")
                self.board.world[k] = v
            return dict(self.board.world)

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        p = params or {}
        if action == "state":
            with self.board.lock:
                return {**self.board.world, "reads": self.board.reads}
        simple: dict[str, dict[str, Any]] = {
            "open_door": {"door": True, "tamper": True}, "close_door": {"door": False, "tamper": False},
            "cut_power": {"mains": False, "on_battery": True}, "restore_power": {"mains": True, "on_battery": False},
            "cool_down": {"temperature": 22.5}, "tilt": {"tilt": True}, "shake": {"vibration": True},
        }
        if action in simple:
            return self.set(**simple[action])
        if action == "heat_up":
            return self.set(temperature=float(p.get("to", 60.0)))
        if action == "presence":
            return self.set(presence=bool(p.get("on", True)))
        if action == "set":
            return self.set(**dict(p.get("values", {})))
        if action == "normal":
            return self.set(**normal())
        if action == "script":
            steps = p.get("steps") or SCRIPTS.get(str(p.get("name")))
            if not steps:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown script; known: {sorted(SCRIPTS)}", field="name")
            self.play(list(steps), float(p.get("interval", 0.5)))
            return {"steps": len(steps)}
        out = self.server.fault(action)
        if out is None:
            raise unknown_action(self, action)
        return out

    def play(self, steps: list[dict[str, Any]], interval: float) -> None:
        self._script_stop.set()
        if self._script is not None:
            self._script.join(timeout=2)
        self._script_stop = stop = threading.Event()

        def run() -> None:
            for step in steps:
                if stop.wait(interval):
                    return
                self.set(**step)

        self._script = threading.Thread(target=run, name="sensors-sim-script", daemon=True)
        self._script.start()

    def stop(self) -> None:
        self._script_stop.set()
        self.server.stop()


def start(workdir: Path, **kw: Any) -> SensorsSimulation:
    return SensorsSimulation(workdir, **kw)
