"""Events a middleware pushes on a WebSocket (card inserted, removed), turned into contract events.

One thread runs a private asyncio loop with the websockets client; every step
(connect, handshake, close) has a deadline, the connection is re-made with a
growing pause when it drops, and :meth:`WebSocketEvents.stop` ends the thread
within a bounded time.  Message contents are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from ..bridge_common import values
from .mapping import HttpWebSocket

log = logging.getLogger("gtsdk.bridge.http")
OPEN_TIMEOUT = 3.0
MAX_MESSAGE = 1 << 20
MAX_PAUSE = 5.0


class WebSocketEvents:
    def __init__(self, url: str, spec: HttpWebSocket, emit: Callable[[str, dict[str, Any]], None], *,
                 headers: dict[str, str] | None = None, ssl_context: ssl.SSLContext | None = None,
                 subscribe: Any = None) -> None:
        self.url = url
        self.spec = spec
        self.emit = emit
        self.headers = headers or {}
        self.ssl_context = ssl_context
        self.subscribe = subscribe
        self.connected = threading.Event()
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gtsdk-bridge-events", daemon=True)
        self._thread.start()
        self._ready.wait(2.0)

    def stop(self, timeout: float = 3.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # loop already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        self.connected.clear()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        from websockets.asyncio.client import connect

        self._stop = asyncio.Event()
        self._ready.set()
        pause = 0.2
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(OPEN_TIMEOUT + 1.0):
                    ws = await connect(self.url, additional_headers=self.headers, open_timeout=OPEN_TIMEOUT,
                                       close_timeout=1.0, max_size=MAX_MESSAGE, ssl=self.ssl_context,
                                       proxy=None)
            except Exception as e:  # noqa: BLE001 - the middleware may fail the handshake any way; logged, retried
                log.debug("event socket %s: %s", self.url, type(e).__name__)
                await self._pause(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            pause = 0.2
            self.connected.set()
            try:
                if self.subscribe is not None:
                    await asyncio.wait_for(ws.send(json.dumps(self.subscribe)), OPEN_TIMEOUT)
                await self._receive(ws)
            except Exception as e:  # noqa: BLE001 - a dropped socket, any way; logged, reconnected
                log.debug("event socket %s dropped: %s", self.url, type(e).__name__)
            finally:
                self.connected.clear()
                try:
                    await asyncio.wait_for(ws.close(), 2.0)
                except Exception as e:  # noqa: BLE001 - closing a dropped socket; logged, nothing else to do
                    log.debug("event socket %s: close failed with %s", self.url, type(e).__name__)
            await self._pause(pause)

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _receive(self, ws: Any) -> None:
        assert self._stop is not None
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                recv = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({recv, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    recv.cancel()
                    return
                self._handle(recv.result())
        finally:
            stopper.cancel()

    def _handle(self, message: Any) -> None:
        self.received += 1
        try:
            data = json.loads(message)
            name = values.json_path(data, self.spec.event)
        except (ValueError, TypeError, values.Missing):
            return  # not an event this mapping knows
        event = self.spec.map.get(str(name))
        if event is not None:
            self.emit(event, {})
