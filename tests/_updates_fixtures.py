"""A terminal's update root with real versions: wheels made offline (tests/_updates_wheels.py), bundles signed
with a test release key, virtual environments installed by pip from the wheelhouse only, and a tiny service
process (in the plugin wheel) whose status file says which code it runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _updates_wheels as wheels

from gtsdk.crypto import SM2PrivateKey
from gtsdk.updates import bundle
from gtsdk.updates.environment import VenvEnvironment
from gtsdk.updates.installer import Policy, Updater
from gtsdk.updates.manifest import Manifest
from gtsdk.updates.trust import Identity, TrustStore

KEY = SM2PrivateKey.generate()
WHO = Identity("T-0001", model="GT-K200", region="440305", groups=frozenset({"canary"}))

GOOD = '''
from gtsdk.drivers.modbus_lights import ModbusLightsDriver

VERSION = "{version}"


class AcmeLights(ModbusLightsDriver):
    name = "acme"
    version = VERSION
'''
#: accepts any setting, misspelt ones included: fails the bronze check driver.settings (9.2.2 b) on the terminal
BROKEN = '''
from pydantic import ConfigDict

from gtsdk.drivers.modbus_lights import ModbusLightsDriver

VERSION = "{version}"


class LaxSettings(ModbusLightsDriver.settings_model):
    model_config = ConfigDict(extra="allow")


class AcmeLights(ModbusLightsDriver):
    name = "acme"
    version = VERSION
    settings_model = LaxSettings
'''
SERVICE = '''
import json, os, sys, time
from acme_lights import VERSION

status = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
state = {{"version": VERSION, "pid": os.getpid(), "python": sys.executable,
          "modules": {{"lights": "offline" if "{health}" == "bad" else "online"}}}}
with open(status + ".tmp", "w") as f:
    json.dump(state, f)
os.replace(status + ".tmp", status)
if "{crash}" == "yes":
    sys.exit(3)
while True:
    time.sleep(0.2)
'''
CONFIG = '[terminal]\nid = "T-0001"\n\n[modules.lights]\ndriver = "acme"\nport = "/dev/null"\n'


def plugin(tmp: Path, version: str, *, driver: str = GOOD, health: str = "ok", crash: str = "no") -> Path:
    """The acme-lights plugin wheel of *version*: its driver and the service module."""
    return wheels.plugin_wheel(tmp / f"w-{version}", version=version,
                               body=driver.format(version=version),
                               modules={"service": SERVICE.format(health=health, crash=crash)})


def make_bundle(tmp: Path, version: str, wheel_files: list[Path], *, config: str | None = None,
                drivers: list[str] | None = None, **fields: Any) -> Path:
    cfg = None
    if config is not None:
        cfg = tmp / f"terminal-{version}.toml"
        cfg.write_text(config)
    out = tmp / f"bundle-{version}.tar"
    m = Manifest.model_validate({"name": "gtsdk-terminal", "version": version, "drivers": drivers or [],
                                 **fields})
    bundle.build(out, m, wheels=wheel_files, config=cfg, key=KEY)
    return out


class Recorded:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, doc: Any) -> None:
        self.events.append(dict(doc))

    def phases(self) -> list[str]:
        return [e["phase"] for e in self.events]


def updater(root: Path, *, policy: Policy | None = None, progress: Callable[[Any], None] | None = None) -> Updater:
    TrustStore(root / "trusted").add(KEY.public_key())
    return Updater(root, identity=WHO, environment=VenvEnvironment(compile_bytecode=False),
                   # a crash loop is counted by starts, not speed: under load one start of a Python service that
                   # imports gtsdk can take seconds, so the window is wide
                   policy=policy or Policy(simulate_devices=True, probation=2.0, health_grace=1.0,
                                           crash_restarts=2, crash_window=300.0, transaction_wait=3.0),
                   on_progress=progress)


def service_command(status: Path) -> list[str]:
    return ["{venv}/bin/python", "-m", "acme_lights.service", str(status)]


def read_status(path: Path, timeout: float = 60.0, *, version: str | None = None) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
            if version is None or doc.get("version") == version:
                return doc
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no status{' of ' + version if version else ''} in {path} after {timeout} s")
