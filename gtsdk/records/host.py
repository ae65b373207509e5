"""Host health (10.2.2 d): CPU, memory, disk, temperature where the host exposes one, uptime, service
restarts, network latency to a configured host and the business success rate.

psutil is the field's library for the first four.  A temperature the host does not expose (most VMs) is
``None`` — shown as "not available", never made up.  Latency is the time a TCP connect to
``[records] latency_host`` takes, bounded by ``latency_timeout``; ``None`` when it fails.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from gtsdk.records.schema import Host

try:
    import psutil
except ImportError:  # the records extra is not installed: the figures are simply absent
    psutil = None


def tcp_latency(target: str, timeout: float) -> float | None:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    start = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return time.monotonic() - start
    except (OSError, ValueError):
        return None


def temperature() -> float | None:
    """The hottest CPU-ish sensor in °C, or None where the host has none."""
    fn = getattr(psutil, "sensors_temperatures", None) if psutil is not None else None
    if fn is None:
        return None
    try:
        sensors: dict[str, Any] = fn()
    except (OSError, RuntimeError, ValueError):  # psutil on a host without readable sensors
        return None
    temps = [float(s.current) for entries in sensors.values() for s in entries
             if getattr(s, "current", None) is not None and -40 < float(s.current) < 150]
    return max(temps) if temps else None


#: seconds after a read of the quick figures during which the periodic work keeps sampling them
READ_WINDOW = 60.0


class HostProbe:
    def __init__(self, disk_path: Path, latency_host: str | None, latency_timeout: float) -> None:
        self.disk_path = disk_path
        self.latency_host = latency_host
        self.latency_timeout = latency_timeout
        self.started_mono = time.monotonic()
        self._cached: tuple[float, Host] | None = None
        self._cached_json: tuple[Host, dict[str, Any]] | None = None
        #: until when the quick figures are being read (a page open on them): the periodic work keeps them sampled
        self.read_until = 0.0
        if psutil is not None:
            psutil.cpu_percent(interval=None)  # primes the counter: the next call measures since now

    def quick(self, restarts: int, max_age: float = 2.0) -> Host:
        """A sample without the latency probe, reused for *max_age* seconds (pages refresh often)."""
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > max_age:
            self._cached = (now, self.sample(restarts=restarts, success_1h=None, success_24h=None, latency=False))
        return self._cached[1].model_copy(update={"service_uptime": round(now - self.started_mono, 1)})

    def quick_json(self, restarts: int, max_age: float = 2.0) -> dict[str, Any]:
        """:meth:`quick` as JSON (by alias), the sample dumped once however many requests read it."""
        now = time.monotonic()
        self.read_until = now + READ_WINDOW
        if self._cached is None or now - self._cached[0] > max_age:
            self.quick(restarts, max_age)
        assert self._cached is not None
        sample = self._cached[1]
        got = self._cached_json
        if got is None or got[0] is not sample:
            got = self._cached_json = (sample, sample.model_dump(mode="json", by_alias=True))
        return {**got[1], "serviceUptime": round(now - self.started_mono, 1)}

    def keep_fresh(self, restarts: int, max_age: float) -> None:
        """Sample the quick figures ahead of the next read while someone reads them (a page refreshing)."""
        if time.monotonic() < self.read_until:
            self.quick(restarts, max_age)

    def sample(self, *, restarts: int, success_1h: float | None, success_24h: float | None,
               latency: bool = True) -> Host:
        cpu = mem = disk = boot = None
        if psutil is not None:
            cpu = float(psutil.cpu_percent(interval=None))
            mem = float(psutil.virtual_memory().percent)
            try:
                disk = float(psutil.disk_usage(str(self.disk_path)).percent)
            except OSError:
                disk = None
            boot = float(psutil.boot_time())
        lat = tcp_latency(self.latency_host, self.latency_timeout) if latency and self.latency_host else None
        return Host(cpu_percent=cpu, memory_percent=mem, disk_percent=disk, temperature=temperature(),
                    uptime=round(time.time() - boot, 1) if boot else None,
                    service_uptime=round(time.monotonic() - self.started_mono, 1), service_restarts=restarts,
                    latency=round(lat, 6) if lat is not None else None, success_rate_1h=success_1h,
                    success_rate_24h=success_24h)
