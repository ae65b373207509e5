"""The one paced pty of the serial simulators (simulators/_pty.py): the release schedule, pacing in both
directions (lower bounds only: a loaded machine can only make bytes later), and the fault knobs."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtsdk.simulators._pty import FAULT_ACTIONS, PtyDevice, flip_middle_bit, release_schedule


@given(st.integers(0, 5000), st.one_of(st.none(), st.integers(1, 64)), st.floats(1e-6, 1e-2))
def test_release_schedule_covers_the_frame_in_order(n: int, slice_bytes: int | None, spb: float) -> None:
    plan = release_schedule(n, slice_bytes, spb)
    pos = 0
    for i, j, due in plan:
        assert i == pos and i < j and (slice_bytes is None or j - i <= slice_bytes)
        assert due == pytest.approx(j * spb)  # released when its last byte has left the wire
        pos = j
    assert pos == n


@given(st.binary(min_size=1, max_size=200))
def test_garble_flips_exactly_one_bit(data: bytes) -> None:
    out = flip_middle_bit(data)
    assert len(out) == len(data)
    assert sum(bin(a ^ b).count("1") for a, b in zip(data, out, strict=True)) == 1


class Recorder(PtyDevice):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.got: list[tuple[float, bytes]] = []

    def on_bytes(self, data: bytes) -> None:
        self.got.append((time.monotonic(), data))


@pytest.fixture
def driver_side() -> Iterator[list[object]]:
    """Opened slave ends (closed after the test)."""
    fds: list[object] = []
    yield fds
    for fd in fds:
        os.close(fd)  # type: ignore[arg-type]


def open_slave(dev: PtyDevice, fds: list[object]) -> int:
    fd = os.open(dev.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    fds.append(fd)
    return fd


def arrivals(fd: int, n: int, timeout: float = 10.0) -> list[tuple[float, int]]:
    """(time, total bytes so far) each time bytes arrive, until *n* bytes have come."""
    out: list[tuple[float, int]] = []
    total, end = 0, time.monotonic() + timeout
    while total < n and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            total += len(os.read(fd, 4096))
            out.append((time.monotonic(), total))
    return out


@pytest.mark.parametrize("slice_bytes", [4, 32, None])
def test_an_answer_never_arrives_before_its_wire_time(slice_bytes: int | None,
                                                      driver_side: list[object]) -> None:
    dev = Recorder(baudrate=9600, slice_bytes=slice_bytes).start()
    try:
        fd = open_slave(dev, driver_side)
        data = bytes(96)  # 0.1 s at 9600 baud, 8N1
        t0 = time.monotonic()
        threading.Thread(target=dev.send, args=(data,)).start()
        seen = arrivals(fd, len(data))
        assert seen and seen[-1][1] == len(data)
        for t, total in seen:
            assert t - t0 >= dev.wire_time(total) - 0.002  # each byte is on the wire before it arrives
        if slice_bytes is None:  # store-and-forward: nothing before the whole frame's wire time
            assert seen[0][0] - t0 >= dev.wire_time(len(data)) - 0.002
    finally:
        dev.stop()


def test_paced_input_waits_for_the_hosts_wire_time(driver_side: list[object]) -> None:
    dev = Recorder(baudrate=9600, pace_input=True).start()
    try:
        fd = open_slave(dev, driver_side)
        t0 = time.monotonic()
        os.write(fd, bytes(48))  # 50 ms at 9600 baud
        deadline = time.monotonic() + 10
        while not dev.got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dev.got and dev.got[0][0] - t0 >= dev.wire_time(len(dev.got[0][1])) - 0.002
    finally:
        dev.stop()


def test_faults_mute_cut_and_an_unknown_action(driver_side: list[object]) -> None:
    dev = Recorder().start()
    try:
        fd = open_slave(dev, driver_side)
        assert dev.fault("stop_answering") == {"muted": True, "unplugged": False}
        dev.send(b"lost")
        assert arrivals(fd, 1, timeout=0.2) == []
        dev.fault("answer")
        dev.cut = True
        dev.send(b"12345678")
        assert arrivals(fd, 4)[-1][1] == 4 and arrivals(fd, 1, timeout=0.2) == []  # half of it, then silence
        assert dev.fault("explode") is None
        assert set(FAULT_ACTIONS) == {"stop_answering", "answer", "garble", "unplug", "replug"}
    finally:
        dev.stop()


def test_unplug_and_replug_keep_the_linked_path(tmp_path: Path) -> None:
    dev = Recorder(link=tmp_path / "ttyX").start()
    try:
        assert dev.fault("replug") == {"muted": False, "unplugged": False}  # plugged in: nothing happens
        target = os.readlink(tmp_path / "ttyX")
        dev.fault("unplug")
        assert dev.unplugged and not (tmp_path / "ttyX").exists()
        dev.send(b"nobody")  # sending while unplugged is a no-op
        dev.fault("replug")  # a new pty may get another name; the link follows it
        assert os.readlink(tmp_path / "ttyX") == dev.path and target.startswith("/dev/pts/")
    finally:
        dev.stop()


def test_a_reader_descheduled_past_stop_keeps_its_pty_until_it_sees_the_stop(driver_side: list[object]) -> None:
    """stop() waits 2 s for the reader; one still busy after that (a starved process) closes the pty itself
    when it sees the stop.  Closed under its select/read, the descriptor's number would go to the next file or
    socket of the process and the reader would take that one's bytes."""
    busy = threading.Event()

    class Slow(PtyDevice):
        def on_bytes(self, data: bytes) -> None:
            busy.set()
            time.sleep(2.6)  # longer than stop()'s join

    dev = Slow().start()
    fd = open_slave(dev, driver_side)
    os.write(fd, b"x")
    assert busy.wait(5)
    dev.stop()  # returns after its 2 s join: the reader is still inside on_bytes
    assert dev._thread is not None and dev._thread.is_alive()
    os.write(fd, b"y")  # the pty is still there: nothing of it was closed under the reader
    dev._thread.join(5)
    assert not dev._thread.is_alive()
    with pytest.raises(OSError):  # now it is gone (the master closed: EIO on the driver's side)
        os.write(fd, b"z")
