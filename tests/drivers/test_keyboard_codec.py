"""Onboard D-Bus messages (8.4 n): the calls carry exactly the documented destination, path, interface
and member (Onboard README, "D-Bus Service"), and survive a round trip through jeepney's wire parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

jeepney = pytest.importorskip("jeepney")

from jeepney import HeaderFields, Parser  # noqa: E402

from gtsdk.drivers.onboard_keyboard import codec  # noqa: E402


@pytest.mark.parametrize("method", codec.METHODS)
def test_method_calls_on_the_wire(method: str) -> None:
    raw = codec.call(codec.keyboard(), method).serialise(serial=7)
    assert raw[:1] == b"l" and raw[1] == 1  # little endian, METHOD_CALL (D-Bus specification, message format)
    p = Parser()
    p.add_data(raw)
    msg = p.get_next_message()
    f = msg.header.fields
    assert (f[HeaderFields.destination], f[HeaderFields.path], f[HeaderFields.interface], f[HeaderFields.member]) == (
        "org.onboard.Onboard", "/org/onboard/Onboard/Keyboard", "org.onboard.Onboard.Keyboard", method)
    assert msg.body == () and msg.header.serial == 7


@given(st.text(max_size=20))
def test_only_documented_methods(name: str) -> None:
    if name in codec.METHODS:
        assert codec.call(codec.keyboard(), name) is not None
    else:
        with pytest.raises(ValueError):
            codec.call(codec.keyboard(), name)


def test_name_has_owner_asks_the_bus() -> None:
    m = codec.name_has_owner(codec.BUS_NAME)
    f = m.header.fields
    assert (f[HeaderFields.destination], f[HeaderFields.member], m.body) == (
        "org.freedesktop.DBus", "NameHasOwner", ("org.onboard.Onboard",))
