"""gtsdk conformance, driver tier: a failing check fails here with its reason."""

from gtsdk.conformance.pytest_plugin import test_gtsdk_driver_check

__all__ = ["test_gtsdk_driver_check"]
