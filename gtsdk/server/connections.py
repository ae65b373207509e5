"""Connection-level limits of the service: how many, how long, how big — below the application.

uvicorn runs httptools here, so its h11 size limit does not apply and it has no time limit on a request head;
its ``limit_concurrency`` counts only connections that finished TLS and answers only once a request head is
complete.  This module closes those gaps with the field's parts (uvicorn's own protocols, asyncio/uvloop TLS):

* **Accepting** is ours: each listening socket has an accept loop that counts a connection from ``accept()``
  to its close, TLS handshake included (``[service] tls_handshake_timeout``).  At ``max_connections`` (kept
  below the process's file descriptor limit) the connection idle the longest — a keep-alive connection
  between requests, or one still sending its request head, as a slowloris does — is closed to make room; if
  every connection is busy, a few more are accepted only to be answered ``serviceBusy`` (503), and beyond that
  the service stops accepting until one closes (new clients wait in the kernel's backlog, holding no fd here).
* **Request heads** (:class:`GuardedHttpProtocol`): ``max_header_bytes`` for the request line plus headers,
  counted while they stream (a 400 MB header never reaches memory) and ``max_header_count`` fields
  → ``headerTooLarge`` (431); the head must be complete ``header_timeout`` seconds after the connection is
  made or the request's first byte arrives → ``timeOut`` (408).  Both close the connection.
* **Request bodies**: over ``max_body_bytes`` while they stream → ``payloadTooLarge`` (413); not complete
  ``body_timeout`` seconds after the head → ``timeOut`` (504); both answered here and the connection closed (the
  application's BodyLimit piece does the same checks when it runs without this protocol).
* **Idle keep-alive** connections close after ``keepalive_timeout``; TLS shutdowns are bounded too.
* **WebSockets** (:class:`GuardedWebSocketProtocol`): messages up to ``ws_max_message_bytes``; pings every
  ``ws_ping_interval``, a client that does not answer within ``ws_ping_timeout`` is closed.
* **Memory after bursts**: glibc keeps the heap pages of closed connections (TLS state, buffers) — RSS went up
  with every burst of held connections and never came back.  Once a burst has passed (the open connections fell
  by :data:`TRIM_AFTER` from their peak) the freed pages are handed back with ``malloc_trim(0)``.
* The server sends **no TLS 1.3 session tickets**: a ticket arriving right after the handshake raced with the
  upgrade request of clients that read and write one TLS socket from two threads (the websockets sync client),
  and the request was lost (docs/service.md, "Events").

The classes below subclass uvicorn's protocols (pinned in constraints.txt) and hook only their parser callbacks
and connection events.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import resource
import socket
import ssl
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.server.body import BODY_BOUNDED
from gtsdk.server.call import error_response, new_request_id
from gtsdk.server.config import ServiceConfig
from gtsdk.server.inflight import DISCONNECTED
from gtsdk.server.request_id import RID_PATTERN

log = logging.getLogger("gtsdk.server.connections")

#: file descriptors kept free for everything else of the service (devices, simulators, databases, logs)
FD_RESERVE = 256
#: seconds a TLS close_notify exchange may take before the socket is simply closed
TLS_SHUTDOWN_TIMEOUT = 5.0
#: seconds a refused connection (408, 431, 503) has to take its answer before it is reset
REFUSAL_LINGER = 1.0
#: bytes of a refused request read and dropped (at most) while its answer is on its way
LINGER_BYTES = 1 << 20
#: seconds without a byte from a refused client after which it is taken to be reading its answer
LINGER_QUIET = 0.5
#: seconds a refused connection is read and dropped at most before it is closed
LINGER_MAX = 2.0
#: connections closed since the last peak after which freed heap memory is returned to the system
TRIM_AFTER = 64
#: seconds between two looks at the connection count for that
TRIM_EVERY = 5.0


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` (ctypes releases the GIL while it runs), or None elsewhere."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return lambda: fn(0)


class Trimmer:
    """Returns the heap pages of a burst of connections once it has passed (see the module docstring)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.trim = _malloc_trim()
        self.peak = 0
        self.trims = 0

    def observe(self) -> bool:
        """Track the peak; True when enough connections closed since it to give memory back."""
        self.peak = max(self.peak, self.gate.open)
        return self.peak - self.gate.open >= TRIM_AFTER

    async def run(self) -> None:
        if self.trim is None:
            return
        while True:
            await asyncio.sleep(TRIM_EVERY)
            if self.observe():
                await asyncio.to_thread(self.trim)
                self.trims += 1
                self.peak = self.gate.open


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def effective_max_connections(configured: int, fds: int | None = None) -> int:
    """*configured*, but never more than the fd limit leaves after :data:`FD_RESERVE` (and the busy reserve)."""
    fds = fd_limit() if fds is None else fds
    room = int((fds - FD_RESERVE) / 1.1)
    return max(4, min(configured, room))


@dataclass(frozen=True)
class Limits:
    max_connections: int
    busy_reserve: int
    tls_handshake_timeout: float
    header_timeout: float
    max_header_bytes: int
    max_header_count: int
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout: float = 10.0

    @classmethod
    def of(cls, config: ServiceConfig) -> Limits:
        n = effective_max_connections(config.max_connections)
        return cls(max_connections=n, busy_reserve=max(4, n // 20), tls_handshake_timeout=config.tls_handshake_timeout,
                   header_timeout=config.header_timeout, max_header_bytes=config.max_header_bytes,
                   max_header_count=config.max_header_count, max_body_bytes=config.max_body_bytes,
                   body_timeout=config.body_timeout)


def plain_error(code: ErrorCode, detail: str, status: int | None = None, rid: str | None = None,
                field: str | None = None) -> bytes:
    """A complete HTTP/1.1 response with the error envelope, closing the connection (protocol level)."""
    rid = rid or new_request_id()
    resp = error_response(GtsdkError(code, detail, field=field), rid, "zh", status=status)
    body = bytes(resp.body)
    phrase = {408: "Request Timeout", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
              503: "Service Unavailable", 504: "Gateway Timeout"}
    head = (f"HTTP/1.1 {resp.status_code} {phrase.get(resp.status_code, '')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
            f"cache-control: no-store\r\nx-request-id: {rid}\r\n\r\n")
    return head.encode("latin-1") + body


class Gate:
    """The open connections of a server: counted from accept to close; the idle ones in eviction order."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        self._idle: OrderedDict[Any, None] = OrderedDict()
        self._freed: asyncio.Event | None = None
        self.evicted = 0
        self.refused_busy = 0

    @property
    def over(self) -> bool:
        return self.open > self.limits.max_connections

    def closed(self) -> None:
        self.open -= 1
        if self._freed is not None:
            self._freed.set()

    def idle(self, proto: Any) -> None:
        self._idle[proto] = None
        self._idle.move_to_end(proto)

    def busy(self, proto: Any) -> None:
        self._idle.pop(proto, None)

    def forget(self, proto: Any) -> None:
        self._idle.pop(proto, None)

    def evict_idle(self) -> bool:
        """Close the connection idle the longest; False when none is idle."""
        while self._idle:
            proto, _ = self._idle.popitem(last=False)
            if proto.evict():
                self.evicted += 1
                return True
        return False

    def admit(self) -> None:
        """A connection was just accepted: over the cap, close the connection idle the longest for it (if none
        is idle, the new one will be told serviceBusy once its TLS handshake is done)."""
        self.open += 1
        if self.open > self.limits.max_connections:
            self.evict_idle()

    async def below_hard_limit(self) -> None:
        """Return when accepting stays under the cap plus the busy reserve; else wait for a close."""
        hard = self.limits.max_connections + self.limits.busy_reserve
        while self.open >= hard:
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), 1.0)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the request head's size, field count and time."""

    gate: Gate
    limits: Limits

    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any], gate: Gate,
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.gate = gate
        self.limits = gate.limits
        self._head_bytes = 0
        self._head_size = 0
        self._head_fields = 0
        self._head_pending = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        # when the head / body still awaited began (loop time); their timers are armed only when a chunk of data
        # leaves them incomplete: most requests arrive whole in one chunk and need no timer at all
        self._head_since: float | None = None
        self._body_since: float | None = None
        self._body_bytes = 0
        self._gone: asyncio.Future[None] | None = None
        self._upgraded = False
        self._refused = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._linger_left = 0
        self._linger_until = 0.0

    # ---- connection events ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._gone = self.loop.create_future()
        if self.gate.over:  # accepted only to say so
            self.gate.refused_busy += 1
            self._refuse(ErrorCode.SERVICE_BUSY, "too many connections", 503)
            return
        self.gate.idle(self)
        self._head_since = self.loop.time()  # a connection that never sends a byte is closed too
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        self.gate.forget(self)
        if not self._upgraded:
            self.gate.closed()
        super().connection_lost(exc)

    def evict(self) -> bool:
        """Close this connection to make room (only while no request of it is being served)."""
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return False
        self.transport.abort()  # no TLS close_notify exchange: the descriptor is free at once
        return True

    # ---- the request head ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:  # answered already: dropped, within the linger's budget
            self._linger_on(len(data))
            return
        if self._head_pending:  # any byte before a head (even the CRLFs a parser skips) starts its clock
            self._head_bytes += len(data)
            if self._head_since is None:
                self._head_since = self.loop.time()
        super().data_received(data)
        if self._refused:
            return
        if self._head_pending and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(ErrorCode.HEADER_TOO_LARGE, f"request head over {self.limits.max_header_bytes} bytes")
            return
        # what this chunk left incomplete is now on the clock that started with its first byte
        if self._head_pending:
            if self._head_since is not None:
                self._arm_head_timer()
        elif self._body_since is not None and self._body_timer is None:
            self._body_timer = self.loop.call_at(self._body_since + self.limits.body_timeout, self._body_expired)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # after a refusal the parser may stumble over what follows: that was answered
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_pending = True
        self._head_size = self._head_fields = 0
        if self._head_since is None:  # armed by data_received if the head is not complete in this chunk
            self._head_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size <= self.limits.max_header_bytes:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_fields <= self.limits.max_header_count and self._head_size <= self.limits.max_header_bytes:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_pending = False
        self._head_bytes = 0
        self._head_since = None
        self._disarm_head_timer()
        if self._head_fields > self.limits.max_header_count:
            self._refuse(ErrorCode.HEADER_TOO_LARGE, f"more than {self.limits.max_header_count} header fields")
            return
        if self._head_size > self.limits.max_header_bytes:
            self._refuse(ErrorCode.HEADER_TOO_LARGE, f"request head over {self.limits.max_header_bytes} bytes")
            return
        self.gate.busy(self)
        self.scope[DISCONNECTED] = self._gone  # type: ignore[literal-required]
        self.scope[BODY_BOUNDED] = True  # type: ignore[literal-required]
        self._body_bytes = 0
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope and self.cycle.more_body:
            self._body_since = self.loop.time()  # armed by data_received if the body is not complete in this chunk

    # ---- the request body --------------------------------------------------------------------------------------
    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            cycle = self.cycle
            if (cycle is not None and cycle.response_complete
                    and self._body_bytes <= self.limits.max_body_bytes + LINGER_BYTES):
                # answered already (an early 413 on Content-Length, a 401, a 429): the rest is read and dropped,
                # as uvicorn does, so the keep-alive connection stays in step — closing it here raced with the
                # client's next request on it
                return
            if not self._refused:
                self._refuse_request(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {self.limits.max_body_bytes} bytes")
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body_timer()
        super().on_message_complete()

    def _disarm_body_timer(self) -> None:
        self._body_since = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_expired(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started:
            # a client that stalls half-way through its body must not hold a request slot for ever
            self._refuse_request(ErrorCode.TIME_OUT, f"request body not complete after {self.limits.body_timeout:g} s")

    def _refuse_request(self, code: ErrorCode, detail: str) -> None:
        """Answer the request in progress from here (its application sees a disconnect) and close."""
        cycle = self.cycle
        rid = dict(self.headers).get(b"x-request-id", b"").decode("latin-1") if self.headers else ""
        if cycle is not None:
            started = cycle.response_started
            cycle.disconnected = True  # the application's receive ends, its sends are dropped
            cycle.message_event.set()
            if started:
                self._refused = True
                self.transport.close()
                return
        self._refuse(code, detail, rid=rid if RID_PATTERN.match(rid) else None, field="body")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.gate.idle(self)
            self._head_pending = True
            self._head_bytes = 0

    def handle_websocket_upgrade(self) -> None:
        self.gate.forget(self)
        super().handle_websocket_upgrade()
        ws = self.transport.get_protocol()
        if isinstance(ws, GuardedWebSocketProtocol):
            self._upgraded = True  # the WebSocket protocol closes the gate's count from now on
            ws.gate = self.gate

    # ---- refusals -------------------------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            since = self._head_since if self._head_since is not None else self.loop.time()
            self._head_timer = self.loop.call_at(since + self.limits.header_timeout, self._head_expired)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._head_pending and not self.transport.is_closing():
            self._refuse(ErrorCode.TIME_OUT, f"request head not complete after {self.limits.header_timeout:g} s", 408)

    def _refuse(self, code: ErrorCode, detail: str, status: int | None = None, rid: str | None = None,
                field: str | None = None) -> None:
        self._refused = True
        self._disarm_head_timer()
        self._disarm_body_timer()
        self.gate.forget(self)
        if not self.transport.is_closing():
            self.transport.write(plain_error(code, detail, status, rid, field))
            # Lingering close: closing a socket with unread bytes in it sends a reset, which can destroy the
            # answer before the client reads it (a client still streaming its body does not read until it is
            # done).  So what else arrives is read and dropped until the client is quiet for LINGER_QUIET (a
            # loaded client can pause that long between two chunks), or LINGER_MAX passed, or LINGER_BYTES were
            # dropped — then the connection is closed, and reset REFUSAL_LINGER later if it still will not go.
            self._linger_left = LINGER_BYTES
            self._linger_until = self.loop.time() + LINGER_MAX
            self._linger_timer = self.loop.call_later(LINGER_QUIET, self._end_linger)

    def _linger_on(self, n: int) -> None:
        self._linger_left -= n
        if self._linger_timer is None:
            return
        self._linger_timer.cancel()
        quiet_until = self.loop.time() + LINGER_QUIET
        if self._linger_left < 0 or quiet_until > self._linger_until:
            self._end_linger()
        else:
            self._linger_timer = self.loop.call_at(quiet_until, self._end_linger)

    def _end_linger(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()
            self.loop.call_later(REFUSAL_LINGER, self.transport.abort)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, counted by the gate until it closes."""

    gate: Gate | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.gate is not None:
            self.gate.closed()
            self.gate = None


class _Listener:
    """One listening socket and its accept loop (stands where uvicorn keeps an asyncio Server)."""

    def __init__(self, sock: socket.socket, task: asyncio.Task[None]) -> None:
        self.sock, self.task = sock, task

    def close(self) -> None:
        self.task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class GuardedServer(uvicorn.Server):
    """uvicorn's server with our accept loops, and the application's shutdown step before uvicorn's."""

    def __init__(self, config: uvicorn.Config, service: ServiceConfig,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(config)
        self.gate = Gate(Limits.of(service))
        self.trimmer = Trimmer(self.gate)
        self.on_shutdown = on_shutdown
        self._handshakes: set[asyncio.Task[None]] = set()
        self._trim_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE
        if not sockets:
            raise ValueError("GuardedServer serves sockets bound by gtsdk.server.run.bind")
        self.servers = []
        for sock in sockets:
            sock.setblocking(False)
            task = asyncio.get_running_loop().create_task(self._accept(sock), name="gtsdk-accept")
            self.servers.append(_Listener(sock, task))  # type: ignore[arg-type]
        self._trim_task = asyncio.get_running_loop().create_task(self.trimmer.run(), name="gtsdk-trim")
        self.started = True

    def _protocol(self) -> GuardedHttpProtocol:
        return GuardedHttpProtocol(self.config, self.server_state, self.lifespan.state, self.gate)

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.gate.below_hard_limit()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as e:  # EMFILE and the like: wait a moment, the cap keeps us away from it
                log.warning("accept failed: %s", e)
                await asyncio.sleep(0.5)
                continue
            self.gate.admit()
            self.trimmer.observe()
            task = loop.create_task(self._handshake(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(self._protocol, conn, ssl=self.config.ssl,
                                               ssl_handshake_timeout=self.gate.limits.tls_handshake_timeout,
                                               ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, asyncio.CancelledError):
            conn.close()
            self.gate.closed()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._trim_task is not None:
            self._trim_task.cancel()
        for server in self.servers:
            server.close()
        for task in list(self._handshakes):
            task.cancel()
        if self.on_shutdown is not None:
            await self.on_shutdown()
        await super().shutdown(sockets)


def server_tls(ctx: ssl.SSLContext) -> None:
    """TLS 1.2+ and no session tickets (see the module docstring)."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.num_tickets = 0
