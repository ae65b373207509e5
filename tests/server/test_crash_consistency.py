"""Crash consistency as a test family (issue #18): ``kill -9`` of the service at random points under load.

After each restart the audit chain verifies, every operation answered 200 is in the audit log, no row is
duplicated, acknowledged token changes hold, and no process the killed service started survives it.
More rounds: ``python tests/_crash_harness.py --rounds 50 [--full]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _crash_harness import run

ROUNDS = int(os.environ.get("GTSDK_CRASH_ROUNDS", "3"))


@pytest.mark.slow
def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A light service (five in-process simulators): many rounds in little time."""
    out = run(tmp_path, ROUNDS, seed=18, expect_clean_tmp=True)
    assert out.rounds == ROUNDS
    assert out.acknowledged > 0 and out.tokens_checked > 0  # the load really ran and was checked
    assert not out.problems, out.problems


@pytest.mark.slow
@pytest.mark.daemons
def test_kill9_of_gtsdk_serve_simulate_orphans_nothing(tmp_path: Path) -> None:
    """`gtsdk serve --simulate` with every module (pcscd, cupsd, ippeveprinter, avahi, dbus): the same checks,
    and none of the daemons of a killed service survives it, nor any temporary folder or file (the drivers'
    folders — espeak's gtsdk-voice-*, CUPS's gtsdk-a4-* — are in the leftovers ledger; onnxruntime's telemetry
    ``.ses`` file is never written)."""
    out = run(tmp_path, 2, full=True, seed=9, expect_clean_tmp=True)
    assert out.rounds == 2 and out.acknowledged > 0
    assert not out.problems, out.problems
    assert not out.orphans
    assert not out.leftover_tmp
