"""Helpers for the QR scanner, light-board and sensor tests (real drivers against their simulators)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gtsdk.runtime import Terminal
from gtsdk.runtime.config import ModuleConfig, TerminalConfig


def terminal_for(module: str, driver: str, settings: dict[str, Any], **kw: Any) -> Terminal:
    cfg = TerminalConfig()
    cfg.modules[module] = ModuleConfig(module=module, driver=driver, settings=dict(settings),
                                       reconnect_interval=kw.pop("reconnect_interval", 0.1), **kw)
    return Terminal(cfg)


def wait_for(cond: Callable[[], Any], limit: float = 10.0, step: float = 0.02) -> Any:
    """Wait until *cond* is truthy (an upper bound for slow machines, not a timing assertion)."""
    end = time.monotonic() + limit
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {limit} s")
        time.sleep(step)


class Recorder:
    def __init__(self, terminal: Terminal, module: str) -> None:
        self.events: list[Any] = []
        terminal.events.subscribe(self.events.append, [module])

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in list(self.events) if e.type == kind]
