"""Fingerprint simulator: a ZhianTec/Synochip AS608/R307 module on a pty (``gtsdk sim fingerprint``).

The driver ``fingerprint.zhiantec`` opens the pty exactly as it opens ``/dev/ttyUSB0``.  The
simulated world has persons (any name: each has stable, distinct fingers), a finger that is on
the sensor or not, and fault knobs.  By default the pty is not paced (fast tests); ``pace`` makes
it deliver bytes at the baud rate (UpImage then takes ≈ 6.9 s at 57600 baud, as on the wire).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.fingerprint.device import FingerprintModule

__all__ = ["FingerprintModule", "FingerprintSimulation", "start"]

_ACTIONS = {
    "place_finger": "put a finger on the sensor: person=NAME [finger=0..9] [condition=good|poor|messy] [after=s]",
    "remove_finger": "lift the finger",
    "enroll": "store a template of person=NAME [finger=N] at page=N in the module's library",
    "mute": "on=true|false: the module stops answering (no answer)",
    "garble": "corrupt the next answer (bad checksum); always=true keeps corrupting",
    "cut": "the next answer stops half-way (the module resets mid-frame)",
    "sensor_error": "on=true|false: the sensor fails (GenImg 03, UpImage 0F)",
    "set_password": "value=N: the module's password (different from the driver's → wrong password)",
    "pace": "baudrate=N (0: unpaced) [realistic=true: module processing times]",
    "unplug": "the module vanishes (the pty closes)",
    "replug": "the module comes back at the same path",
    "status": "the module's state",
}


class FingerprintSimulation:
    module = "fingerprint"
    driver = "zhiantec"

    def __init__(self, workdir: Path, *, baudrate: int = 57600, paced: bool = False, realistic: bool = False,
                 password: int = 0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.link = workdir / "ttyFP0"
        self.device = FingerprintModule(baudrate if paced else None, self.link, password=password, realistic=realistic)
        self.device.start()
        self.baudrate = baudrate
        self.settings: dict[str, Any] = {"port": str(self.link), "baudrate": baudrate, "password": password}

    def describe(self) -> str:
        pace = f"paced at {self.device.baudrate} baud" if self.device.baudrate else "unpaced"
        return f"AS608/R307 fingerprint module on {self.link} -> {self.device.path} ({pace})"

    def actions(self) -> dict[str, str]:
        return dict(_ACTIONS)

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        d = self.device
        if action == "place_finger":
            person = params.get("person")
            if not isinstance(person, str) or not person:
                raise GtsdkError(ErrorCode.INVALID_DATA, "person is required", field="person")
            cond = str(params.get("condition", "good"))
            if cond not in ("good", "poor", "messy"):
                raise GtsdkError(ErrorCode.INVALID_DATA, "condition must be good, poor or messy", field="condition")
            d.place(person, int(params.get("finger", 0)), cond, float(params.get("after", 0.0)))
        elif action == "remove_finger":
            d.remove()
        elif action == "enroll":
            person = str(params.get("person", ""))
            page = int(params.get("page", len(d.library)))
            with d.lock:
                d.library[page] = d.template_for(person, int(params.get("finger", 0)))
            return {"page": page}
        elif action == "mute":
            d.mute = bool(params.get("on", True))
        elif action == "garble":
            d.garble = True
            d.garble_always = bool(params.get("always", False))
        elif action == "cut":
            d.cut = True
        elif action == "sensor_error":
            d.sensor_error = bool(params.get("on", True))
        elif action == "set_password":
            d.password = int(params.get("value", 0))
            d.verified = d.password == 0
        elif action == "pace":
            rate = int(params.get("baudrate", self.baudrate))
            d.baudrate = rate or None
            d.realistic = bool(params.get("realistic", d.realistic))
        elif action == "unplug":
            d.unplug()
        elif action == "replug":
            d.replug()
        elif action == "status":
            pass
        else:
            raise simulation.unknown_action(self, action)
        return self.status()

    def status(self) -> dict[str, Any]:
        d = self.device
        return {"finger": d.finger_present(), "templates": len(d.library), "muted": d.mute,
                "sensorError": d.sensor_error, "unplugged": d.unplugged, "path": d.path,
                "paced": d.baudrate or 0}

    def template(self, person: str, finger: int = 0) -> bytes:
        """A device-format template of *person* (what an ID card or a database would hold)."""
        with self.device.lock:
            return self.device.template_for(person, finger)

    def stop(self) -> None:
        self.device.stop()


def start(workdir: Path, **options: Any) -> FingerprintSimulation:
    if "paced" not in options and os.environ.get("GTSDK_SIM_FINGERPRINT_PACED"):
        options["paced"] = True
    return FingerprintSimulation(workdir, **options)
