"""8.4 n) 软键盘 — soft keyboard: show (弹出), hide (关闭)."""

from __future__ import annotations

import abc
from enum import StrEnum

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, SettingsT, operations


class Layout(StrEnum):
    NUMERIC = "numeric"
    ID_NUMBER = "idNumber"
    PHONE = "phone"
    FULL = "full"
    PINYIN = "pinyin"
    LARGE = "large"  # the full keyboard with large keys (7.2 a 敬老: large icons)


class ShowRequest(Request):
    layout: Layout = Layout.FULL
    field: str | None = Field(default=None, max_length=64, description="id of the input field to type into")
    large: bool = Field(default=False, description="large keys for elderly users (7.2 a)")


class KeyboardState(Model):
    visible: bool
    layout: Layout | None = None
    field: str | None = None
    large: bool = False


class KeyboardDriver(Driver[SettingsT], abc.ABC):
    module = "keyboard"

    @abc.abstractmethod
    def show(self, request: ShowRequest, ctx: OpContext) -> KeyboardState: ...

    @abc.abstractmethod
    def hide(self, request: Request, ctx: OpContext) -> KeyboardState: ...


SPEC = ModuleSpec(
    id="keyboard",
    clause="8.4 n)",
    title_zh="软键盘",
    title_en="Soft keyboard",
    driver_class=KeyboardDriver,
    operations=operations(
        OperationSpec("show", ShowRequest, KeyboardState, summary="弹出软键盘", needs_open=False),
        OperationSpec("hide", Request, KeyboardState, summary="关闭软键盘", needs_open=False),
    ),
    events=("keyboardShown", "keyboardHidden"),
)
