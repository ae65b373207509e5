"""Signature pad simulator: a Wacom STU-540 behind a fake pyusb backend (``gtsdk sim signature_pad``).

There is no USB in the kernels this runs on, so the simulated pad lives in-process on the fake USB
bus: the driver setting ``backend = "gtsdk.simulators._usb:backend"`` (with ``backend_arg`` naming
the device) makes pyusb talk to it.  Control actions make a simulated hand write a Chinese name or a
scribble and tap 确定/取消/清除; faults: unplug, stuck pen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.signature_pad.backend import fake_usb_pad
from gtsdk.simulators.signature_pad.pad import MODELS, Pad

__all__ = ["Pad", "SignaturePadSimulation", "start"]

_ACTIONS = {
    "sign": "the hand writes: what=NAME|scribble [then=ok|cancel|clear|none] (waits for the prompt on screen)",
    "tap": "tap a button: button=ok|cancel|clear",
    "unplug": "the pad disappears from USB",
    "replug": "the pad comes back",
    "stuck_pen": "on=true|false: the pen tip reports down at one spot",
    "speed": "factor=N: deliver pen reports N times faster than real time (time stamps stay real)",
    "status": "the pad's state",
}


class SignaturePadSimulation:
    module = "signature_pad"
    driver = "wacom_stu"

    def __init__(self, workdir: Path, *, speed: float = 1.0, seed: int = 1, model: str = "STU-540") -> None:
        if model not in MODELS:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"model must be one of {sorted(MODELS)}", field="model")
        self.workdir = workdir
        self.pad = Pad(MODELS[model], speed=speed, seed=seed)
        self.usb = fake_usb_pad(self.pad)
        self.key = self.usb.key
        self.settings: dict[str, Any] = {"backend": "gtsdk.simulators._usb:backend", "backend_arg": self.key}

    def describe(self) -> str:
        m = self.pad.model
        return f"{m.name} (USB 056A:{m.product_id:04X}) on a fake pyusb backend, key {self.key}"

    def actions(self) -> dict[str, str]:
        return dict(_ACTIONS)

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        p = self.pad
        if action == "sign":
            what = str(params.get("what", "张三"))
            then = str(params.get("then", "ok"))
            if then not in ("ok", "cancel", "clear", "none"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "then must be ok, cancel, clear or none", field="then")
            p.sign(what, then)
        elif action == "tap":
            button = str(params.get("button", "ok"))
            if button not in ("ok", "cancel", "clear"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "button must be ok, cancel or clear", field="button")
            p.tap(button)
        elif action == "unplug":
            p.unplugged = True
            self.usb.unplug()
        elif action == "replug":
            p.unplugged = False
            self.usb.replug()
        elif action == "stuck_pen":
            p.stuck_pen = bool(params.get("on", True))
        elif action == "speed":
            p.speed = max(0.01, float(params.get("factor", 1.0)))
        elif action != "status":
            raise simulation.unknown_action(self, action)
        return {"unplugged": p.unplugged, "stuckPen": p.stuck_pen, "displayed": p.displayed, "inking": p.inking,
                "speed": p.speed}

    def save_screen(self, path: Path) -> Path:
        if self.pad.screen is not None:
            self.pad.screen.save(path)
        return path

    def stop(self) -> None:
        self.pad.stop()
        self.usb.release()


def start(workdir: Path, **options: Any) -> SignaturePadSimulation:
    return SignaturePadSimulation(workdir, **options)
