"""gtsdk.transport.serial against a simulated device on a real pseudo-terminal (simulators/_pty.py):
deadlines and cancel, the answer gap, unplug and reconnect at the same path, read_until."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators._pty import PtyDevice
from gtsdk.transport.serial import SerialLink


class Scripted(PtyDevice):
    """Answers every chunk it receives with the next scripted reply (nothing when the script is empty)."""

    def __init__(self, link: Path, baudrate: int | None = None) -> None:
        super().__init__(baudrate=baudrate, link=link)
        self.replies: list[bytes] = []
        self.received = bytearray()

    def on_bytes(self, data: bytes) -> None:
        self.received += data
        if self.replies:
            self.send(self.replies.pop(0))


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Scripted]:
    d = Scripted(tmp_path / "ttyDEV")
    d.start()
    yield d
    d.stop()


def opened(dev: Scripted, **kw: float) -> SerialLink:
    link = SerialLink(str(dev.link), 115200, **kw)  # type: ignore[arg-type]
    link.open()
    return link


def test_exchange_and_the_answer_gap(dev: Scripted) -> None:
    link = opened(dev, answer_timeout=0.2)
    dev.replies = [b"OK\r\n", b"AB"]
    link.write(b"AT\r")
    assert link.read_until(b"\r\n") == b"OK\r\n"
    link.write(b"x")
    with pytest.raises(GtsdkError) as e:
        link.read_exact(4)  # two bytes come, then nothing
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR and e.value.data == {"received": 2}
    assert bytes(dev.received) == b"AT\rx"
    link.close()


def test_the_gap_restarts_with_every_byte(tmp_path: Path) -> None:
    d = Scripted(tmp_path / "ttySLOW", baudrate=1200)  # 120 bytes: 1 s on the wire, in 32-byte slices
    d.start()
    try:
        link = SerialLink(str(d.link), 1200, answer_timeout=0.4)
        link.open()
        d.replies = [bytes(range(120))]
        link.write(b"?")
        assert link.read_exact(120) == bytes(range(120))
        link.close()
    finally:
        d.stop()


def test_the_deadline_cuts_a_longer_answer_timeout(dev: Scripted) -> None:
    link = opened(dev, answer_timeout=30.0)
    ctx = OpContext("s1", 0.3)
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        link.read_exact(1, ctx)
    assert e.value.code == ErrorCode.TIME_OUT and time.monotonic() - t0 < 10
    with pytest.raises(GtsdkError) as e:
        link.write(b"late", ctx)
    assert e.value.code == ErrorCode.TIME_OUT and dev.received == b""
    link.close()


def test_cancel_stops_a_waiting_read(dev: Scripted) -> None:
    link = opened(dev, answer_timeout=30.0)
    ctx = OpContext("s2", 30.0)
    threading.Timer(0.2, ctx.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as e:
        link.read_until(b"\n", ctx)
    assert e.value.code == ErrorCode.CANCELED and time.monotonic() - t0 < 10
    link.close()


def test_unplug_is_no_device_and_the_port_reopens_at_the_same_path(dev: Scripted) -> None:
    link = opened(dev)
    dev.fault("unplug")
    with pytest.raises(GtsdkError) as e:
        link.write(b"x")
        link.read_exact(1)
    assert e.value.code == ErrorCode.NO_DEVICE and not link.is_open
    with pytest.raises(GtsdkError) as e:
        link.open()
    assert e.value.code == ErrorCode.NO_DEVICE
    dev.fault("replug")
    link.open()  # the runtime's reconnect: a fresh open of the same (linked) path
    dev.replies = [b"back"]
    link.write(b"?")
    assert link.read_exact(4) == b"back"
    link.close()


def test_discard_input_and_read_available(dev: Scripted) -> None:
    link = opened(dev)
    dev.send(b"stale")
    time.sleep(0.1)
    link.discard_input()
    assert link.read_available() == b""
    dev.send(b"fresh")
    time.sleep(0.1)
    assert link.read_available() == b"fresh"
    link.close()
    with pytest.raises(GtsdkError) as e:
        link.read_available()
    assert e.value.code == ErrorCode.NO_DEVICE


def test_read_until_gives_up_past_max_len(dev: Scripted) -> None:
    link = opened(dev)
    dev.send(b"x" * 40)
    with pytest.raises(GtsdkError) as e:
        link.read_until(b"\r\n", max_len=16)
    assert e.value.code == ErrorCode.INVALID_DATA
    link.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(max_size=64), rest=st.binary(max_size=16))
def test_read_until_stops_at_the_first_terminator(dev: Scripted, noise: bytes, rest: bytes) -> None:
    noise = noise.replace(b"\r", b"")
    link = opened(dev, answer_timeout=0.5)
    try:
        dev.send(noise + b"\r\n" + rest.replace(b"\r", b"") + b"\r\n")
        assert link.read_until(b"\r\n") == noise + b"\r\n"
        assert link.read_until(b"\r\n") == rest.replace(b"\r", b"") + b"\r\n"
    finally:
        link.close()


def test_closing_from_another_thread_waits_for_the_read_in_progress(dev: Scripted,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker abandoned after its deadline may still be reading while the fresh worker closes the port to
    reconnect (gtsdk.runtime.device).  Its descriptors must stay open until that read step is over: a number
    closed under a select/read is reused by the next socket of the process, and the stale reader steals its
    bytes (a TLS client then fails with ``bad record mac``)."""
    import gtsdk.transport.serial as mod

    real = select.select
    entered = threading.Event()
    seen: list[tuple[int, bool]] = []

    class SlowSelect:
        @staticmethod
        def select(r: list[int], w: list[int], x: list[int], t: float) -> tuple[list[int], list[int], list[int]]:
            if not entered.is_set():
                entered.set()
                time.sleep(0.3)  # the reader is descheduled here, as under load
                for fd in r:
                    try:
                        os.fstat(fd)
                        seen.append((fd, True))
                    except OSError:
                        seen.append((fd, False))
            return real(r, w, x, t)

    link = opened(dev, answer_timeout=2.0)
    monkeypatch.setattr(mod, "select", SlowSelect)
    box: dict[str, BaseException] = {}

    def reader() -> None:
        try:
            link.read_exact(4)
        except GtsdkError as e:
            box["error"] = e

    t = threading.Thread(target=reader)
    t.start()
    assert entered.wait(5)
    link.close()
    t.join(5)
    assert not t.is_alive()
    assert seen and all(still_open for _, still_open in seen), seen
    err = box.get("error")
    assert isinstance(err, GtsdkError) and err.code == ErrorCode.NO_DEVICE


def buffered(link: SerialLink, n: int) -> bool:
    """Wait (at most 5 s) until *n* bytes sit in the port's input buffer, unread."""
    end = time.monotonic() + 5.0
    while link._ser.in_waiting < n:
        if time.monotonic() > end:
            return False
        select.select([], [], [], 0.01)
    return True


def test_an_answer_waiting_in_the_buffer_when_the_gap_has_passed_is_read(dev: Scripted) -> None:
    """On a loaded host the reading thread may run only after the answer gap has elapsed: bytes the device sent
    in time and the kernel holds are the answer, not silence.  A gap of a nanosecond stands for a thread that
    looks only once the gap is over."""
    link = opened(dev)
    dev.replies = [b"OK\r\n", b"ABCD"]
    link.write(b"AT\r")
    assert buffered(link, 4)
    assert link.read_until(b"\r\n", timeout=1e-9) == b"OK\r\n"
    link.write(b"x")
    assert buffered(link, 4)
    assert link.read_exact(4, timeout=1e-9) == b"ABCD"
    with pytest.raises(GtsdkError) as e:  # an empty buffer is still silence, after that one look
        link.read_exact(1, timeout=1e-9)
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR
