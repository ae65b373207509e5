"""The whole terminal tier against `gtsdk serve --simulate` (every module on its simulator):
with a maintenance token every check runs — the world changes through the simulators — and
the terminal earns gold within the default three-minute budget.  (With an app token alone:
test_conformance_simulated_app_token.py, a module of its own so that a second worker runs it
beside this one.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _simulated_service import SimService

from gtsdk.conformance import html
from gtsdk.conformance.model import Tier
from gtsdk.conformance.terminal_tier import DEFAULT_BUDGET, certify_terminal
from gtsdk.modules import MODULES
from gtsdk.simulated import simulations_of

ORIGIN = "http://127.0.0.1"  # the kiosk page origin the session's terminal allows
#: how much faster than a person the simulated hand signs here: this test is about what the service answers,
#: not how long a signature takes (module.operations[signature_pad] otherwise waits ~5 s for the pen alone)
PEN_SPEED = 8.0


@pytest.fixture
def quick_pen(sim_service: SimService) -> Iterator[None]:
    """The session's signature pad delivers pen reports PEN_SPEED times faster (time stamps stay real), and is
    back at its own pace for the session's other users afterwards."""
    pad = simulations_of(sim_service.terminal)["signature_pad"]
    was = pad.control("status", {})["speed"]
    pad.control("speed", {"factor": PEN_SPEED})
    try:
        yield
    finally:
        pad.control("speed", {"factor": was})


def _times(rep) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{s['check']}[{s['module']}] {s['seconds']}s" for s in rep.summary["slowest"][:8])


@pytest.mark.slow
@pytest.mark.daemons
@pytest.mark.timeout(400)  # the first user of the session's simulated terminal also pays for starting it
def test_simulated_terminal_earns_gold_with_every_check_run(sim_service: SimService, artifacts,  # type: ignore[no-untyped-def]
                                                            quick_pen: None) -> None:
    t0 = time.monotonic()
    rep = certify_terminal(sim_service.url, sim_service.conformance_token,
                           maintenance_token=sim_service.maintenance_token, ca=sim_service.ca, origin=ORIGIN)
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
