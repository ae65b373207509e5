"""Shared by the example scripts: connect to the local service from the environment.

    GTSDK_URL                 default https://127.0.0.1:8801
    GTSDK_TOKEN               an app-scope token      (gtsdk token --scope app)
    GTSDK_MAINTENANCE_TOKEN   optional; lets a script drive the simulator (gtsdk serve --simulate)
    GTSDK_HOME                where the service keeps its CA (ca.pem)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gtsdk.client import Client, ServiceError

__all__ = ["Client", "ServiceError", "connect", "simulate"]


def connect() -> Client:
    token = os.environ.get("GTSDK_TOKEN")
    if not token:
        sys.exit("set GTSDK_TOKEN (gtsdk token --scope app)")
    return Client(os.environ.get("GTSDK_URL", "https://127.0.0.1:8801"), token)


def simulate(module: str, action: str, **params: Any) -> None:
    """Change the simulated world when the service runs with --simulate; a no-op on real hardware."""
    token = os.environ.get("GTSDK_MAINTENANCE_TOKEN")
    if not token:
        return
    with Client(os.environ.get("GTSDK_URL", "https://127.0.0.1:8801"), token) as m:
        m.sim(module, action, **params)
