"""Fixtures shared by every test area (area fixtures live in tests/_<area>_fixtures.py), and how the
suite is spread over parallel workers (pytest-xdist, ``bash scripts/test.sh`` runs ``-n`` workers)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Byte code is cached (__pycache__, git-ignored) even where PYTHONDONTWRITEBYTECODE is set: otherwise every
# worker, and every `gtsdk` process a test starts, compiles the package afresh and pytest rewrites the asserts
# of every test module again (~6 s of CPU per worker's collection alone).
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Hypothesis' per-example deadline (200 ms) is a speed assertion, and speed is measured in benchmarks, not
# asserted in tests (docs/contributing.md, "No speed in tests"): on a loaded machine a property test's first
# example alone took 450-820 ms (issue #18).  A test that needs a deadline sets one with @settings(deadline=...).
settings.register_profile("gtsdk", deadline=None)
settings.load_profile("gtsdk")

#: Modules that take longest (a minute or more under load, measured with ``--durations=0``) start first, so
#: that no worker picks one up last and the run waits for it alone.  The rest keep their collection order.
#: (Quick tier, longest first: the update world, the native-bridge group, the client in a fresh venv, the
#: scaffold, the two conformance terminals, then the typed app, records restarts, kill -9 under load, CUPS.)
LONG_FIRST = (
    "test_updates_terminal", "test_bridge_certify", "test_conformance_simulated",
    "test_conformance_simulated_app_token", "test_updates_rollout", "test_client_install",
    "test_conformance_scaffold", "test_conformance_terminal", "test_demo_kiosk", "test_conformance_mutations",
    "test_typed_app", "test_fleet_catalogue_push", "test_records_restart", "test_crash_consistency",
    "test_a4_cups",
)


#: Fixtures that start a daemon (or a browser); a test using one, directly or through another fixture, is
#: marked ``daemons`` here, so that ``pytest -m "not daemons"`` (the quick tier) never waits for one.
DAEMON_FIXTURES = {
    "sim_service": "gtsdk serve --simulate with every simulator (cupsd, pcscd, ippeveprinter, ...)",
    "fleet": "Mosquitto", "postgres": "PostgreSQL", "browser": "headless Chromium",
}


def _needs_daemon(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    if names & DAEMON_FIXTURES.keys():
        return True
    callspec = getattr(item, "callspec", None)  # db_url's PostgreSQL case asks for `postgres` when it runs
    return callspec is not None and callspec.params.get("db_url") == "postgresql"


#: Modules that must not run beside each other share a group (one worker, one after the other).  The native
#: bridge's worker folder is one per user, module and mapping (/dev/shm/gtsdk-bridge-<uid>/, so that a
#: restarted service finds what a killed one left: drivers/bridge_common/workdir.py); the tests that drive
#: the shipped mapping would empty each other's folder.
SHARED_GROUPS = dict.fromkeys(
    ("test_bridge_native", "test_bridge_native_requests", "test_bridge_certify", "test_bridge_serve",
     "test_bridge_cli", "test_bridge_mapping"), "native-bridge-workdir")


def _stem(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem


def work_unit(nodeid: str) -> str:
    """What one worker runs whole, in order: the test's module (many share a module-scoped fixture — a
    fleet, an update world, a browser — and some build on the state an earlier test left), or its group."""
    return SHARED_GROUPS.get(_stem(nodeid), nodeid.split("::", 1)[0])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("daemons") is None and _needs_daemon(item):
            item.add_marker(pytest.mark.daemons)

    def rank(item: pytest.Item) -> int:
        stem = _stem(item.nodeid)
        return LONG_FIRST.index(stem) if stem in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # the workers' collection order is the order work units are handed out


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pragma: no cover - pytest-xdist is in the dev extra; without it the suite runs serially
    pass
else:
    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type information
        """``--dist loadscope`` with :func:`work_unit` as the scope.  (pytest-xdist's ``loadgroup`` marks
        cannot be used: it renames ``item._nodeid``, which pytest 9 no longer reads.)"""

        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            # xdist (--loadscope-reorder, its default) would queue the work units by their number of tests, most
            # first: the long modules of LONG_FIRST, most of them a handful of tests, were handed out last
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        return ModuleScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(autouse=True, scope="session")
def _gtsdk_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every test's CA, tokens, audit DB and model cache out of the user's home."""
    home = tmp_path_factory.mktemp("gtsdk-home")
    old = os.environ.get("GTSDK_HOME")
    os.environ["GTSDK_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("GTSDK_HOME", None)
    else:
        os.environ["GTSDK_HOME"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave things a person may want to look at (screenshots, rendered receipts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


from _simulated_service import sim_service  # noqa: E402,F401  (session fixture: the simulated terminal)
