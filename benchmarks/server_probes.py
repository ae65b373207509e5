"""Attack probes of issue #18 against a real `gtsdk serve` process, with its memory and descriptors watched.

Run: ``.venv/bin/python -m benchmarks.server_probes [--fd-limit N] [--burst N] [--bursts N]``.

* **slowloris to the fd limit**: the service runs with a low file descriptor limit (``--fd-limit``, default 1024);
  the probe opens twice that many TLS connections that send nothing, and as many that send one header line now
  and then, while ``/v1/health`` is asked every 100 ms.  Reported: health answers and their latency, the
  service's open descriptors (never at its limit), connections closed for room, ``serviceBusy`` answers.
* **memory over bursts of held connections**: ``--bursts`` bursts of ``--burst`` idle connections, held then
  released; the service's RSS after each burst should not ratchet up.
* **huge header**: one request with a 400 MB header line, streamed; the service answers 431 early and its RSS
  does not grow with the header.
* **8 MB body during health checks**: health latency while 8 MB bodies of small JSON objects are parsed.

Numbers depend on the machine; the verdicts compare the service with itself (before and after a burst).
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Service:
    def __init__(self, fd_limit: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gtsdk-probe-"))
        self.home = self.dir / "home"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = self.dir / "terminal.toml"
        cfg.write_text("[service]\nmax_connections = 100000\nheader_timeout = 10.0\n")

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        exe = Path(sys.executable).parent / "gtsdk"
        self.proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg), "--home", str(self.home), "--port",
                                      str(self.port), "--no-audit"], preexec_fn=limit,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.fd_limit = fd_limit
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if (self.home / "ca.pem").exists() and self.health(2.0) is not None:
                break
            time.sleep(0.2)
        else:
            self.stop()
            raise SystemExit("service did not start")

    def ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.home / "ca.pem"))

    def tls(self, timeout: float = 3.0) -> ssl.SSLSocket | None:
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            return self.ctx().wrap_socket(raw, server_hostname="127.0.0.1")
        except OSError:
            return None

    def health(self, timeout: float = 5.0) -> float | None:
        """Seconds for GET /v1/health on a new connection, or None when it failed."""
        t0 = time.monotonic()
        conn = self.tls(timeout)
        if conn is None:
            return None
        try:
            conn.settimeout(timeout)
            conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = conn.recv(65536)
            return time.monotonic() - t0 if data.startswith(b"HTTP/1.1 200") else None
        except OSError:
            return None
        finally:
            conn.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class HealthWatch:
    """Asks /v1/health every 100 ms on a thread while a probe runs."""

    def __init__(self, svc: Service) -> None:
        self.svc, self.failed = svc, 0
        self.times: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = self.svc.health()
            if t is None:
                self.failed += 1
            else:
                self.times.append(t)
            self._stop.wait(0.1)

    def __enter__(self) -> HealthWatch:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(30)

    def line(self) -> str:
        if not self.times:
            return f"health: 0 answered, {self.failed} failed"
        p50, top = statistics.median(self.times) * 1000, max(self.times) * 1000
        return f"health: {len(self.times)} answered, {self.failed} failed, p50 {p50:.0f} ms, max {top:.0f} ms"


def slowloris(svc: Service) -> bool:
    held: list[ssl.SSLSocket] = []
    peak = 0
    with HealthWatch(svc) as watch:
        for i in range(2 * svc.fd_limit):
            conn = svc.tls(timeout=2.0)
            if conn is not None:
                if i % 2:
                    try:
                        conn.sendall(b"GET /v1/health HTTP/1.1\r\n")  # a head begun, never finished
                    except OSError:
                        pass
                held.append(conn)
            if i % 50 == 0:
                peak = max(peak, fds(svc.pid))
        for _ in range(30):  # one header line every 0.5 s on the half-open heads
            for conn in held[1::2]:
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            peak = max(peak, fds(svc.pid))
            time.sleep(0.5)
    alive = sum(1 for c in held if not _closed(c))
    for c in held:
        c.close()
    print(f"slowloris: {len(held)} connections opened, {alive} still open at the end; service fds peak {peak} "
          f"of limit {svc.fd_limit}; {watch.line()}")
    ok = peak < svc.fd_limit and watch.failed <= len(watch.times) // 10 and len(watch.times) > 0
    print(f"  verdict: {'held' if ok else 'FAILED'} (health answered, descriptors below the limit)")
    return ok


def _closed(conn: ssl.SSLSocket) -> bool:
    try:
        r, _, _ = select.select([conn], [], [], 0)
        if not r:
            return False
        conn.settimeout(0.01)
        return conn.recv(1) == b""
    except (OSError, ValueError):
        return True


def bursts(svc: Service, n: int, count: int) -> bool:
    base = rss_mb(svc.pid)
    after: list[float] = []
    print(f"memory: RSS before {base:.0f} MB")
    for b in range(count):
        held = [c for c in (svc.tls(timeout=2.0) for _ in range(n)) if c is not None]
        peak = rss_mb(svc.pid)
        for c in held:
            c.close()
        time.sleep(7.0)  # the service gives freed heap pages back a few seconds after a burst
        after.append(rss_mb(svc.pid))
        print(f"  burst {b + 1}: {len(held)} held, RSS at peak {peak:.0f} MB, after release {after[-1]:.0f} MB, "
              f"fds {fds(svc.pid)}")
    ok = after[-1] <= after[0] * 1.1 + 10
    print(f"  verdict: {'no ratchet' if ok else 'RATCHET'} (last burst {after[-1]:.0f} MB vs first {after[0]:.0f} MB)")
    return ok


def huge_header(svc: Service, total: int = 400 * 1024 * 1024) -> bool:
    before = rss_mb(svc.pid)
    conn = svc.tls()
    assert conn is not None
    sent, answer = 0, b""
    chunk = b"a" * (1 << 20)
    conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        while sent < total and not answer:
            conn.sendall(chunk)
            sent += len(chunk)
            if select.select([conn], [], [], 0)[0]:
                answer = conn.recv(65536)
    except OSError:
        pass
    conn.close()
    time.sleep(1.0)
    grown = rss_mb(svc.pid) - before
    print(f"huge header: {sent / 2**20:.0f} MB sent before the answer {answer[:12]!r}; service RSS grew {grown:.1f} MB")
    ok = answer.startswith(b"HTTP/1.1 431") and grown < 50
    print(f"  verdict: {'held' if ok else 'FAILED'}")
    return ok


def big_bodies(svc: Service) -> bool:
    from gtsdk.server.tokens import TokenStore

    token = TokenStore(svc.home).create(["app"])
    body = ('{"light":"a","pad":[' + ",".join(['{"k":1}'] * 1_000_000) + "]}").encode()
    with HealthWatch(svc) as watch:
        for _ in range(3):
            conn = svc.tls(timeout=60)
            assert conn is not None
            conn.sendall(b"POST /v1/lights/on HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                         + b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
            conn.settimeout(60)
            conn.recv(65536)
            conn.close()
    print(f"8 MB bodies (3, one after another): {watch.line()}")
    ok = bool(watch.times) and max(watch.times) < 1.0
    print(f"  verdict: {'held' if ok else 'FAILED'} (health within 1 s throughout)")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd-limit", type=int, default=1024)
    ap.add_argument("--burst", type=int, default=600)
    ap.add_argument("--bursts", type=int, default=4)
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    svc = Service(args.fd_limit)
    results = []
    try:
        results.append(slowloris(svc))
        results.append(bursts(svc, args.burst, args.bursts))
        results.append(huge_header(svc))
        results.append(big_bodies(svc))
    finally:
        svc.stop()
    print("all probes held" if all(results) else "SOME PROBES FAILED")


if __name__ == "__main__":
    main()
