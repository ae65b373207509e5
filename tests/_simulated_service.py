"""One `gtsdk serve --simulate` for the whole test session: every module on its
simulator behind the real HTTPS service, shared by the example scripts, the
full conformance run and the browser tests (starting cupsd, pcscd and the rest
once keeps the suite fast).  Every module is in it: the camera's person comes with
scikit-image, and the travel-document simulator's pcscd is this process's own."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gtsdk.runtime import Terminal
from gtsdk.server.config import parse_service
from gtsdk.server.run import Running, build, start_background
from gtsdk.server.tokens import TokenStore
from gtsdk.simulated import simulated_terminal

log = logging.getLogger("tests")

#: the ``conformance`` app's per-token limit (requests/s, burst): a whole certification run makes a few
#: thousand requests, and at the default 50/s (burst 100) a quarter of its time is spent honouring
#: ``Retry-After: 1``.  The limit is still one security.rate_limit's eight connections reach at once.
CONFORMANCE_RATE = (100.0, 500)

@dataclass
class SimService:
    running: Running
    terminal: Terminal
    home: Path
    app_token: str
    maintenance_token: str
    #: an app token of its own for full certification runs (CONFORMANCE_RATE)
    conformance_token: str

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def ca(self) -> Path:
        return self.home / "ca.pem"

    def env(self) -> dict[str, str]:
        return {**os.environ, "GTSDK_URL": self.url, "GTSDK_TOKEN": self.app_token,
                "GTSDK_MAINTENANCE_TOKEN": self.maintenance_token, "GTSDK_HOME": str(self.home)}


@pytest.fixture(scope="session")
def sim_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimService]:
    base = tmp_path_factory.mktemp("simulated-terminal")
    home = base / "home"
    from gtsdk.modules import MODULES

    t = simulated_terminal(base / "sim", modules=list(MODULES)).start()
    rate, burst = CONFORMANCE_RATE
    config = {"origins": ["http://127.0.0.1"], "apps": {"conformance": {"rate_limit": rate, "rate_burst": burst}}}
    app = build(t, parse_service(config, base_dir=home), home, simulate=True)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    store = TokenStore(home)
    svc = SimService(running, t, home, store.create(["app"], app="kiosk"), store.create(["maintenance"]),
                     store.create(["app"], app="conformance"))
    try:
        yield svc
    finally:
        running.stop()
        t.stop()
