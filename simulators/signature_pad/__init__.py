"""Signature pad simulator: a Wacom STU-540 behind a fake pyusb backend (``gtsdk sim signature_pad``).

There is no USB in the kernels this runs on, so the simulated pad lives in-process: the driver
setting ``backend = "gtsdk.simulators.signature_pad:backend"`` (with ``backend_arg`` naming the
simulation) makes pyusb talk to it.  Control actions make a simulated hand write a Chinese name or a
scribble and tap 确定/取消/清除; faults: unplug, stuck pen.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.signature_pad.backend import PadBackend
from gtsdk.simulators.signature_pad.pad import MODELS, Pad

__all__ = ["Pad", "SignaturePadSimulation", "backend", "start"]

_REGISTRY: dict[str, SignaturePadSimulation] = {}
_LOCK = threading.Lock()
_IDS = itertools.count(1)

_ACTIONS = {
    "sign": "the hand writes: what=NAME|scribble [then=ok|cancel|clear|none] (waits for the prompt on screen)",
    "tap": "tap a button: button=ok|cancel|clear",
    "unplug": "the pad disappears from USB",
    "replug": "the pad comes back",
    "stuck_pen": "on=true|false: the pen tip reports down at one spot",
    "speed": "factor=N: deliver pen reports N times faster than real time (time stamps stay real)",
    "status": "the pad's state",
}


def backend(key: str | None = None) -> Any:
    """pyusb backend factory named by the driver setting ``backend``."""
    with _LOCK:
        if key is None:
            if not _REGISTRY:
                raise GtsdkError(ErrorCode.NO_DEVICE, "no signature pad simulation running")
            sim = list(_REGISTRY.values())[-1]
        else:
            found = _REGISTRY.get(key)
            if found is None:
                raise GtsdkError(ErrorCode.NO_DEVICE, f"no signature pad simulation {key!r}")
            sim = found
    return PadBackend(sim.pad)


class SignaturePadSimulation:
    module = "signature_pad"
    driver = "wacom_stu"

    def __init__(self, workdir: Path, *, speed: float = 1.0, seed: int = 1, model: str = "STU-540") -> None:
        if model not in MODELS:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"model must be one of {sorted(MODELS)}", field="model")
        self.workdir = workdir
        self.key = f"pad{next(_IDS)}"
        self.pad = Pad(MODELS[model], speed=speed, seed=seed)
        self.settings: dict[str, Any] = {"backend": "gtsdk.simulators.signature_pad:backend", "backend_arg": self.key}
        with _LOCK:
            _REGISTRY[self.key] = self

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
        elif action == "replug":
            p.unplugged = False
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
        with _LOCK:
            _REGISTRY.pop(self.key, None)


def start(workdir: Path, **options: Any) -> SignaturePadSimulation:
    return SignaturePadSimulation(workdir, **options)
