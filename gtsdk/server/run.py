"""Run the service: TLS-only uvicorn on loopback sockets (clause 8.3, 9.2.1 b), with every limit in place.

``gtsdk serve`` calls :func:`serve_forever`; tests, benchmarks and embedding apps :func:`start_background`.
Both run the same server (gtsdk.server.connections.GuardedServer) on the same event loop implementation
(uvloop where installed, as ``gtsdk serve``), so what is measured and tested is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol

import uvicorn

from gtsdk.audit import AuditLog
from gtsdk.home import home_dir
from gtsdk.modules.sensors import audit_alarms
from gtsdk.runtime import Terminal
from gtsdk.server import logs, tls
from gtsdk.server.app import ServiceApp
from gtsdk.server.config import ServiceConfig
from gtsdk.server.connections import GuardedServer, GuardedWebSocketProtocol, server_tls
from gtsdk.server.tokens import TokenStore

log = logging.getLogger("gtsdk.server")
#: seconds uvicorn waits for requests other than device operations (those are cancelled after shutdown_grace)
GRACEFUL_REST = 3


class Served(Protocol):
    """What the runner needs of the application (a ServiceApp, or a wrapper passing attributes through)."""

    config: ServiceConfig
    home: Path
    audit: AuditLog | None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def listening_on(self, addresses: list[str], port: int) -> None: ...

    async def shutdown(self) -> None: ...

    def close(self) -> None: ...


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


def bound(socks: list[socket.socket]) -> tuple[list[str], int]:
    """The addresses and the port the sockets listen on."""
    return [s.getsockname()[0] for s in socks], socks[0].getsockname()[1]


def uvicorn_config(app: Any, home: Path, *, log_level: str = "warning",
                   service: ServiceConfig | None = None) -> uvicorn.Config:
    """The uvicorn settings of the service: TLS 1.2+ with the local CA's server certificate, no access log,
    the keep-alive and WebSocket limits of ``[service]``."""
    svc = service if service is not None else getattr(app, "config", None)
    if not isinstance(svc, ServiceConfig):
        svc = ServiceConfig()
    files = tls.ensure(home)
    # proxy_headers off: the service is never behind a proxy, and a local process must not choose the client
    # address the refusal throttle counts by sending X-Forwarded-For (uvicorn trusts it from 127.0.0.1)
    cfg = uvicorn.Config(app, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key), log_level=log_level,
                         access_log=False, server_header=False, lifespan="on", ws=GuardedWebSocketProtocol,
                         proxy_headers=False,
                         ws_max_size=svc.ws_max_message_bytes, ws_ping_interval=svc.ws_ping_interval,
                         ws_ping_timeout=svc.ws_ping_timeout, timeout_keep_alive=svc.keepalive_timeout,  # type: ignore[arg-type]
                         timeout_graceful_shutdown=GRACEFUL_REST, h11_max_incomplete_event_size=svc.max_header_bytes)
    cfg.load()
    assert cfg.ssl is not None
    server_tls(cfg.ssl)
    logs.install()
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


def make_server(app: Served, log_level: str) -> GuardedServer:
    return GuardedServer(uvicorn_config(app, app.home, log_level=log_level), app.config, on_shutdown=app.shutdown)


def run_server(server: GuardedServer, main: Coroutine[Any, Any, None]) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = server.config.get_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def close_app(app: Any) -> None:
    """After the server stopped: the application's own resources, the records (final heartbeat: a clean stop),
    then the audit log."""
    from gtsdk.server import records_routes

    try:
        app.close()
        records_routes.close(app)
    finally:
        if app.audit is not None:
            app.audit.close()


class Running:
    """A service running on a background thread (tests, benchmarks, embedding apps)."""

    def __init__(self, app: Any, server: GuardedServer, thread: threading.Thread,
                 sockets: list[socket.socket]) -> None:
        self.app, self.server, self.thread, self.sockets = app, server, thread, sockets
        self.port: int = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        grace = float(getattr(getattr(self.app, "config", None), "shutdown_grace", 5.0))
        self.thread.join(timeout=grace + GRACEFUL_REST + 5)
        if self.thread.is_alive():
            log.error("service thread did not stop within %.0f s", grace + GRACEFUL_REST + 5)
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()
        close_app(self.app)


def start_background(app: Any, *, port: int = 0, addresses: list[str] | None = None) -> Running:
    socks = bind(addresses or app.config.listen, port)
    app.listening_on(*bound(socks))
    server = make_server(app, "warning")
    thread = threading.Thread(target=run_server, args=(server, server.serve(sockets=socks)), name="gtsdk-serve",
                              daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        for s in socks:
            s.close()
        raise RuntimeError("service failed to start")
    return Running(app, server, thread, socks)


@contextlib.contextmanager
def running(app: ServiceApp, **kw: Any) -> Iterator[Running]:
    r = start_background(app, **kw)
    try:
        yield r
    finally:
        r.stop()


def settle_heap() -> None:
    """Keep what start-up made out of the garbage collector's full passes (``gc.freeze``).

    A full pass walks every tracked object with the GIL held, stalling the loop and every device worker; the
    modules, contracts, schemas, drivers and terminal made at start-up live as long as the process, so walking
    them finds nothing.  Only for a process that is the service (``gtsdk serve``): an app embedding the service
    keeps its own collector policy (benchmarks.gc_pause measures the pass with and without)."""
    gc.collect()
    gc.freeze()


def serve_forever(app: ServiceApp, *, port: int) -> None:
    socks = bind(app.config.listen, port)
    app.listening_on(*bound(socks))
    server = make_server(app, "info")
    settle_heap()
    try:
        run_server(server, server.serve(sockets=socks))
        # uvicorn re-raises a captured SIGTERM/SIGINT after its shutdown; our caller turns it into an exit
    finally:
        for s in socks:
            s.close()
        close_app(app)
