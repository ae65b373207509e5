"""``GET /metrics``: Prometheus text format for a maintenance token or the scrape token configured as
``[service] metrics_token_sha256``.

Module states, operations by result code and their durations (since the service started), and from the records:
availability since installation, open faults by level, consumables, open transactions, business success rates,
satisfaction, and host health (CPU, memory, disk, temperature where exposed, latency, uptime, restarts).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from typing import TYPE_CHECKING

from starlette.responses import Response

from gtsdk.driver import DeviceState
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.records.availability import TERMINAL
from gtsdk.runtime.device import OperationRecord

if TYPE_CHECKING:
    from gtsdk.records.recorder import Recorder
    from gtsdk.server.app import ServiceApp, _Call


class OpMetrics:
    """Counts completed operations (``Terminal.on_complete``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count: dict[tuple[str, str, str], int] = {}
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: dict[tuple[str, str], int] = {}

    def __call__(self, rec: OperationRecord) -> None:
        with self._lock:
            k = (rec.module, rec.operation, rec.code)
            self.count[k] = self.count.get(k, 0) + 1
            k2 = (rec.module, rec.operation)
            self.seconds[k2] = self.seconds.get(k2, 0.0) + rec.duration_ms / 1000.0
            self.calls[k2] = self.calls.get(k2, 0) + 1

    def snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], float],
                                dict[tuple[str, str], int]]:
        with self._lock:
            return dict(self.count), dict(self.seconds), dict(self.calls)


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _gauge(lines: list[str], name: str, help_text: str, kind: str = "gauge") -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def records_lines(rec: Recorder) -> list[str]:
    lines: list[str] = []
    fig = rec.availability()
    _gauge(lines, "gtsdk_availability_ratio",
           "Share of the time since installation without a level 1 (terminal) or level 1-2 (module) fault, "
           "the service's own downtime included.")
    lines.append(f'gtsdk_availability_ratio{{module="terminal"}} {fig.ratio(TERMINAL):.6f}')
    lines += [f'gtsdk_availability_ratio{{module="{_label(m)}"}} {fig.ratio(m):.6f}' for m in rec.modules()]
    _gauge(lines, "gtsdk_service_downtime_seconds", "Seconds the service was not running since installation.")
    lines.append(f"gtsdk_service_downtime_seconds {fig.service_down:.3f}")
    _gauge(lines, "gtsdk_faults_open", "Open fault records by level (1 down, 2 a function fails, 3 minor).")
    open_by = {1: 0, 2: 0, 3: 0}
    for f in rec.faults.open_faults():
        open_by[f.level] = open_by.get(f.level, 0) + 1
    lines += [f'gtsdk_faults_open{{level="{lvl}"}} {n}' for lvl, n in sorted(open_by.items())]
    _gauge(lines, "gtsdk_consumable_ok", "Consumable state (1 ok, 0.5 low, 0 empty).")
    lines += [f'gtsdk_consumable_ok{{name="{_label(n)}",module="{_label(m)}"}} {({"ok": 1, "low": 0.5}).get(s, 0)}'
              for (m, n), (s, _) in sorted(rec.faults.consumables.items())]
    _gauge(lines, "gtsdk_transactions_open", "Business transactions open now.")
    lines.append(f"gtsdk_transactions_open {rec.transactions.open_count()}")
    rates = rec.success_rates()
    _gauge(lines, "gtsdk_success_ratio", "Completed share of the transactions begun in the window.")
    for window in ("1h", "24h"):
        if rates[window] is not None:
            lines.append(f'gtsdk_success_ratio{{window="{window}"}} {rates[window]}')
    stats = rec.statistics(30)
    sat = stats["satisfaction"]
    if sat["rate"] is not None:
        _gauge(lines, "gtsdk_satisfaction_ratio", "Share of ratings 基本满意 or better over 30 days (target 0.9).")
        lines.append(f"gtsdk_satisfaction_ratio {sat['rate']}")
    host = rec.host.sample(restarts=rec.timeline.restarts(), success_1h=None, success_24h=None, latency=False)
    figures = {"gtsdk_host_cpu_percent": (host.cpu_percent, "CPU use of the host in percent."),
               "gtsdk_host_memory_percent": (host.memory_percent, "Memory use of the host in percent."),
               "gtsdk_host_disk_percent": (host.disk_percent, "Use of the disk holding the gtsdk home in percent."),
               "gtsdk_host_temperature_celsius": (host.temperature, "Hottest host sensor (absent when not exposed)."),
               "gtsdk_host_uptime_seconds": (host.uptime, "Seconds since the host booted."),
               "gtsdk_service_uptime_seconds": (host.service_uptime, "Seconds since the service started."),
               "gtsdk_service_restarts_total": (host.service_restarts, "Service starts after the first, ever."),
               "gtsdk_network_latency_seconds": (rec.last_host.latency if rec.last_host else None,
                                                 "TCP connect time to [records] latency_host.")}
    for name, (value, text) in figures.items():
        if value is not None:  # a figure the host does not give is left out, never made up
            _gauge(lines, name, text, "counter" if name.endswith("_total") else "gauge")
            lines.append(f"{name} {value}")
    return lines


class Metrics:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self.ops = OpMetrics()
        app.terminal.on_complete(self.ops)

    def close(self) -> None:
        listeners = getattr(self.app.terminal, "_listeners", None)
        if isinstance(listeners, list) and self.ops in listeners:
            listeners.remove(self.ops)

    def allowed(self, header: str | None) -> bool:
        kind, _, value = (header or "").partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            return False
        value = value.strip()
        want = self.app.config.metrics_token_sha256
        if want and hmac.compare_digest(hashlib.sha256(value.encode()).hexdigest(), want):
            return True
        tok = self.app.tokens.verify(value)
        return tok is not None and "maintenance" in tok.scopes

    def text(self) -> str:
        t = self.app.terminal
        lines: list[str] = []
        _gauge(lines, "gtsdk_module_state", "Current device state of each module (1 = in this state).")
        states = [s.value for s in DeviceState]
        for mod_id in MODULES:
            cur = t.device(mod_id).state.value
            lines += [f'gtsdk_module_state{{module="{mod_id}",state="{s}"}} {1 if s == cur else 0}' for s in states]
        count, secs, calls = self.ops.snapshot()
        _gauge(lines, "gtsdk_operations_total", "Completed operations by result code.", "counter")
        for (mod, op, code), n in sorted(count.items()):
            lines.append(f'gtsdk_operations_total{{module="{_label(mod)}",operation="{_label(op)}",'
                         f'code="{_label(code)}"}} {n}')
        _gauge(lines, "gtsdk_operation_duration_seconds", "Time from start to completion of operations.", "summary")
        for (mod, op), total in sorted(secs.items()):
            lbl = f'module="{_label(mod)}",operation="{_label(op)}"'
            lines.append(f"gtsdk_operation_duration_seconds_sum{{{lbl}}} {total:.6f}")
            lines.append(f"gtsdk_operation_duration_seconds_count{{{lbl}}} {calls[(mod, op)]}")
        rec: Recorder | None = getattr(self.app, "records", None)
        if rec is not None:
            lines += records_lines(rec)
        _gauge(lines, "gtsdk_event_seq", "Sequence number of the last event.", "counter")
        lines.append(f"gtsdk_event_seq {t.events.last_seq}")
        return "\n".join(lines) + "\n"

    async def route(self, call: _Call) -> Response:
        if not self.allowed(call.request.headers.get("authorization")):
            raise GtsdkError(ErrorCode.UNAUTHORIZED, "needs a maintenance token or the scrape token",
                             field="Authorization")
        text = await asyncio.to_thread(self.text)
        return Response(text, 200, media_type="text/plain; version=0.0.4; charset=utf-8")


def add_routes(app: ServiceApp) -> None:
    m = Metrics(app)
    app.metrics = m  # type: ignore[attr-defined]
    app._routes[("GET", "/metrics")] = (None, m.route)
