"""A terminal whose modules are backed by their simulators — one layer above the runtime.

The runtime (:mod:`gtsdk.runtime`) knows nothing of simulators; this module
starts them (:func:`gtsdk.sim.start`) and points each module's real driver at
its simulated device, so the same bytes cross the same code as with hardware.

```python
from gtsdk.simulated import simulated_terminal

with simulated_terminal(modules=["idcard"]) as t:
    t.simulations["idcard"].control("insert", {"card": "resident"})
    print(t.idcard.read(timeout=20).name)
```
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gtsdk import leftovers
from gtsdk import sim as simulation
from gtsdk.failures import swallowed
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal
from gtsdk.runtime.config import ModuleConfig, TerminalConfig

log = logging.getLogger("gtsdk.runtime")

__all__ = ["SimulatedTerminal", "simulated_terminal", "simulations_of"]


class SimulatedTerminal(Terminal):
    """A :class:`Terminal` that owns simulators: ``simulations[module]`` changes the simulated world,
    and :meth:`stop` stops them after the devices."""

    def __init__(self, config: TerminalConfig | None = None, *, strict: bool = False,
                 simulations: Mapping[str, simulation.Simulation] | None = None) -> None:
        super().__init__(config, strict=strict)
        self.simulations: dict[str, simulation.Simulation] = dict(simulations or {})
        #: the temporary folder :func:`simulated_terminal` made for the simulators (removed at :meth:`stop`)
        self.own_dir: Path | None = None

    def stop(self) -> None:
        super().stop()
        for sim in self.simulations.values():
            try:
                sim.stop()
            except Exception as e:  # noqa: BLE001 - one simulator failing to stop must not keep the others running
                swallowed(f"simulator {sim.module}", "stop", e, logger=log)
        if self.own_dir is not None:
            leftovers.remove_temp_dir(self.own_dir)
            self.own_dir = None


def simulated_terminal(workdir: str | Path | None = None, config: TerminalConfig | None = None,
                       modules: list[str] | None = None,
                       settings: Mapping[str, Mapping[str, Any]] | None = None) -> SimulatedTerminal:
    """Every module (or *modules*) backed by its real driver talking to its simulator.

    A simulator that cannot start leaves its module disabled with the reason (``noDevice``), the
    others run.  Module tables of *config* keep their ``timeout``; the driver and its settings
    come from the simulator, with *settings[module]* over them (e.g. a longer answer timeout where
    the simulator, not the driver, is what shares a loaded machine).
    """
    cfg = config or TerminalConfig()
    base = Path(workdir) if workdir else leftovers.make_temp_dir("gtsdk-sim-")  # reaped after a crash
    sims: dict[str, simulation.Simulation] = {}
    reasons: dict[str, str] = {}
    for mod_id in modules or list(MODULES):
        try:
            sim = simulation.start(mod_id, base / mod_id)
        except Exception as e:  # noqa: BLE001 - reported as the module's reason; the terminal still starts
            reasons[mod_id] = f"simulator failed to start: {e}"
            log.error("simulator %s: %s", mod_id, e)
            continue
        sims[mod_id] = sim
        prev = cfg.modules.get(mod_id)
        cfg.modules[mod_id] = ModuleConfig(
            module=mod_id, driver=sim.driver, settings={**sim.settings, **(settings or {}).get(mod_id, {})},
            timeout=prev.timeout if prev else None, reconnect_interval=prev.reconnect_interval if prev else 0.5)
    t = SimulatedTerminal(cfg, simulations=sims)
    t.own_dir = None if workdir else base
    for mod_id, why in reasons.items():
        t.disable(mod_id, why)
    return t


def simulations_of(terminal: Terminal) -> Mapping[str, simulation.Simulation]:
    """The simulators a terminal owns (none for a terminal on real devices)."""
    return terminal.simulations if isinstance(terminal, SimulatedTerminal) else {}
