"""pytest plugin: the driver tier as one test per check, and one per mandatory operation.

    pytest -p gtsdk.conformance.pytest_plugin --gtsdk-driver lights.hello \
        [--gtsdk-settings '{"port": "/dev/ttyUSB0"}'] [--gtsdk-simulate]

A failing check fails its test with the reason; a check that cannot run here is
skipped naming what it needs; a check that does not apply to the module is skipped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .driver_tier import certify_driver, checks
from .model import Outcome, Report

_cache: dict[tuple[str, str, bool], Report] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("gtsdk")
    g.addoption("--gtsdk-driver", help="driver entry point <module>.<driver> to certify")
    g.addoption("--gtsdk-settings", default="{}", help="driver settings (JSON)")
    g.addoption("--gtsdk-simulate", action="store_true", help="against gtsdk's simulator")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gtsdk_check" in metafunc.fixturenames:
        metafunc.parametrize("gtsdk_check", [c.id for c in checks.checks])


@pytest.fixture
def gtsdk_driver_report(request: pytest.FixtureRequest) -> Report:
    entry = request.config.getoption("--gtsdk-driver")
    if not entry:
        pytest.skip("no --gtsdk-driver given")
    settings = request.config.getoption("--gtsdk-settings")
    simulate = bool(request.config.getoption("--gtsdk-simulate"))
    key = (entry, settings, simulate)
    if key not in _cache:
        _cache[key] = certify_driver(entry, json.loads(settings), simulate=simulate)
    return _cache[key]


def check_outcome(report: Report, check_id: str) -> Any:
    for r in report.results:
        if r.id == check_id:
            if r.outcome == Outcome.NOT_RUN:
                pytest.skip(f"{r.reason} — needs {r.needs}")
            if r.outcome == Outcome.NOT_APPLICABLE:
                pytest.skip(f"not applicable: {r.reason}")
            assert r.outcome == Outcome.PASS, f"{check_id}: {r.reason} {r.evidence}"
            return r
    pytest.skip(f"{check_id} not in report")


def operation_verdict(report: Report, op: str) -> dict[str, Any]:
    """What ``driver.operations`` found for *op*: ``{"code", "problem"?, "needs"?, ...}``."""
    for r in report.results:
        if r.id == "driver.operations":
            ops = r.evidence.get("operations") or {}
            if op in ops:
                return dict(ops[op])
            return {"code": None, "problem": r.reason or f"{op} was not reached ({r.outcome.value})"}
    return {"code": None, "problem": "driver.operations did not run"}


def check_operation(report: Report, op: str) -> None:
    """Fail unless *op* completed end to end (skip when it needs a person or a simulator)."""
    v = operation_verdict(report, op)
    if v.get("needs"):
        pytest.skip(f"{op} needs {v['needs']}")
    assert v.get("code") == "success" and not v.get("problem"), f"{op}: {v.get('problem') or v.get('code')}"


def test_gtsdk_driver_check(gtsdk_driver_report: Report, gtsdk_check: str) -> None:
    """Collected from this plugin when --gtsdk-driver is given."""
    check_outcome(gtsdk_driver_report, gtsdk_check)
