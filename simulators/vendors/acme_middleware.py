"""A simulated vendor middleware: "Acme DeviceHub", a local HTTP + WebSocket service for an ID card reader.

It answers in its own JSON with its own field names and string status codes,
the way such middleware does::

    POST /api/reader/open   {"port": "USB1"}  → {"retCode": "0000", "retMsg": "成功"}
    POST /api/reader/close                    → {"retCode": "0000", ...}
    GET  /api/reader/status                   → {"retCode": "0000", "data": {"online": true, "cardIn": false,
                                                                               "sn": "ADH-..."}}
    POST /api/idcard/read   {"waitMs": 1000}  → {"retCode": "0000", "data": {"partyName": ..., "certNumber": ...}}
                                                 {"retCode": "1002", "retMsg": "未检测到卡片"} when no card came
    WS   /ws/events                           → {"eventType": "CARD_IN"} / {"eventType": "CARD_OUT"}

Status codes: 0000 success, 1002 no card, 1003 card removed during the read,
2001 reader not connected, 2002 reader not opened, 9999 internal error.
:class:`MiddlewareSimulation` follows gtsdk's simulator contract; it runs the
service on 127.0.0.1 (a free port) in a thread, and its actions put cards on
the reader, unplug it, make the service hang, or stop it (a crashed middleware).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.websockets import WebSocket

OK, NO_CARD, CARD_REMOVED, NOT_CONNECTED, NOT_OPEN = "0000", "1002", "1003", "2001", "2002"
MESSAGES = {OK: "成功", NO_CARD: "未检测到卡片", CARD_REMOVED: "读卡过程中卡片被移走", NOT_CONNECTED: "读卡器未连接",
            NOT_OPEN: "读卡器未打开"}
SEX = {"1": "男", "2": "女"}


def _card_json(key: str) -> dict[str, Any]:
    from gtsdk.simulators.idcard.cards import samples

    from .acme_idreader import photo_bmp

    c = samples()[key]
    f = c.fields
    return {"partyName": f["name"], "gender": SEX.get(f.get("sex_code", ""), "未知"),
            "nationCode": f.get("nation_code", ""), "bornDay": f["birth_date"], "certAddress": f.get("address", ""),
            "certNumber": f["id_number"], "certOrg": f.get("issuer", ""), "effDate": f["valid_from"],
            "expDate": f["valid_until"], "identityPic": base64.b64encode(photo_bmp()).decode(),
            "wltData": base64.b64encode(c.photo[:1024]).decode()}


class Reader:
    def __init__(self) -> None:
        self.card: str | None = "resident"
        self.plugged = True
        self.opened = False
        self.hang = False
        self.delay = 0.0


def _answer(code: str, data: Any = None) -> JSONResponse:
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"retCode": code, "retMsg": MESSAGES.get(code, "内部错误")}
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


async def _body_of(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class _Routes:
    """The middleware's endpoints over one simulated :class:`Reader`."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def slow(self) -> None:
        if self.reader.delay:
            await asyncio.sleep(self.reader.delay)
        while self.reader.hang:  # a middleware stuck on its device
            await asyncio.sleep(0.05)

    async def open_(self, request: Request) -> JSONResponse:
        await self.slow()
        if not self.reader.plugged:
            return _answer(NOT_CONNECTED)
        self.reader.opened = True
        return _answer(OK)

    async def close(self, request: Request) -> JSONResponse:
        await self.slow()
        self.reader.opened = False
        return _answer(OK)

    async def status(self, request: Request) -> JSONResponse:
        await self.slow()
        r = self.reader
        if not r.plugged:
            return _answer(NOT_CONNECTED)
        return _answer(OK, {"online": True, "opened": r.opened, "cardIn": r.card is not None,
                            "sn": "ADH-2024-000451"})

    async def read(self, request: Request) -> JSONResponse:
        body = await _body_of(request)
        await self.slow()
        r = self.reader
        if not r.plugged:
            return _answer(NOT_CONNECTED)
        if not r.opened:
            return _answer(NOT_OPEN)
        wait = min(max(int(body.get("waitMs", 0) or 0), 0), 30_000) / 1000.0
        end = time.monotonic() + wait
        while r.card is None and time.monotonic() < end:
            await asyncio.sleep(0.02)
        if r.card is None:
            return _answer(NO_CARD)
        return _answer(OK, _card_json(r.card))

    async def events(self, ws: WebSocket) -> None:
        from starlette.websockets import WebSocketDisconnect

        await ws.accept()
        last = self.reader.card is not None
        try:
            while True:
                now = self.reader.card is not None and self.reader.plugged
                if now != last:
                    await ws.send_json({"eventType": "CARD_IN" if now else "CARD_OUT", "ts": int(time.time() * 1000)})
                    last = now
                await asyncio.sleep(0.05)
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            return


def make_app(reader: Reader) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route, WebSocketRoute

    r = _Routes(reader)
    return Starlette(routes=[
        Route("/api/reader/open", r.open_, methods=["POST"]),
        Route("/api/reader/close", r.close, methods=["POST"]),
        Route("/api/reader/status", r.status, methods=["GET"]),
        Route("/api/idcard/read", r.read, methods=["POST"]),
        WebSocketRoute("/ws/events", r.events),
    ])


class _Server:
    """uvicorn on a socket we bound ourselves (127.0.0.1, a free or given port), in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="acme-middleware", daemon=True)
        self.thread.start()
        end = time.monotonic() + 10
        while not self.server.started and time.monotonic() < end:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()


class MiddlewareSimulation:
    module = "idcard"
    driver = "http_bridge"

    def __init__(self, workdir: Path, mapping: Path | None = None, port: int = 0) -> None:
        self.workdir = workdir
        self.reader = Reader()
        self.app = make_app(self.reader)
        self.server: _Server | None = _Server(self.app, port)
        self.port = self.server.port
        self.settings: dict[str, Any] = {"params": {"port": self.port}}
        if mapping is not None:
            self.settings["mapping"] = str(mapping)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        state = "running" if self.server is not None else "stopped"
        return f"simulated vendor middleware on {self.base_url} ({state}); card: {self.reader.card or 'none'}"

    def actions(self) -> dict[str, str]:
        return {
            "insert": "put a sample card on the reader: card=<key>",
            "remove": "take the card away",
            "unplug": "the reader vanishes (2001 reader not connected)",
            "replug": "the reader comes back",
            "hang": "on=true: every request waits until on=false",
            "delay": "every request takes seconds=<s>",
            "crash": "the middleware process is gone (connections refused)",
            "restart": "the middleware comes back on the same port",
            "state": "show the simulated state",
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        r = self.reader
        if action == "insert":
            from gtsdk.simulators.idcard.cards import samples

            key = str(params.get("card", "resident"))
            if key not in samples():
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown card {key!r}", field="card")
            r.card = key
        elif action == "remove":
            r.card = None
        elif action == "unplug":
            r.plugged = False
        elif action == "replug":
            r.plugged = True
        elif action == "hang":
            r.hang = bool(params.get("on", True))
        elif action == "delay":
            r.delay = float(params.get("seconds", 0.0))
        elif action == "crash":
            if self.server is not None:
                r.hang = False
                self.server.stop()
                self.server = None
        elif action == "restart":
            if self.server is None:
                self.server = _Server(self.app, self.port)
        elif action != "state":
            raise unknown_action(self, action)
        return {"card": r.card, "plugged": r.plugged, "opened": r.opened, "hang": r.hang,
                "running": self.server is not None}

    def stop(self) -> None:
        self.reader.hang = False
        if self.server is not None:
            self.server.stop()
            self.server = None


def start(workdir: Path, mapping: Path | None = None, port: int = 0) -> MiddlewareSimulation:
    workdir.mkdir(parents=True, exist_ok=True)
    return MiddlewareSimulation(workdir, mapping, port)


if __name__ == "__main__":  # pragma: no cover - run by hand: python -m gtsdk.simulators.vendors.acme_middleware
    import sys
    import tempfile

    sim = start(Path(tempfile.mkdtemp()), port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(sim.describe(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
