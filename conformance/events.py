"""A WebSocket client for ``/v1/events`` whose every wait provably ends.

The synchronous ``websockets`` client can hang after a failed opening handshake: its
cleanup joins a receiving thread that may sit in a blocking TLS read (for instance on a
TLS 1.3 session ticket) until the server closes the connection.  Here the asyncio
client runs on a private event loop thread, and every step — connect, send, receive,
close — is an ``asyncio.wait_for`` with a deadline, awaited from the caller with a
deadline of its own; a connection that will not close is aborted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import ssl
import threading
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("gtsdk.conformance")

#: extra seconds the calling thread waits for the event loop beyond the step's own deadline
LOOP_SLACK = 2.0


class EventLoopThread:
    """A private asyncio loop in a daemon thread; :meth:`run` waits for a coroutine with a deadline."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="conformance-events", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return fut.result(timeout + LOOP_SLACK)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def close(self) -> None:
        async def cancel_all() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(LOOP_SLACK)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError) as e:
            # the loop is stuck or already closed: stopping it below is all that is left
            log.debug("event loop did not cancel its tasks: %s", type(e).__name__)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(LOOP_SLACK)
        if not self.thread.is_alive():
            self.loop.close()


class EventStream:
    """One connection to ``/v1/events``; *on_message* sees every text frame (for the observer)."""

    def __init__(self, loop: EventLoopThread, url: str, ssl_ctx: ssl.SSLContext, *, timeout: float,
                 origin: str | None = None, on_message: Callable[[str], None] | None = None) -> None:
        from websockets.asyncio.client import connect

        self.loop = loop
        self.on_message = on_message
        headers = {"Origin": origin} if origin else None

        async def open_() -> Any:
            return await connect(url, ssl=ssl_ctx, open_timeout=timeout, close_timeout=2, ping_interval=None,
                                 max_size=16 * 1024 * 1024, additional_headers=headers)

        self.ws: Any = loop.run(open_(), timeout)

    def send(self, message: dict[str, Any], timeout: float = 5.0) -> None:
        self.loop.run(self.ws.send(json.dumps(message)), timeout)

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON message, or None when nothing came within *timeout* (or the server closed)."""
        if timeout <= 0:
            return None
        try:
            text = self.loop.run(self.ws.recv(), timeout)
        except TimeoutError:
            return None
        except Exception as e:  # noqa: BLE001 - the terminal under test may fail any way; ends the stream
            # closed by the server (a close code is an answer too: see close_code)
            log.debug("events: receive ended by %s", type(e).__name__)
            return None
        if self.on_message is not None:
            self.on_message(str(text))
        try:
            msg = json.loads(text)
        except ValueError:
            return {"type": "notJson", "text": str(text)[:200]}
        return msg if isinstance(msg, dict) else {"type": "notAnObject", "value": msg}

    @property
    def close_code(self) -> int | None:
        code = getattr(self.ws, "close_code", None)
        return int(code) if code is not None else None

    def close(self) -> None:
        async def shut() -> None:
            try:
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception as e:  # noqa: BLE001 - a server that does not close, any way: drop the connection
                log.debug("events: close failed with %s; aborting", type(e).__name__)
                transport = getattr(self.ws, "transport", None)
                if transport is not None:
                    transport.abort()

        try:
            self.loop.run(shut(), 3)
        except (TimeoutError, concurrent.futures.CancelledError, RuntimeError) as e:
            # bounded either way; the loop thread is a daemon
            log.debug("events: close did not finish: %s", type(e).__name__)
