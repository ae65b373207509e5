"""The conformance suite's own test terminal (gtsdk.conformance.selftest): a real gtsdk service —
the ID card reader and the light board on their simulators, the web soft keyboard — behind a
wrapper a test can switch to one broken behaviour at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gtsdk.conformance import selftest
from gtsdk.conformance.model import Outcome, Report
from gtsdk.conformance.selftest import Target

#: short bounds for runs against a stalling terminal: a query waits QUICK_WAIT s, an operation its timeout plus
#: QUICK_SLACK s; the stall is seen ending at its bound without the defaults' (QUERY_WAIT, SLACK) wait
QUICK_WAIT, QUICK_SLACK = 2.0, 0.5


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One terminal for a test module (starting simulators once keeps the tests fast)."""
    t = selftest.start(tmp_path_factory.mktemp("conformance-terminal"))
    try:
        yield t
    finally:
        t.switch.mutation = None
        t.stop()


def outcomes(rep: Report, check: str) -> list[tuple[str | None, Outcome, str]]:
    return [(r.module, r.outcome, r.reason) for r in rep.results if r.id == check]


def failed(rep: Report, check: str) -> str:
    bad = [reason for _, o, reason in outcomes(rep, check) if o == Outcome.FAIL]
    assert bad, f"{check} did not fail: {outcomes(rep, check)}"
    return bad[0]


def not_run(rep: Report) -> list[tuple[str, str | None, str]]:
    return sorted((r.id, r.module, r.needs) for r in rep.results if r.outcome == Outcome.NOT_RUN)


__all__ = ["QUICK_SLACK", "QUICK_WAIT", "Target", "failed", "harness", "not_run", "outcomes"]
