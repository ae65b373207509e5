"""Fixtures for the bridge tests: the simulated vendors (a C library built with the system compiler,
a local middleware) and terminals whose idcard module is bridged onto them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gtsdk.runtime import Terminal, parse_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "bridges"
NATIVE_MAPPING = EXAMPLES / "acme_idreader.yaml"
BUFFERS_MAPPING = EXAMPLES / "acme_idreader_buffers.yaml"
HTTP_MAPPING = EXAMPLES / "acme_middleware.yaml"


def needs_cc() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the simulated vendor library")


@pytest.fixture
def native_sim(tmp_path: Path) -> Iterator[Any]:
    needs_cc()
    from gtsdk.simulators.vendors import acme_idreader

    sim = acme_idreader.start(tmp_path / "vendor", NATIVE_MAPPING)
    yield sim
    sim.stop()


@pytest.fixture
def middleware_sim(tmp_path: Path) -> Iterator[Any]:
    from gtsdk.simulators.vendors import acme_middleware

    sim = acme_middleware.start(tmp_path / "middleware", HTTP_MAPPING)
    yield sim
    sim.stop()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def bridged(driver: str, settings: dict[str, Any], module_id: str = "idcard", **module: Any) -> Iterator[Terminal]:
    """A started terminal with one module (idcard) driven by *driver* with *settings*; waits until it is online."""
    cfg = parse_config({"modules": {module_id: {"driver": driver, "reconnect_interval": 0.2, **settings, **module}}})
    t = Terminal(cfg, strict=True).start()
    try:
        wait_for(lambda: t.device(module_id).status().state == "online", 15, "the bridged device to come online")
        yield t
    finally:
        t.stop()


class Events:
    def __init__(self, t: Terminal) -> None:
        self.seen: list[str] = []
        t.events.subscribe(lambda e: self.seen.append(e.type))

    def wait(self, name: str, timeout: float = 5.0) -> None:
        wait_for(lambda: name in self.seen, timeout, f"event {name}")
