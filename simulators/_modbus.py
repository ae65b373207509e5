"""A real pymodbus RTU server behind a simulated serial line.

Two pseudo-terminals joined by a relay::

    driver ──pty A── [PtyDevice relay: store-and-forward pacing, the pty faults] ──pty B── pymodbus ModbusSerialServer

The server is pymodbus' own (``pymodbus.server.ModbusSerialServer`` with
``pymodbus.simulator.SimDevice``, the 3.16 API measured in docs/test-peers.md §4), so
the driver talks to an independent Modbus implementation.  A pty ignores the baud rate,
so the relay paces both directions at the configured baud (10 bits per byte, 8N1);
``mute`` drops requests (the board "stops answering"), ``unplug`` closes pty A.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
import tty
from pathlib import Path
from typing import Any

from gtsdk.failures import carrying_on, swallowed
from gtsdk.simulators._pty import FAULT_ACTIONS, PtyDevice

__all__ = ["FAULT_ACTIONS", "ModbusPtyServer"]

log = logging.getLogger("gtsdk.simulators")


class _Relay(PtyDevice):
    """Store-and-forward in both directions: a frame reaches the other side when its last byte
    would have left the wire, so the driver never sees an answer before its wire time."""

    def __init__(self, server_fd: int, baudrate: int | None, link: Path | None) -> None:
        super().__init__(baudrate=baudrate, link=link, slice_bytes=None, pace_input=True)
        self.server_fd = server_fd
        self.requests = 0
        self.dropped = 0

    def on_bytes(self, data: bytes) -> None:
        if self.mute:
            self.dropped += 1
            return
        self.requests += 1
        with contextlib.suppress(OSError):
            os.write(self.server_fd, data)


class ModbusPtyServer:
    """Run *devices* (pymodbus SimDevice list) on a pty; ``path`` is what the driver opens."""

    def __init__(self, devices: list[Any], *, baudrate: int = 9600, pace: bool = True,
                 link: Path | None = None) -> None:
        self.devices = devices
        self.baudrate = baudrate
        self._bm, self._bs = os.openpty()
        tty.setraw(self._bm)
        tty.setraw(self._bs)
        self.server_path = os.ttyname(self._bs)
        self.relay = _Relay(self._bm, baudrate if pace else None, link)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()

    @property
    def path(self) -> str:
        return str(self.relay.link) if self.relay.link is not None else self.relay.path

    def start(self) -> ModbusPtyServer:
        self.relay.start()
        self._thread = threading.Thread(target=self._serve, name="modbus-sim-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("pymodbus server did not start")
        self._pump = threading.Thread(target=self._server_to_driver, name="modbus-sim-pump", daemon=True)
        self._pump.start()
        return self

    def _serve(self) -> None:
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._server = ModbusSerialServer(self.devices, framer=FramerType.RTU, port=self.server_path,
                                              baudrate=self.baudrate, ignore_missing_devices=True)
            await self._server.serve_forever(background=True)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            with carrying_on("modbus", "shutting the simulated bus down", logger=log):
                await self._server.shutdown()

        try:
            loop.run_until_complete(main())
        except Exception as e:  # noqa: BLE001 - logged by type and place
            swallowed("modbus simulator", "pymodbus server", e, logger=log)
            self._ready.set()
        finally:
            loop.close()

    def _server_to_driver(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._bm], [], [], 0.05)
                if not r:
                    continue
                data = os.read(self._bm, 4096)
            except OSError:
                return
            if data and not self.relay.unplugged:
                self.relay.send(data)

    def stop(self) -> None:
        self._stop.set()
        self.relay.stop()
        for t in (self._thread, self._pump):
            if t is not None:
                t.join(timeout=3)
        for fd in (self._bm, self._bs):
            with contextlib.suppress(OSError):
                os.close(fd)

    def fault(self, action: str) -> dict[str, Any] | None:
        """The serial line's fault knobs (:data:`FAULT_ACTIONS`), shared by the light and sensor simulations."""
        return self.relay.fault(action)

