"""Both simulated vendors, bridged, pass the conformance driver tier (certify-driver) at silver or better.

The driver tier changes the world (takes the card away, unplugs the reader) through a simulator; for a
bridged device that is the simulated vendor, so it stands where ``--simulate`` puts gtsdk's own
simulator of the module — the same checks, run against the bridge and the vendor's interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _bridge_fixtures import HTTP_MAPPING, NATIVE_MAPPING, needs_cc

from gtsdk import sim as simulation
from gtsdk.conformance.driver_tier import certify_driver
from gtsdk.conformance.model import Tier

pytestmark = pytest.mark.slow


def _certify(monkeypatch: pytest.MonkeyPatch, entry: str, vendor: Any) -> Any:
    monkeypatch.setattr(simulation, "start", lambda module, workdir: vendor)
    report = certify_driver(entry, {}, simulate=True)
    failed = [(r.id, r.reason) for r in report.failures()]
    assert not failed, failed
    return report


@pytest.mark.timeout(300)
def test_native_bridge_certifies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    needs_cc()
    from gtsdk.simulators.vendors import acme_idreader

    report = _certify(monkeypatch, "idcard.native_bridge", acme_idreader.start(tmp_path, NATIVE_MAPPING))
    assert report.tier_reached in (Tier.SILVER, Tier.GOLD), report.summary
    ran = {r.id for r in report.results if r.outcome.value == "pass"}
    assert {"driver.timeout", "driver.cancel", "driver.recovery", "driver.state_machine"} <= ran


@pytest.mark.timeout(300)
def test_http_bridge_certifies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gtsdk.simulators.vendors import acme_middleware

    report = _certify(monkeypatch, "idcard.http_bridge", acme_middleware.start(tmp_path, HTTP_MAPPING))
    assert report.tier_reached in (Tier.SILVER, Tier.GOLD), report.summary
    ran = {r.id for r in report.results if r.outcome.value == "pass"}
    assert {"driver.timeout", "driver.cancel", "driver.recovery", "driver.state_machine"} <= ran
