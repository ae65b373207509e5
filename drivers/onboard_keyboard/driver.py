"""The OS on-screen keyboard "Onboard" over the D-Bus session bus (8.4 n).

``connect`` gives ``noDevice`` when there is no session bus or Onboard is not running
on it, so a terminal without Onboard reports it clearly instead of failing later.
Onboard shows its own configured layout; the requested layout is recorded in the state
and the events (``keyboardShown``/``keyboardHidden``) for the page's benefit.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pydantic import Field

from gtsdk.driver import DeviceInfo, DriverSettings, EventSink, OpContext, Request, StateSink, carrying_on
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.keyboard import KeyboardDriver, KeyboardState, ShowRequest

from . import codec


class OnboardSettings(DriverSettings):
    bus_address: str | None = Field(None, description="D-Bus address (default: DBUS_SESSION_BUS_ADDRESS)")
    bus_name: str = codec.BUS_NAME
    object_path: str = codec.OBJECT_PATH
    interface: str = codec.INTERFACE
    call_timeout: float = Field(2.0, gt=0, le=30)


class OnboardKeyboardDriver(KeyboardDriver[OnboardSettings]):
    name = "onboard"
    version = "0.1"

    def __init__(self, settings: OnboardSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self._conn: Any = None
        self._lock = threading.Lock()
        self.state = KeyboardState(visible=False)

    def connect(self) -> None:
        from jeepney.io.blocking import open_dbus_connection

        address = self.s.bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise GtsdkError(ErrorCode.NO_DEVICE, "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset)")
        try:
            conn = open_dbus_connection(bus=address)
        except Exception as e:  # noqa: BLE001 - jeepney raises many types for a bad bus; reported as noDevice
            raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot reach the D-Bus session bus: {type(e).__name__}") from None
        try:
            reply = conn.send_and_get_reply(codec.name_has_owner(self.s.bus_name), timeout=self.s.call_timeout)
            running = bool(reply.body[0]) if not codec.is_error(reply) else False
        except Exception:  # noqa: BLE001 - any failure of the first call: the bus does not answer (noDevice)
            conn.close()
            raise GtsdkError(ErrorCode.NO_DEVICE, "the D-Bus session bus does not answer") from None
        if not running:
            conn.close()
            raise GtsdkError(ErrorCode.NO_DEVICE, f"Onboard is not running ({self.s.bus_name} has no owner)")
        self._conn = conn

    def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with carrying_on("keyboard", "closing the D-Bus connection"):
                conn.close()

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="Onboard", model="on-screen keyboard (D-Bus)", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"layouts": "as configured in Onboard", "large": False, "bus": self.s.bus_name}

    def status_detail(self) -> dict[str, Any]:
        return self.state.wire()

    def _call(self, method: str, ctx: OpContext) -> None:
        if self._conn is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "not connected to Onboard")
        msg = codec.call(codec.keyboard(self.s.bus_name, self.s.object_path, self.s.interface), method)
        timeout = max(0.05, min(self.s.call_timeout, ctx.remaining()))
        try:
            with self._lock:
                reply = self._conn.send_and_get_reply(msg, timeout=timeout)
        except TimeoutError:
            raise GtsdkError(ErrorCode.TIME_OUT, f"Onboard did not answer {method}") from None
        except (OSError, ConnectionError, EOFError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"D-Bus connection lost: {type(e).__name__}") from None
        if codec.is_error(reply):
            name = codec.error_name(reply)
            code = ErrorCode.NO_DEVICE if name.endswith(("ServiceUnknown", "NameHasNoOwner")) else \
                ErrorCode.HARDWARE_ERROR
            raise GtsdkError(code, f"Onboard answered {name}")

    def show(self, request: ShowRequest, ctx: OpContext) -> KeyboardState:
        self._call("Show", ctx)
        self.state = KeyboardState(visible=True, layout=request.layout, field=request.field, large=request.large)
        self.emit("keyboardShown", self.state.wire())
        return self.state

    def hide(self, request: Request, ctx: OpContext) -> KeyboardState:
        self._call("Hide", ctx)
        self.state = KeyboardState(visible=False)
        self.emit("keyboardHidden", {"visible": False})
        return self.state
