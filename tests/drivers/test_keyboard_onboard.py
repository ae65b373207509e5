"""The onboard driver on a real dbus-daemon session bus: Show/Hide reach the Onboard interface, a bus
without Onboard is a clear noDevice, and the driver recovers when Onboard comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _media_fixtures import Recorder, need, terminal_for, wait_for

from gtsdk.errors import ErrorCode, GtsdkError

pytestmark = pytest.mark.peer


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    need("dbus-daemon")
    pytest.importorskip("jeepney")
    from gtsdk.simulators.keyboard import dbus_onboard

    b, onboard, settings = dbus_onboard.start(tmp_path)
    yield b, onboard, settings
    onboard.stop()
    b.stop()


def test_show_and_hide_over_dbus(bus: tuple[Any, Any, dict[str, Any]]) -> None:
    _b, onboard, settings = bus
    t = terminal_for("keyboard", "onboard", settings)
    with t:
        rec = Recorder(t, "keyboard")
        st = t.keyboard.show(layout="numeric", field="idno")
        assert st.visible and onboard.calls == ["Show"] and onboard.visible
        t.keyboard.hide()
        assert onboard.calls == ["Show", "Hide"] and not onboard.visible
        assert [e["visible"] for e in rec.of("keyboardShown") + rec.of("keyboardHidden")] == [True, False]
        assert t.keyboard.status().state == "online"
        onboard.stop()  # Onboard quits: its name leaves the bus
        with pytest.raises(GtsdkError) as ei:
            t.keyboard.show(layout="full")
        assert ei.value.code == ErrorCode.NO_DEVICE


def test_no_onboard_on_the_bus(tmp_path: Path) -> None:
    need("dbus-daemon")
    pytest.importorskip("jeepney")
    from gtsdk.simulators.keyboard import dbus_onboard

    b = dbus_onboard.SessionBus(tmp_path)
    try:
        t = terminal_for("keyboard", "onboard", {"bus_address": b.address}, reconnect_interval=0.1)
        with t:
            with pytest.raises(GtsdkError) as ei:
                t.keyboard.show(layout="full")
            assert ei.value.code == ErrorCode.NO_DEVICE and "Onboard is not running" in ei.value.detail
            assert t.keyboard.status().state == "noDevice"
            onboard = dbus_onboard.OnboardStandIn(b.address)  # Onboard starts: the driver recovers
            try:
                wait_for(lambda: t.keyboard.status().state == "online")
                assert t.keyboard.show(layout="full").visible and onboard.calls == ["Show"]
            finally:
                onboard.stop()
    finally:
        b.stop()


def test_no_session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("jeepney")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    t = terminal_for("keyboard", "onboard", {})
    with t:
        with pytest.raises(GtsdkError) as ei:
            t.keyboard.hide()
        assert ei.value.code == ErrorCode.NO_DEVICE
    t = terminal_for("keyboard", "onboard", {"bus_address": f"unix:path={tmp_path / 'nothing'}"})
    with t:
        with pytest.raises(GtsdkError) as ei:
            t.keyboard.hide()
        assert ei.value.code == ErrorCode.NO_DEVICE


def test_the_onboard_simulator_quits_comes_back_and_hangs(tmp_path: Path) -> None:
    """gtsdk.sim's simulator for the onboard driver: what certify-driver --simulate and gtsdk sim use."""
    need("dbus-daemon")
    pytest.importorskip("jeepney")
    from gtsdk import sim as simulation

    s = simulation.start("keyboard", tmp_path, "onboard")
    try:
        assert (s.module, s.driver) == ("keyboard", "onboard") and set(s.settings) == {"bus_address"}
        assert simulation.start("keyboard", tmp_path / "web").driver == "web"  # the module's default
        t = terminal_for("keyboard", "onboard", s.settings, reconnect_interval=0.1)
        with t:
            assert t.keyboard.show(layout="numeric").visible
            assert s.control("state", {})["calls"] == ["Show"]
            s.control("stop_answering", {})
            with pytest.raises(GtsdkError) as ei:
                t.keyboard.hide(timeout=0.5)
            assert ei.value.code == ErrorCode.TIME_OUT
            s.control("answer", {})
            s.control("unplug", {})
            with pytest.raises(GtsdkError) as ei:
                t.keyboard.hide()
            assert ei.value.code == ErrorCode.NO_DEVICE
            assert not s.control("state", {})["running"]
            s.control("replug", {})
            wait_for(lambda: t.keyboard.status().state == "online", 10)
            assert not t.keyboard.hide().visible
        with pytest.raises(GtsdkError):
            s.control("explode", {})
    finally:
        s.stop()
    assert not (tmp_path / "bus.sock").exists()
