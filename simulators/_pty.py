"""A simulated serial device on a pseudo-terminal: the one paced pty every serial simulator uses.

The driver opens ``device.path`` (or the stable symlink *link*) with pyserial exactly as it
would open ``/dev/ttyUSB0``; the simulator reads the master side and answers with
:meth:`PtyDevice.send`.

A pty ignores the baud rate, so with *baudrate* set the device paces what it sends: the
answer leaves in slices of *slice_bytes*, each released when its last byte would have
left the wire (bits per byte: 10 for 8N1).  ``slice_bytes=None`` releases the whole
frame at once after its wire time (store-and-forward, as a relay or a board that builds
its answer before sending); a small slice (a QR engine's 4 bytes) lets the driver watch
a long code trickle in.  With *pace_input* the device also takes the wire time of what
the driver sends before handling it (the host's bytes need their time to arrive, too).

The common faults are knobs shared by every serial simulator (:data:`FAULT_ACTIONS`,
:meth:`PtyDevice.fault`): ``mute`` (no answer), ``garble`` (flip one bit of the next
answer), ``cut`` (stop the next answer half-way), ``delay`` (seconds before answering),
``unplug``/``replug`` (the pty closes; with *link* the device comes back at the same path).

Pitfalls handled (docs/test-peers.md): the slave fd is kept open (else reads on the
master get EIO); both sides are raw; parity stays N on openpty.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Any, Self

from gtsdk.failures import swallowed

log = logging.getLogger("gtsdk.simulators")

#: the fault actions every serial simulator offers through :meth:`PtyDevice.fault`
FAULT_ACTIONS = {
    "stop_answering": "the device goes silent (what it is sent is dropped)",
    "answer": "the device answers again",
    "garble": "flip one bit of the next answer",
    "unplug": "the device vanishes (its serial port goes away)",
    "replug": "the device comes back (same path)",
}


def release_schedule(nbytes: int, slice_bytes: int | None, seconds_per_byte: float) -> list[tuple[int, int, float]]:
    """How a paced answer of *nbytes* leaves: ``(start, end, due)`` per slice, *due* being the
    seconds after the first bit when the slice's last byte has left the wire."""
    step = slice_bytes or max(nbytes, 1)
    return [(i, min(i + step, nbytes), min(i + step, nbytes) * seconds_per_byte) for i in range(0, nbytes, step)]


def flip_middle_bit(data: bytes) -> bytes:
    """*data* with the lowest bit of its middle byte flipped (a frame that fails its check)."""
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


class PtyDevice:
    """Subclass and override :meth:`on_bytes`; answer with :meth:`send`."""

    def __init__(self, baudrate: int | None = None, link: Path | None = None, bits_per_byte: float = 10.0, *,
                 slice_bytes: int | None = 32, pace_input: bool = False) -> None:
        if slice_bytes is not None and slice_bytes < 1:
            raise ValueError("slice_bytes must be at least 1 (or None: whole frames)")
        self.baudrate = baudrate
        self.bits_per_byte = bits_per_byte
        self.slice_bytes = slice_bytes
        self.pace_input = pace_input
        self.link = link
        self.mute = False
        self.garble = False
        self.cut = False
        self.delay = 0.0
        self.unplugged = False
        self._master = -1
        self._slave = -1
        self.path = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # held by writers and by closing: nothing is written to a descriptor after it was closed
        self._wlock = threading.RLock()
        self._open_fds: set[int] = set()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self.path = os.ttyname(slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.path)
        stop = threading.Event()
        with self._wlock:
            self._master, self._slave, self._stop = master, slave, stop
            self._open_fds.update((master, slave))
        self._thread = threading.Thread(target=self._loop, args=(master, slave, stop),
                                        name=f"pty-sim-{self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        thread, master, slave = self._thread, self._master, self._slave
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        if thread is None or not thread.is_alive():
            self._close(master, slave)
        # else the reader, descheduled past the join, closes them itself when it sees the stop: a descriptor
        # closed under its select/read would be reused by the next file or socket of the process, and it would
        # read that one's bytes (in a service: a TLS connection's)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def _close(self, master: int, slave: int) -> None:
        """Close one run's pty, once; writers see -1 from then on (they write under the same lock)."""
        with self._wlock:
            if self._master == master:
                self._master = self._slave = -1
            for fd in (master, slave):
                if fd in self._open_fds:
                    self._open_fds.discard(fd)
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def unplug(self) -> None:
        """The device vanishes: the pty is closed, the driver's next I/O fails."""
        if self.unplugged:
            return
        self.unplugged = True
        self.stop()

    def replug(self) -> None:
        """The device returns; note that a new pty gets a new path unless *link* is used."""
        if not self.unplugged:
            return
        self.unplugged = False
        self.start()

    def fault(self, action: str) -> dict[str, Any] | None:
        """Apply one of :data:`FAULT_ACTIONS`; ``None`` if *action* is not one of them."""
        if action == "stop_answering":
            self.mute = True
        elif action == "answer":
            self.mute = False
        elif action == "garble":
            self.garble = True
        elif action == "unplug":
            self.unplug()
        elif action == "replug":
            self.replug()
        else:
            return None
        return {"muted": self.mute, "unplugged": self.unplugged}

    # -- I/O -------------------------------------------------------------------------
    def wire_time(self, nbytes: int) -> float:
        """Seconds *nbytes* take on the wire at this device's baud rate (0 when unpaced)."""
        return nbytes * self.bits_per_byte / self.baudrate if self.baudrate else 0.0

    def _loop(self, master: int, slave: int, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    r, _, _ = select.select([master], [], [], 0.05)
                except (OSError, ValueError):
                    return
                if not r or stop.is_set():
                    continue
                try:
                    data = os.read(master, 65536)
                except OSError:
                    continue
                if not data:
                    continue
                if self.pace_input:
                    time.sleep(self.wire_time(len(data)))
                try:
                    self.on_bytes(data)
                except Exception as e:  # noqa: BLE001 - a simulator bug must not kill the line; logged by type and place
                    swallowed("pty simulator", "handling input", e, logger=log)
        finally:
            if stop.is_set():
                self._close(master, slave)

    def on_bytes(self, data: bytes) -> None:
        """Called with every chunk the driver writes; override."""

    def send(self, data: bytes) -> None:
        """Send *data* to the driver, honouring the fault knobs and the baud rate."""
        if self.mute or self.unplugged or self._master < 0 or not data:
            return
        if self.delay:
            time.sleep(self.delay)
        if self.garble:
            self.garble = False
            data = flip_middle_bit(data)
        if self.cut:
            self.cut = False
            data = data[: max(1, len(data) // 2)]
        with self._wlock:
            if not self.baudrate:
                self._write_all(data)
                return
            start = time.monotonic()
            for i, j, due in release_schedule(len(data), self.slice_bytes, self.wire_time(1)):
                pause = start + due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self._write_all(data[i:j])

    def _write_all(self, data: bytes) -> None:
        """Called with the write lock held (so the descriptor stays open while it is written)."""
        view = memoryview(data)
        while view:
            if self._master < 0:  # unplugged or stopped meanwhile
                return
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return
            view = view[n:]
