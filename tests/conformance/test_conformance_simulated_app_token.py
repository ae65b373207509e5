"""The whole terminal tier against `gtsdk serve --simulate` with an app token alone: the report
names each check it could not run and what it needs (a maintenance token for the simulator, or an
operator), and never calls a tier reached.  Every check still runs or is named — the same set as
test_conformance_simulated.py, which runs them all with a maintenance token."""

from __future__ import annotations

import time

import pytest
from _simulated_service import SimService

from gtsdk.conformance.model import Outcome
from gtsdk.conformance.terminal_base import HARDWARE
from gtsdk.conformance.terminal_tier import certify_terminal

ORIGIN = "http://127.0.0.1"  # the kiosk page origin the session's terminal allows


@pytest.mark.slow
@pytest.mark.daemons
@pytest.mark.timeout(400)  # the first user of the session's simulated terminal also pays for starting it
def test_an_app_token_alone_names_every_check_it_could_not_run(sim_service: SimService) -> None:
    t0 = time.monotonic()
    rep = certify_terminal(sim_service.url, sim_service.conformance_token, ca=sim_service.ca, origin=ORIGIN)
    took = time.monotonic() - t0
    assert not rep.failures(), [(r.id, r.module, r.reason) for r in rep.failures()]
    missing = {(m.check, m.module) for m in rep.incomplete}
    present = set(rep.environment["modules"])
    for m in present & set(HARDWARE):
        assert ("module.status_truth", m) in missing, m
    for m in present & {"idcard", "fingerprint", "signature_pad", "qr_scanner"}:
        assert ("module.operations", m) in missing, m  # a card, a finger, a pen, a code: the world must change
    assert ("audit.personal_data", None) in missing
    assert rep.tier_reached is None and rep.tiers["bronze"] == "incomplete"
    assert all(m.needs for m in rep.incomplete)
    ran = {r.id for r in rep.results if r.outcome == Outcome.PASS}
    assert {"security.rate_limit", "responses.personal_data", "events.stream"} <= ran
    print(f"\napp token only: {len(rep.results)} checks in {took:.1f} s; tiers {rep.tiers}; "
          f"{len(rep.incomplete)} not run, e.g. {sorted(missing)[:6]}")
