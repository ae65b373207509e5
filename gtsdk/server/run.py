"""Run the service: TLS-only uvicorn on loopback sockets (clause 8.3, 9.2.1 b)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from gtsdk.audit import AuditLog
from gtsdk.home import home_dir
from gtsdk.modules.sensors import audit_alarms
from gtsdk.runtime import Terminal
from gtsdk.server import tls
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import ServiceConfig
from gtsdk.server.tokens import TokenStore

log = logging.getLogger("gtsdk.server")


def bind(addresses: list[str], port: int) -> list[socket.socket]:
    """One listening socket per address; ``::1`` is skipped where IPv6 is unavailable."""
    socks: list[socket.socket] = []
    for addr in addresses:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError as e:
            if fam == socket.AF_INET6 and e.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                log.info("IPv6 unavailable; not listening on %s", addr)
                continue
            raise
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.listen(1024)
            s.set_inheritable(True)
        except OSError as e:
            s.close()
            if fam == socket.AF_INET6 and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                log.info("%s not available; not listening on it", addr)
                continue
            for other in socks:
                other.close()
            raise
        socks.append(s)
        if port == 0:  # the first socket picked a free port: use it for the others too
            port = s.getsockname()[1]
    return socks


def uvicorn_config(app: ASGIApp, home: Path, *, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings of the service: TLS 1.2+ with the local CA's server certificate, no access log."""
    files = tls.ensure(home)
    cfg = uvicorn.Config(app, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key), log_level=log_level,
                         access_log=False, server_header=False, lifespan="on", ws_max_size=1 << 20,
                         timeout_keep_alive=30, h11_max_incomplete_event_size=64 * 1024)
    cfg.load()
    assert cfg.ssl is not None
    cfg.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    return cfg


def build(terminal: Terminal, service: ServiceConfig, home: Path, *, simulate: bool = False,
          audit: bool = True) -> ServiceApp:
    home = home_dir(home)
    tls.ensure(home)
    log_db = AuditLog(home) if audit else None
    if log_db is not None:
        terminal.on_complete(log_db.listener)
        audit_alarms(terminal.events, log_db)  # tamper / power / temperature alarms are audited (9.1.1.1 b)
    return ServiceApp(terminal, service, home, tokens=TokenStore(home), audit=log_db, simulate=simulate)


def close_app(app: ServiceApp) -> None:
    """After the server stopped: the records (final heartbeat: a clean stop), then the audit log."""
    from gtsdk.server import records_routes

    try:
        records_routes.close(app)
    finally:
        if app.audit is not None:
            app.audit.close()


class Running:
    """A service running on a background thread (tests, benchmarks, embedding apps)."""

    def __init__(self, app: ServiceApp, server: uvicorn.Server, thread: threading.Thread,
                 sockets: list[socket.socket]) -> None:
        self.app, self.server, self.thread, self.sockets = app, server, thread, sockets
        self.port: int = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()
        close_app(self.app)


def start_background(app: ServiceApp, *, port: int = 0, addresses: list[str] | None = None) -> Running:
    cfg = uvicorn_config(app, app.home)
    socks = bind(addresses or app.config.listen, port)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=socks)), name="gtsdk-serve",
                              daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        raise RuntimeError("service failed to start")
    return Running(app, server, thread, socks)


@contextlib.contextmanager
def running(app: ServiceApp, **kw: object) -> Iterator[Running]:
    r = start_background(app, **kw)  # type: ignore[arg-type]
    try:
        yield r
    finally:
        r.stop()


def serve_forever(app: ServiceApp, *, port: int) -> None:
    cfg = uvicorn_config(app, app.home, log_level="info")
    socks = bind(app.config.listen, port)
    server = uvicorn.Server(cfg)
    try:
        server.run(sockets=socks)
    finally:
        for s in socks:
            s.close()
        close_app(app)
