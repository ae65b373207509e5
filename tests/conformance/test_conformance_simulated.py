"""The whole terminal tier against `gtsdk serve --simulate` (every module on its simulator):
with a maintenance token every check runs — the world changes through the simulators — and
the terminal earns gold within the default three-minute budget; with an app token alone the
report names each check it could not run and what it needs."""

from __future__ import annotations

import time

import pytest
from _simulated_service import SimService

from gtsdk.conformance import html
from gtsdk.conformance.model import Outcome, Tier
from gtsdk.conformance.terminal_base import HARDWARE
from gtsdk.conformance.terminal_tier import DEFAULT_BUDGET, certify_terminal
from gtsdk.modules import MODULES

ORIGIN = "http://127.0.0.1"  # the kiosk page origin the session's terminal allows


def _times(rep) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{s['check']}[{s['module']}] {s['seconds']}s" for s in rep.summary["slowest"][:8])


@pytest.mark.slow
@pytest.mark.daemons
@pytest.mark.timeout(400)  # the first user of the session's simulated terminal also pays for starting it
def test_simulated_terminal_earns_gold_with_every_check_run(sim_service: SimService, artifacts) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    rep = certify_terminal(sim_service.url, sim_service.app_token, maintenance_token=sim_service.maintenance_token,
                           ca=sim_service.ca, origin=ORIGIN)
    took = time.monotonic() - t0
    (artifacts / "conformance-simulated.html").write_text(html.render(rep), encoding="utf-8")
    (artifacts / "conformance-simulated.json").write_text(rep.model_dump_json(indent=1), encoding="utf-8")
    print(f"\nterminal tier, simulated terminal, maintenance token: {len(rep.results)} checks in {took:.1f} s; "
          f"tier {rep.tier_reached}; slowest: {_times(rep)}")
    assert not rep.failures(), [(r.id, r.module, r.reason) for r in rep.failures()]
    expected = set(MODULES)
    assert set(rep.environment["modules"]) == expected, "every module is present under --simulate"
    assert [(m.check, m.module, m.needs) for m in rep.incomplete] == []
    assert rep.tier_reached == Tier.GOLD
    assert took <= DEFAULT_BUDGET


@pytest.mark.slow
@pytest.mark.daemons
@pytest.mark.timeout(400)
def test_an_app_token_alone_names_every_check_it_could_not_run(sim_service: SimService) -> None:
    t0 = time.monotonic()
    rep = certify_terminal(sim_service.url, sim_service.app_token, ca=sim_service.ca, origin=ORIGIN)
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
