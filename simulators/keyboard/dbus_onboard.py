"""A private D-Bus session bus (the real ``dbus-daemon``) with a stand-in for Onboard's
``org.onboard.Onboard.Keyboard`` interface, for the ``onboard`` driver's tests.

The stand-in answers ``Show``/``Hide``/``ToggleVisible`` and records the calls; it can be
stopped (the name disappears from the bus) to test a keyboard that goes away."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from gtsdk import leftovers
from gtsdk.drivers.onboard_keyboard import codec


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

        self.calls: list[str] = []
        self.visible = False
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
            except Exception:
                return
            h = msg.header
            if h.message_type is not MessageType.method_call:
                continue
            from jeepney import HeaderFields

            member = h.fields.get(HeaderFields.member)
            path = h.fields.get(HeaderFields.path)
            iface = h.fields.get(HeaderFields.interface)
            if path == codec.OBJECT_PATH and iface == codec.INTERFACE and member in codec.METHODS:
                self.calls.append(str(member))
                self.visible = {"Show": True, "Hide": False}.get(str(member), not self.visible)
                self._conn.send(new_method_return(msg))
            else:
                self._conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self._conn.close()


def start(workdir: Path) -> tuple[SessionBus, OnboardStandIn, dict[str, Any]]:
    bus = SessionBus(workdir)
    try:
        onboard = OnboardStandIn(bus.address)
    except Exception:
        bus.stop()
        raise
    return bus, onboard, {"bus_address": bus.address}
