"""Probe routes for benchmarks/server.py: what a route costs apart from the service's own work.

Mounted in front of the service on the same uvicorn server, TLS, event loop and limits:

* ``GET /probe/status-bytes`` — replays the headers and body of a ``GET /v1/idcard/status`` answer captured
  earlier on the same server: the answer's size, TLS records and header count, without the service;
* ``GET /probe/status-headers`` — the bare route's body with the status answer's response headers;
* ``GET /probe/chain`` — a route of the service (token, rate limit, envelope, every piece) whose handler answers
  the idcard status captured at start-up, without asking the device or serialising a model;
* ``POST /probe/floor`` — the least an audited operation must do: the bare answer after one hop to a worker
  thread and back, the worker's record committed by a writer thread in one SQLite transaction per batch
  (``journal_mode=WAL``, ``synchronous=FULL``: one fsync per batch, as gtsdk/audit.py) and the waiting requests
  woken by one loop callback per batch.  No request parsing, validation, envelope or signing.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

BARE_BODY = b'{"hello":"world"}'
START = "http.response.start"
BODY = "http.response.body"


class Captured:
    """The first answer of a route, as sent (status line, header list, body)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.done = False

    def wrap(self, send: Any) -> Any:
        async def capture(msg: dict[str, Any]) -> None:
            if msg["type"] == START:
                self.status, self.headers = msg["status"], list(msg.get("headers", []))
            elif msg["type"] == BODY:
                self.body += msg.get("body", b"")
                self.done = not msg.get("more_body", False)
            await send(msg)
        return capture

    def headers_for(self, body: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, str(len(body)).encode() if k == b"content-length" else v) for k, v in self.headers]


class Floor:
    """One thread hop and one group commit per request, and nothing else (see the module docstring)."""

    def __init__(self, db: Path) -> None:
        self._work: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None] = \
            queue.SimpleQueue()
        self._rows: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None] = \
            queue.SimpleQueue()
        self._db = db
        self._threads = [threading.Thread(target=self._worker, daemon=True, name="floor-worker"),
                         threading.Thread(target=self._writer, daemon=True, name="floor-writer")]
        for t in self._threads:
            t.start()

    async def __call__(self, send: Any) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._work.put((loop, fut))
        await fut
        await send({"type": START, "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": BODY, "body": BARE_BODY})

    def _worker(self) -> None:
        while (item := self._work.get()) is not None:
            self._rows.put(item)  # the "operation" is done: its record goes to the writer

    def _writer(self) -> None:
        db = sqlite3.connect(self._db, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body BLOB)")
        while (first := self._rows.get()) is not None:
            batch = [first]
            while True:
                try:
                    item = self._rows.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    return
                batch.append(item)
            db.execute("BEGIN")
            db.executemany("INSERT INTO rows (body) VALUES (?)", [(BARE_BODY,)] * len(batch))
            db.execute("COMMIT")
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, fut in batch:
                by_loop.setdefault(loop, []).append(fut)
            for loop, futs in by_loop.items():
                loop.call_soon_threadsafe(_settle, futs)


def _settle(futs: list[asyncio.Future[None]]) -> None:
    for f in futs:
        if not f.done():
            f.set_result(None)


class Probes:
    """The probe routes; :meth:`handle` answers one and returns True, or returns False for other paths."""

    def __init__(self, home: Path, svc: Any) -> None:
        from gtsdk.server.call import JSON, Call, Response, data_json, envelope

        self.status = Captured()
        self.floor = Floor(home / "floor.db")
        data = data_json(svc.terminal.device("idcard").status())

        async def chain(call: Call) -> Response:
            return Response(envelope("success", call.rid, call.lang, data), 200, media_type=JSON)
        svc.routes.add("GET", "/probe/chain", chain, "any")

    def watch(self, scope: Any, send: Any) -> Any:
        """*send*, capturing the first status answer."""
        if not self.status.done and scope["path"] == "/v1/idcard/status":
            return self.status.wrap(send)
        return send

    async def handle(self, scope: Any, send: Any) -> bool:
        path = scope["path"]
        if path == "/probe/floor":
            await self.floor(send)
        elif path == "/probe/status-bytes":
            st = self.status
            await send({"type": START, "status": st.status, "headers": st.headers})
            await send({"type": BODY, "body": st.body})
        elif path == "/probe/status-headers":
            await send({"type": START, "status": 200, "headers": self.status.headers_for(BARE_BODY)})
            await send({"type": BODY, "body": BARE_BODY})
        else:
            return False
        return True
