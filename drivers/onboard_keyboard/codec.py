"""Onboard's D-Bus interface as messages (pure: builds jeepney messages, no I/O).

Onboard (1.x) owns the bus name ``org.onboard.Onboard`` on the session bus and exports
``/org/onboard/Onboard/Keyboard`` with the interface ``org.onboard.Onboard.Keyboard``:
methods ``Show()``, ``Hide()`` and ``ToggleVisible()`` (Onboard's README, section
"D-Bus Service")."""

from __future__ import annotations

from jeepney import DBusAddress, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus

BUS_NAME = "org.onboard.Onboard"
OBJECT_PATH = "/org/onboard/Onboard/Keyboard"
INTERFACE = "org.onboard.Onboard.Keyboard"
METHODS = ("Show", "Hide", "ToggleVisible")


def keyboard(bus_name: str = BUS_NAME, path: str = OBJECT_PATH, interface: str = INTERFACE) -> DBusAddress:
    return DBusAddress(path, bus_name=bus_name, interface=interface)


def call(addr: DBusAddress, method: str) -> Message:
    if method not in METHODS:
        raise ValueError(f"not an Onboard method: {method}")
    return new_method_call(addr, method)


def name_has_owner(name: str) -> Message:
    return message_bus.NameHasOwner(name)


def is_error(reply: Message) -> bool:
    return reply.header.message_type is MessageType.error


def error_name(reply: Message) -> str:
    from jeepney import HeaderFields

    return str(reply.header.fields.get(HeaderFields.error_name, "org.freedesktop.DBus.Error.Failed"))
