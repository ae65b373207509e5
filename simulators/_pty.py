"""A simulated serial device on a pseudo-terminal.

The driver opens ``device.path`` with pyserial exactly as it would open
``/dev/ttyUSB0``; the simulator reads the master side and answers.  Output can
be paced at a baud rate (10 bits per byte for 8N1) so timings mean something,
and the common faults are knobs: ``mute`` (no answer), ``garble`` (flip a bit of
the next frame), ``cut`` (stop mid-frame), ``delay`` (seconds before answering).

Pitfalls handled (see docs/test-peers.md): the slave fd is kept open (else
reads on the master get EIO); the line is raw; parity stays N on openpty.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from pathlib import Path


class PtyDevice:
    def __init__(self, baudrate: int | None = None, link: Path | None = None, bits_per_byte: float = 10.0) -> None:
        self.baudrate = baudrate
        self.bits_per_byte = bits_per_byte
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
        self._wlock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> PtyDevice:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.path = os.ttyname(self._slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.path)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"pty-sim-{self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def unplug(self) -> None:
        """The device vanishes: the pty is closed, the driver's next I/O fails."""
        self.unplugged = True
        self.stop()

    def replug(self) -> None:
        """The device returns; note that a new pty gets a new path unless *link* is used."""
        self.unplugged = False
        self.start()

    # -- I/O -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                continue
            if data:
                try:
                    self.on_bytes(data)
                except Exception:  # a simulator bug must not kill the line
                    import logging

                    logging.getLogger("gtsdk.simulators").exception("pty simulator failed on input")

    def on_bytes(self, data: bytes) -> None:
        """Called with every chunk the driver writes; override."""

    def send(self, data: bytes) -> None:
        """Send *data* to the driver, honouring the fault knobs and the baud rate."""
        if self.mute or self._master < 0:
            return
        if self.delay:
            time.sleep(self.delay)
        if self.garble and data:
            self.garble = False
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        if self.cut and data:
            self.cut = False
            data = data[: max(1, len(data) // 2)]
        with self._wlock:
            if not self.baudrate:
                self._write_all(data)
                return
            per_byte = self.bits_per_byte / self.baudrate
            start = time.monotonic()
            for i in range(0, len(data), 32):
                chunk = data[i:i + 32]
                self._write_all(chunk)
                due = start + (i + len(chunk)) * per_byte
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return
            view = view[n:]
