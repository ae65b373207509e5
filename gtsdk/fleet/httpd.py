"""Serving the platform's API and pages: uvicorn, TLS 1.2+ with the certificate the fleet CA issued for it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


def config(app: ASGIApp, cert: Path, key: Path, *, log_level: str = "warning") -> uvicorn.Config:
    cfg = uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_level=log_level, access_log=False,
                         server_header=False, lifespan="off", timeout_keep_alive=30,
                         h11_max_incomplete_event_size=64 * 1024, limit_concurrency=500)
    cfg.load()
    assert cfg.ssl is not None
    cfg.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    return cfg


def bind(host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1024)
    s.set_inheritable(True)
    return s


class RunningApi:
    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket) -> None:
        self.server, self.thread, self.sock = server, thread, sock
        self.port: int = sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()


def start_background(app: ASGIApp, cert: Path, key: Path, *, host: str = "127.0.0.1", port: int = 0) -> RunningApi:
    sock = bind(host, port)
    server = uvicorn.Server(config(app, cert, key))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="gtsdk-fleet-api",
                              daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        sock.close()
        raise RuntimeError("the platform API failed to start")
    return RunningApi(server, thread, sock)


def serve_forever(app: ASGIApp, cert: Path, key: Path, *, host: str, port: int) -> None:
    sock = bind(host, port)
    try:
        uvicorn.Server(config(app, cert, key, log_level="info")).run(sockets=[sock])
    finally:
        sock.close()
