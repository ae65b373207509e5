"""Both simulated vendors, bridged, pass the conformance driver tier (certify-driver) at silver or better.

The driver tier changes the world (takes the card away, unplugs the reader) through a simulator; for a
bridged device that is the simulated vendor, so it stands where ``--simulate`` puts gtsdk's own
simulator of the module — the same checks, run against the bridge and the vendor's interface.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _bridge_fixtures import HTTP_MAPPING, NATIVE_MAPPING, needs_cc

from gtsdk.conformance.driver_tier import certify_driver
from gtsdk.conformance.model import Tier

pytestmark = pytest.mark.slow


def _certify(entry: str, vendor: Callable[[str, Path], Any], workdir: Path) -> Any:
    report = certify_driver(entry, {}, sim=vendor, workdir=workdir)
    failed = [(r.id, r.reason) for r in report.failures()]
    assert not failed, failed
    return report


@pytest.mark.timeout(300)
def test_native_bridge_certifies(tmp_path: Path) -> None:
    needs_cc()
    from gtsdk.simulators.vendors import acme_idreader

    report = _certify("idcard.native_bridge", lambda module, wd: acme_idreader.start(wd, NATIVE_MAPPING), tmp_path)
    assert report.tier_reached in (Tier.SILVER, Tier.GOLD), report.summary
    ran = {r.id for r in report.results if r.outcome.value == "pass"}
    assert {"driver.timeout", "driver.cancel", "driver.recovery", "driver.state_machine"} <= ran


@pytest.mark.timeout(300)
def test_http_bridge_certifies(tmp_path: Path) -> None:
    from gtsdk.simulators.vendors import acme_middleware

    report = _certify("idcard.http_bridge", lambda module, wd: acme_middleware.start(wd, HTTP_MAPPING), tmp_path)
    assert report.tier_reached in (Tier.SILVER, Tier.GOLD), report.summary
    ran = {r.id for r in report.results if r.outcome.value == "pass"}
    assert {"driver.timeout", "driver.cancel", "driver.recovery", "driver.state_machine"} <= ran
