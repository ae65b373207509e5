"""The web soft keyboard (8.4 n): ``show``/``hide`` become ``keyboardShown``/``keyboardHidden``
events that the kiosk page receives through the service's event stream and hands to the
reference keyboard component ``/sdk/keyboard.js`` (``GtsdkKeyboard.handleEvent``).

There is no device, so the driver only keeps the state and validates the request: the
layout (``numeric``, ``idNumber``, ``phone``, ``full``, ``pinyin``, ``large``) and the field id
(an HTML id: letters, digits, ``-``, ``_``, ``:``, ``.``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from gtsdk.driver import DeviceInfo, DriverSettings, EventSink, OpContext, Request, StateSink
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.keyboard import KeyboardDriver, KeyboardState, Layout, ShowRequest

_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_:.\-]*$")


class WebKeyboardSettings(DriverSettings):
    large_by_default: bool = Field(False, description="always show large keys (an elderly-friendly terminal)")
    layouts: list[Layout] = Field(default_factory=lambda: list(Layout), description="layouts offered")


class WebKeyboardDriver(KeyboardDriver[WebKeyboardSettings]):
    name = "web"
    version = "0.1"

    def __init__(self, settings: WebKeyboardSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.state = KeyboardState(visible=False)

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="gtsdk", model="web keyboard (/sdk/keyboard.js)", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"layouts": [x.value for x in self.s.layouts], "large": True, "component": "/sdk/keyboard.js"}

    def status_detail(self) -> dict[str, Any]:
        return self.state.wire()

    def show(self, request: ShowRequest, ctx: OpContext) -> KeyboardState:
        if request.layout not in self.s.layouts:
            raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, "layout not offered on this terminal", field="layout")
        if request.field is not None and not _FIELD.match(request.field):
            raise GtsdkError(ErrorCode.INVALID_DATA, "field must be an HTML element id", field="field")
        large = request.large or self.s.large_by_default or request.layout is Layout.LARGE
        self.state = KeyboardState(visible=True, layout=request.layout, field=request.field, large=large)
        self.emit("keyboardShown", self.state.wire())
        return self.state

    def hide(self, request: Request, ctx: OpContext) -> KeyboardState:
        was = self.state
        self.state = KeyboardState(visible=False)
        self.emit("keyboardHidden", {"visible": False, **({"field": was.field} if was.field else {})})
        return self.state
