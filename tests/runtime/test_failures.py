"""gtsdk.failures (exported by gtsdk.driver): what a driver or the runtime carries on after is logged by type
and place, never by its text; only exceptions are carried on after, not an interrupt."""

from __future__ import annotations

import logging

import pytest

from gtsdk.driver import carrying_on, swallowed

SECRET = "110101199003071234"


def test_carrying_on_logs_type_and_place_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("gtsdk.drivers.acme")
    caplog.set_level(logging.WARNING, logger="gtsdk.drivers.acme")
    after: list[bool] = []
    with carrying_on("lights", "releasing the port", logger=log):
        raise OSError(f"port of {SECRET} gone")
    after.append(True)
    assert after == [True]
    (rec,) = caplog.records
    assert rec.name == "gtsdk.drivers.acme" and rec.levelno == logging.WARNING
    assert rec.getMessage().startswith("lights: releasing the port raised OSError at ")
    assert "test_failures.py:" in rec.getMessage() and SECRET not in caplog.text and rec.exc_info is None


def test_swallowed_without_a_traceback_still_names_the_type(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gtsdk")
    swallowed("voice", "playing a prompt", ValueError(SECRET))
    assert caplog.records[0].getMessage() == "voice: playing a prompt raised ValueError; carrying on"
    assert SECRET not in caplog.text


def test_an_interrupt_is_not_carried_on_after() -> None:
    with pytest.raises(KeyboardInterrupt), carrying_on("lights", "anything"):
        raise KeyboardInterrupt
