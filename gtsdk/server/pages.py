"""Example pages served by the service (issue 11): the kiosk demo under ``/demo/``, the operations dashboard
under ``/ops/``, their data routes and ``/metrics``."""

from __future__ import annotations

from typing import Any


def add_routes(app: Any) -> None:
    """Register the example routes on a :class:`gtsdk.server.app.ServiceApp` (filled in below)."""
