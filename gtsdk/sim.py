"""The simulator contract shared by ``gtsdk sim`` and ``gtsdk serve --simulate``.

Each ``gtsdk.simulators.<module id>`` module exposes::

    def start(workdir: pathlib.Path) -> Simulation
    DRIVERS: dict[str, Callable[[pathlib.Path], Simulation]]   # optional: a simulator per driver

The simulation runs a device that speaks the real wire protocol (a pty, a vpcd
card, an IPP printer, a fake USB backend, an ALSA file device, image sources)
and reports which real driver reaches it and with which settings.  ``control``
changes the simulated world (insert a card, paper out, unplug, garble frames)
and is what ``POST /v1/sim/<module>`` and the conformance suite call.

Simulators start their daemons through :mod:`gtsdk.leftovers`, so none outlives its host: the first
simulator a process starts also reaps what crashed hosts left behind.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gtsdk import leftovers
from gtsdk.errors import ErrorCode, GtsdkError


@runtime_checkable
class Simulation(Protocol):
    module: str
    #: driver name (the part after ``<module>.`` in the entry point)
    driver: str
    #: driver settings that reach the simulated device
    settings: dict[str, Any]

    def describe(self) -> str:
        """One line saying where the device is (pty path, reader name, URI)."""

    def actions(self) -> dict[str, str]:
        """Control actions with a one-line description each."""

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Change the simulated world; unknown actions raise ``invalidData``."""

    def stop(self) -> None: ...


def available(module: str) -> bool:
    try:
        importlib.import_module(f"gtsdk.simulators.{module}")
    except ImportError:
        return False
    return True


_reaped = False
_reap_lock = threading.Lock()


def reap_once() -> leftovers.Reaped:
    """Clear what crashed simulator hosts left (daemons, namespaces, temp folders), once per process."""
    global _reaped
    with _reap_lock:
        if _reaped:
            return leftovers.Reaped()
        _reaped = True
        return leftovers.reap()


def start(module: str, workdir: Path, driver: str | None = None) -> Simulation:
    """Start the simulator of *module* with its files under *workdir*.

    A module whose drivers speak different protocols offers a simulator per driver in its package's
    ``DRIVERS`` table (the keyboard: ``web`` and ``onboard``); *driver* picks one, and a driver without
    its own gets the module's default (whose ``driver`` attribute says which driver it is made for).
    """
    reap_once()
    try:
        mod = importlib.import_module(f"gtsdk.simulators.{module}")
    except ImportError as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"no simulator for {module}: {e}") from e
    workdir.mkdir(parents=True, exist_ok=True)
    starters: dict[str, Any] = getattr(mod, "DRIVERS", {})
    sim: Simulation = starters.get(driver or "", mod.start)(workdir)
    return sim


def unknown_action(sim: Simulation, action: str) -> GtsdkError:
    return GtsdkError(
        ErrorCode.INVALID_DATA, f"unknown simulator action {action!r}; known: {sorted(sim.actions())}", field="action"
    )
