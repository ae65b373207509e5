"""The request head's and body's clocks at the connection (gtsdk/server/connections.py): a request that arrives
whole in one chunk arms no timer; one left incomplete by a chunk is on the clock that started with its first
byte, and is refused when it runs out."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from gtsdk.server.connections import Gate, GuardedHttpProtocol, Limits


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8801)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def _protocol(body_timeout: float = 5.0, header_timeout: float = 5.0) -> tuple[GuardedHttpProtocol, _Transport]:
    config = uvicorn.Config(_app, log_level="warning", lifespan="off")
    config.load()
    limits = Limits(max_connections=10, busy_reserve=1, tls_handshake_timeout=5.0, header_timeout=header_timeout,
                    max_header_bytes=8192, max_header_count=50, body_timeout=body_timeout)
    proto = GuardedHttpProtocol(config, ServerState(), {}, Gate(limits))
    transport = _Transport()
    proto.connection_made(transport)
    return proto, transport


POST = (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
        b'{"light":"hall"}\n')


def test_requests_arriving_whole_arm_no_timer() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        proto, transport = _protocol()
        armed = 0
        real_at, real_later = loop.call_at, loop.call_later

        def at(when: float, cb: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            nonlocal armed
            armed += cb in (proto._head_expired, proto._body_expired)
            return real_at(when, cb, *args, **kw)

        def later(delay: float, cb: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            nonlocal armed
            armed += cb in (proto._head_expired, proto._body_expired)
            return real_later(delay, cb, *args, **kw)

        loop.call_at = at  # type: ignore[method-assign,assignment]
        loop.call_later = later  # type: ignore[method-assign,assignment]
        for _ in range(5):
            proto.data_received(POST)
            for _ in range(20):
                await asyncio.sleep(0)
        assert transport.out.count(b"HTTP/1.1 200") == 5
        proto.connection_lost(None)
        return armed

    assert asyncio.run(main()) == 0


def test_a_body_left_incomplete_is_refused_on_the_clock_of_its_first_byte() -> None:
    async def main() -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()
        proto, transport = _protocol(body_timeout=0.3)
        t0 = loop.time()
        proto.data_received(POST[:-5])
        assert proto._body_timer is not None  # the chunk left the body incomplete
        await asyncio.sleep(0.15)
        proto.data_received(POST[-5:-3])  # more bytes do not restart its clock
        for _ in range(100):
            if transport.closed:
                break
            await asyncio.sleep(0.05)
        return bytes(transport.out), loop.time() - t0

    out, took = asyncio.run(main())
    assert out.startswith(b"HTTP/1.1 504") and b'"timeOut"' in out
    assert 0.3 <= took < 2.0


def test_a_head_left_incomplete_is_refused_after_the_header_timeout() -> None:
    async def main() -> bytes:
        proto, transport = _protocol(header_timeout=0.3)
        proto.data_received(POST)  # one whole request first: the next head starts its own clock
        for _ in range(20):
            await asyncio.sleep(0)
        proto.data_received(POST[:20])
        assert proto._head_timer is not None
        for _ in range(100):
            if transport.closed:
                break
            await asyncio.sleep(0.05)
        return bytes(transport.out)

    out = asyncio.run(main())
    assert out.count(b"HTTP/1.1 200") == 1 and b"HTTP/1.1 408" in out
