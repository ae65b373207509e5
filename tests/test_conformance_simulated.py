"""The whole terminal tier against `gtsdk serve --simulate`: every module, every
interactive step automated through the simulators (issue: conformance suite)."""

from __future__ import annotations

import time

import pytest
from _simulated_service import SimService

from gtsdk.conformance import html
from gtsdk.conformance.model import Outcome
from gtsdk.conformance.terminal_tier import certify_terminal
from gtsdk.modules import MODULES


@pytest.mark.timeout(400)  # the first user of the session's simulated terminal also pays for starting it
def test_simulated_terminal_passes_the_terminal_tier(sim_service: SimService, artifacts) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    rep = certify_terminal(sim_service.url, sim_service.app_token, maintenance_token=sim_service.maintenance_token,
                           ca=sim_service.ca)
    took = time.monotonic() - t0
    (artifacts / "conformance-simulated.html").write_text(html.render(rep), encoding="utf-8")
    (artifacts / "conformance-simulated.json").write_text(rep.model_dump_json(indent=1), encoding="utf-8")
    assert not rep.failures(), [(r.id, r.module, r.reason) for r in rep.failures()]
    expected = set(MODULES)
    assert set(rep.environment["modules"]) == expected, "every module is present under --simulate"
    not_run = sorted({(r.id, r.module) for r in rep.results if r.outcome == Outcome.NOT_RUN})
    print(f"\nterminal tier against the simulated terminal: {len(rep.results)} checks in {took:.1f} s; "
          f"tier {rep.tier_reached}; not run: {not_run}")
