"""Runs gtsdk's driver-tier conformance checks on this driver (one test per check)."""

import pytest

pytest_plugins = ["gtsdk.conformance.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--gtsdk-driver"):
        config.option.gtsdk_driver = "lights.hello"
