"""The suite tests itself: each defect class of gtsdk.conformance.selftest breaks one promise
of a real terminal, and the check meant for it must fail with the intended reason (a fast
subset here; every class in ``python -m benchmarks.conformance_mutations``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _conformance_fixtures import QUICK_SLACK, QUICK_WAIT, Target, harness  # noqa: F401  (fixture)

from gtsdk.conformance import selftest
from gtsdk.conformance.terminal_tier import checks

FAST = [m for m in selftest.MUTATIONS if m.fast]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def test_the_catalogue_has_at_least_25_defect_classes_each_aimed_at_a_real_check() -> None:
    names = [m.name for m in selftest.MUTATIONS]
    assert len(set(names)) == len(names) >= 25
    ids = {c.id for c in checks.checks}
    for m in selftest.MUTATIONS:
        assert m.check in ids, m.name
        assert m.check in m.checks and set(m.checks) <= ids, m.name
        assert m.middleware is not None or m.own_terminal, m.name
    wanted = {"transport", "auth", "CORS/PNA", "envelope", "schema", "codes", "language", "personal data",
              "status", "events", "cancel", "timeout", "rate limits", "statistics", "capabilities"}
    assert wanted <= {m.category for m in selftest.MUTATIONS}
    assert len(FAST) >= 10


def test_the_docs_table_lists_every_defect_class_with_its_check() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for m in selftest.MUTATIONS:
        row = next((line for line in text.splitlines() if line.startswith(f"| {m.name} |")), None)
        assert row is not None, f"docs/conformance.md has no row for {m.name!r}"
        assert f"`{m.check}`" in row, row


@pytest.mark.parametrize("name", [m.name for m in FAST])
def test_each_broken_terminal_is_caught_by_the_check_meant_for_it(harness: Target, name: str) -> None:  # noqa: F811
    m = next(m for m in FAST if m.name == name)
    # a stall ends at its bound: short bounds see it end quickly (the benchmark runs it on the defaults)
    short = m.name.startswith("operations stall")
    out = selftest.try_mutation(m, harness, query_wait=QUICK_WAIT if short else None,
                                slack=QUICK_SLACK if short else None)
    assert out.caught, f"{m.check} said {out.outcome}: {out.reason!r} (other failures: {out.other_failures})"
    assert re.search(re.escape(m.words), out.reason)


def test_after_the_mutations_the_same_terminal_is_still_certified_clean(harness: Target) -> None:  # noqa: F811
    rep = selftest.certify(harness)
    assert rep.passed and rep.tier_reached is not None and rep.tier_reached.value == "gold", \
        [(r.id, r.module, r.reason) for r in rep.failures()]
