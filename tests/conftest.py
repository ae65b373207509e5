"""Fixtures shared by every test area (area fixtures live in tests/_<area>_fixtures.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
