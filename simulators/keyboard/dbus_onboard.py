"""A private D-Bus session bus (the real ``dbus-daemon``) with a stand-in for Onboard's
``org.onboard.Onboard.Keyboard`` interface: the simulator of the ``onboard`` keyboard driver.

The stand-in owns Onboard's bus name and answers ``Show``/``Hide``/``ToggleVisible`` as Onboard does
(docs/peripherals-media.md), recording the calls.  :class:`OnboardSimulation` follows the simulator
contract (``gtsdk sim keyboard --driver onboard``, ``certify-driver keyboard.onboard --simulate``): Onboard
quits and starts again (``unplug``/``replug``: its name leaves the bus and comes back) and can stop
answering."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from gtsdk import leftovers
from gtsdk.drivers.onboard_keyboard import codec
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import carrying_on
from gtsdk.sim import unknown_action
from gtsdk.simulators._history import History

log = logging.getLogger("gtsdk.simulators.keyboard")


class SessionBus:
    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("dbus-daemon")
        if exe is None:
            raise FileNotFoundError("dbus-daemon not installed")
        self.socket = workdir / "bus.sock"
        self.address = f"unix:path={self.socket}"
        self.proc = leftovers.spawn([exe, "--session", "--nofork", "--nopidfile", f"--address={self.address}",
                                     "--print-address=1"], label="dbus-daemon (session)",
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            self.stop()
            raise RuntimeError("dbus-daemon did not start")

    def stop(self) -> None:
        leftovers.stop(self.proc, grace=3)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)


class OnboardStandIn:
    def __init__(self, address: str) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.calls: History[str] = History()
        self.visible = False
        #: drop method calls unanswered (a hung Onboard); the caller's own timeout ends the call
        self.mute = False
        self._conn = open_dbus_connection(bus=address)
        reply = self._conn.send_and_get_reply(message_bus.RequestName(codec.BUS_NAME))
        assert reply.body[0] == 1, "could not own the Onboard name"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="onboard-standin", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from jeepney import MessageType, new_error, new_method_return

        while not self._stop.is_set():
            try:
                msg = self._conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            except Exception as e:  # noqa: BLE001 - the bus went away (jeepney's types vary): the service ends
                log.debug("onboard stand-in: receive ended by %s", type(e).__name__)
                return
            h = msg.header
            if h.message_type is not MessageType.method_call:
                continue
            from jeepney import HeaderFields

            member = h.fields.get(HeaderFields.member)
            path = h.fields.get(HeaderFields.path)
            iface = h.fields.get(HeaderFields.interface)
            if self.mute:
                continue
            if path == codec.OBJECT_PATH and iface == codec.INTERFACE and member in codec.METHODS:
                self.calls.append(str(member))
                self.visible = {"Show": True, "Hide": False}.get(str(member), not self.visible)
                self._conn.send(new_method_return(msg))
            else:
                self._conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with carrying_on("keyboard", "closing the Onboard stand-in's connection", logger=log):
            self._conn.close()


def start(workdir: Path) -> tuple[SessionBus, OnboardStandIn, dict[str, Any]]:
    bus = SessionBus(workdir)
    try:
        onboard = OnboardStandIn(bus.address)
    except Exception:
        bus.stop()
        raise
    return bus, onboard, {"bus_address": bus.address}


class OnboardSimulation:
    """The simulator contract (gtsdk.sim.Simulation) over a session bus and an Onboard stand-in."""

    module = "keyboard"
    driver = "onboard"

    def __init__(self, workdir: Path) -> None:
        try:
            self.bus = SessionBus(workdir)
        except (FileNotFoundError, RuntimeError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"no D-Bus session bus for the onboard simulator: {e}") from None
        self.onboard: OnboardStandIn | None = None
        self._lock = threading.Lock()
        try:
            self.onboard = OnboardStandIn(self.bus.address)
        except BaseException:
            self.bus.stop()
            raise
        self.settings: dict[str, Any] = {"bus_address": self.bus.address}

    def describe(self) -> str:
        running = "running" if self.onboard is not None else "not running"
        return f"Onboard stand-in ({running}) on a private D-Bus session bus {self.bus.address}"

    def actions(self) -> dict[str, str]:
        return {
            "unplug": "Onboard quits (its name leaves the session bus)",
            "replug": "Onboard starts again",
            "stop_answering": "Onboard stops answering method calls (a hung keyboard)",
            "answer": "Onboard answers again",
            "state": "show the simulator state",
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if action == "unplug" and self.onboard is not None:
                self.onboard.stop()
                self.onboard = None
            elif action == "replug" and self.onboard is None:
                self.onboard = OnboardStandIn(self.bus.address)
            elif action in ("stop_answering", "answer") and self.onboard is not None:
                self.onboard.mute = action == "stop_answering"
            elif action not in ("unplug", "replug", "stop_answering", "answer", "state"):
                raise unknown_action(self, action)
            ob = self.onboard
            return {"running": ob is not None, "visible": bool(ob and ob.visible),
                    "calls": list(ob.calls) if ob else [], "answering": bool(ob and not ob.mute)}

    def stop(self) -> None:
        with self._lock:
            if self.onboard is not None:
                self.onboard.stop()
                self.onboard = None
        self.bus.stop()
