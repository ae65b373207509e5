"""gtsdk.transport.usb against the fake USB bus (simulators/_usb.py) through pyusb itself:
claim and release, kernel-driver hand-over, deadlines, cancel, unplug and reconnect, the
injectable backend, and the VID:PID parser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("usb")

from gtsdk.driver import OpContext
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.simulators._usb import Endpoint, FakeUsbBackend, PacketQueue, UsbDescription
from gtsdk.transport.usb import UsbLink, UsbMatch, load_backend, parse_vid_pid

VID, PID = 0x1234, 0x5678
DESC = UsbDescription(VID, PID, interface_class=0xFF, endpoints=(Endpoint(0x02), Endpoint(0x82)),
                      manufacturer="gtsdk", product="echo", serial="E-1")


class Echo:
    """Echoes bulk OUT on bulk IN; vendor request 1 reads a register, 2 writes it; anything else stalls."""

    def __init__(self) -> None:
        self.q = PacketQueue()
        self.register = b"\x00"
        self.silent = False
        self.received = bytearray()

    def usb_out(self, endpoint: int, data: bytes) -> None:
        self.received += data
        if not self.silent:
            self.q.put(data)

    def usb_in(self, endpoint: int, size: int, timeout: float) -> bytes | None:
        return self.q.get(size, timeout)

    def usb_control(self, request_type: int, request: int, value: int, index: int, data: bytes,
                    length: int) -> bytes | None:
        if request_type == 0xC0 and request == 1:
            return self.register[:length]
        if request_type == 0x40 and request == 2:
            self.register = data
            return b""
        return None


@pytest.fixture
def bus() -> Iterator[tuple[FakeUsbBackend, Echo]]:
    fn = Echo()
    be = FakeUsbBackend(DESC, fn, kernel_driver=True)
    yield be, fn
    be.release()


def link(be: FakeUsbBackend, **kw: object) -> UsbLink:
    return UsbLink(UsbMatch.of(VID, PID), backend=be, name="echo device", **kw)  # type: ignore[arg-type]


def test_open_takes_the_interface_from_the_kernel_and_close_gives_it_back(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    lk = link(be)
    lk.open()
    assert lk.is_open and be.claimed == {0} and not be.kernel_driver_active and be.handles == 1
    assert lk.ep_in.bEndpointAddress == 0x82 and lk.ep_out.bEndpointAddress == 0x02
    lk.close()
    assert not lk.is_open and be.claimed == set() and be.handles == 0 and be.kernel_driver_active
    assert be.log == ["detach", "claim 0", "release 0", "attach"]
    lk.close()  # closing twice is harmless
    assert be.log[-1] == "attach"


def test_bulk_round_trip_in_chunks_and_surplus_kept_for_the_next_read(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, fn = bus
    lk = link(be)
    lk.open()
    data = bytes(range(256)) * 40  # 10 KB: three OUT transfers of at most 4096 bytes
    lk.write(data)
    assert bytes(fn.received) == data
    got = lk.read_exact(3) + lk.read_exact(len(data) - 3)  # packets of 64: the 61 left of the first one wait
    assert got == data
    lk.close()


def test_control_transfers_and_a_stall_is_communication_error(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    lk = link(be)
    lk.open()
    lk.control_out(0x40, 2, 0, 0, b"\x2a")
    assert lk.control_in(0xC0, 1, 0, 0, 1) == b"\x2a"
    with pytest.raises(GtsdkError) as e:
        lk.control_in(0xC0, 9, 0, 0, 1)
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR and "EPIPE" in e.value.detail
    assert lk.is_open  # a stall is not a lost device
    lk.close()


def test_silent_device_is_communication_error_after_the_answer_timeout(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, fn = bus
    lk = link(be, answer_timeout=0.2)
    lk.open()
    fn.silent = True
    lk.write(b"ping")
    assert lk.read_packet() is None
    with pytest.raises(GtsdkError) as e:
        lk.read_exact(4)
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR and e.value.data == {"received": 0}
    lk.close()


def test_the_operation_deadline_cuts_a_longer_answer_timeout(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, fn = bus
    lk = link(be, answer_timeout=30.0)
    lk.open()
    fn.silent = True
    ctx = OpContext("r1", 0.3)
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        lk.read_exact(4, ctx)
    assert e.value.code == ErrorCode.TIME_OUT
    assert time.monotonic() - t0 < 10  # the deadline, not the 30 s answer timeout
    with pytest.raises(GtsdkError) as e:
        lk.write(b"x", ctx)  # nothing starts after the deadline
    assert e.value.code == ErrorCode.TIME_OUT
    lk.close()


def test_cancel_stops_a_waiting_read(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, fn = bus
    lk = link(be, answer_timeout=30.0)
    lk.open()
    fn.silent = True
    ctx = OpContext("r2", 30.0)
    threading.Timer(0.2, ctx.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        lk.read_exact(1, ctx)
    assert e.value.code == ErrorCode.CANCELED and time.monotonic() - t0 < 10
    lk.close()


def test_unplug_is_no_device_and_reopen_finds_the_device_again(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    lk = link(be)
    lk.open()
    be.unplug()
    with pytest.raises(GtsdkError) as e:
        lk.write(b"x")
    assert e.value.code == ErrorCode.NO_DEVICE and not lk.is_open  # the link closed itself
    with pytest.raises(GtsdkError) as e:
        lk.open()
    assert e.value.code == ErrorCode.NO_DEVICE and "echo device" in e.value.detail
    be.replug()
    assert be.kernel_driver_active  # the kernel driver bound to the re-enumerated device
    lk.open()
    lk.write(b"back")
    assert lk.read_exact(4) == b"back" and be.claimed == {0}
    lk.close()
    assert be.handles == 0


def test_unplug_while_a_read_waits(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, fn = bus
    lk = link(be, answer_timeout=5.0)
    lk.open()
    fn.silent = True
    threading.Timer(0.2, be.unplug).start()
    with pytest.raises(GtsdkError) as e:
        lk.read_exact(1, OpContext("r3", 5.0))
    assert e.value.code == ErrorCode.NO_DEVICE


def test_match_by_product_and_serial(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    for match in (UsbMatch.of(VID, 0x0001), UsbMatch.of(VID + 1), UsbMatch.of(VID, PID, "E-2")):
        with pytest.raises(GtsdkError) as e:
            UsbLink(match, backend=be).open()
        assert e.value.code == ErrorCode.NO_DEVICE
    for match in (UsbMatch.of(VID), UsbMatch.of(VID, {PID, 0x0001}), UsbMatch.of(VID, PID, "E-1")):
        lk = UsbLink(match, backend=be)
        lk.open()
        lk.close()
    assert str(UsbMatch.of(VID, {2, 1}, "S")) == "1234:0001/0002 serial S"


def test_missing_interface_is_no_device(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    with pytest.raises(GtsdkError) as e:
        link(be, interface=3).open()
    assert e.value.code == ErrorCode.NO_DEVICE and be.handles == 0 and be.claimed == set()


def test_injectable_backend_by_name(bus: tuple[FakeUsbBackend, Echo]) -> None:
    be, _ = bus
    assert load_backend("gtsdk.simulators._usb:backend", be.key) is be
    with pytest.raises(GtsdkError) as e:
        load_backend("gtsdk.simulators._usb:backend", "usb-none")
    assert e.value.code == ErrorCode.NO_DEVICE
    for spec in ("no.such.module:backend", "gtsdk.simulators._usb:nothing", "gtsdk.simulators._usb", ":x",
                 "gtsdk.simulators._usb:_LIBUSB_PIPE"):
        with pytest.raises(ConfigError) as c:
            load_backend(spec, None, field="usb_backend")
        assert c.value.field == "usb_backend"


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.booleans())
def test_vid_pid_round_trip(vid: int, pid: int, upper: bool) -> None:
    text = f"{vid:04X}:{pid:04X}" if upper else f"{vid:x}:{pid:x}"
    assert parse_vid_pid(text) == (vid, pid)


@given(st.text(max_size=12))
def test_vid_pid_garbage_is_config_error(text: str) -> None:
    try:
        vid, pid = parse_vid_pid(text)
    except ConfigError as e:
        assert e.field == "usb" and e.code == ErrorCode.CONFIG_ERROR
    else:
        assert 0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF
