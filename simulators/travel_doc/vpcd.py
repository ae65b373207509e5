"""The vpcd side of vsmartcard: a virtual card connects to pcscd's vpcd driver over TCP
(docs/test-peers.md §2: 2-byte big-endian length + payload; 1-byte payloads are control messages
0 power off, 1 power on, 2 reset, 4 get ATR).  Connecting = inserting the card.

vpcd waits for every answer without a timeout (``recv`` with ``MSG_WAITALL``), so a message left unanswered
stalls pcscd's reader until the connection closes: every C-APDU gets an R-APDU here, even when the chip
raises (``6F00``), and only the ``mute`` fault withholds one on purpose."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable

from gtsdk.failures import swallowed

log = logging.getLogger("gtsdk.simulators.travel_doc")

ATR = bytes.fromhex("3B8880010000000000718100F9")
SW_NO_DIAGNOSIS = b"\x6f\x00"


def _tcp(host: str, port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection((host, port), timeout=1.0)


class VirtualCard:
    def __init__(self, handle: Callable[[bytes], bytes], port: int = 35963, host: str = "127.0.0.1",
                 on_reset: Callable[[], None] | None = None,
                 connect: Callable[[], socket.socket] | None = None) -> None:
        """*connect* opens the connection to vpcd (default: TCP to *host*:*port*)."""
        self.handle = handle
        self.port = port
        self.host = host
        self.connect = connect or _tcp(host, port)
        self.on_reset = on_reset
        self.delay = 0.0
        #: pull the card after this many more APDUs (None: never)
        self.pull_after: int | None = None
        self.mute = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 5.0) -> None:
        if self._sock is not None:
            return
        end = time.monotonic() + timeout
        while True:
            try:
                s = self.connect()
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = s
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(s,), name="vpcd-card", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        s, self._sock = self._sock, None
        self._stop.set()
        if s is not None:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _recv(self, s: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            with contextlib.suppress(OSError):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _loop(self, s: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                (n,) = struct.unpack(">H", self._recv(s, 2))
                msg = self._recv(s, n)
                if n == 1:
                    if msg[0] == 4:
                        s.sendall(struct.pack(">H", len(ATR)) + ATR)
                    elif msg[0] in (0, 1, 2) and self.on_reset is not None:
                        try:
                            self.on_reset()
                        except Exception as e:  # noqa: BLE001 - logged by type and place
                            swallowed("virtual chip", "reset", e, logger=log)
                    continue
                if self.pull_after is not None:
                    if self.pull_after <= 0:
                        self.pull_after = None
                        threading.Thread(target=self.remove, daemon=True).start()
                        return
                    self.pull_after -= 1
                if self.mute:
                    continue
                if self.delay:
                    time.sleep(self.delay)
                try:
                    resp = self.handle(msg)
                except Exception as e:  # noqa: BLE001 - a chip bug must not leave vpcd waiting forever
                    swallowed("virtual chip", f"APDU {msg[:4].hex()}", e, logger=log)
                    resp = SW_NO_DIAGNOSIS
                s.sendall(struct.pack(">H", len(resp)) + resp)
        except (EOFError, OSError):
            pass
        if self._sock is s and not self._stop.is_set():  # vpcd closed the connection (pcscd went away)
            self._sock = None
            with contextlib.suppress(OSError):
                s.close()
