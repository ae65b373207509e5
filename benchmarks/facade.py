"""What the typed facades cost next to the untyped call they wrap, in one run.

    .venv/bin/python -m benchmarks.facade [--seconds S]

Three rows, each a ratio against its own baseline measured here:

- **facade alone**: ``facade.LightsClient(caller).flash(...)`` on a caller that returns at once,
  vs the same caller called with a request model built beforehand — the facade's own work
  (building and validating the request from keyword arguments, checking the result type);
- **in process**: ``t.lights.flash(...)`` vs ``t.call("lights", "flash", request)`` on a terminal with
  an in-memory light board — the facade next to the runtime's queue and worker thread;
- **client body**: the JSON body a client sends for a facade call (request model → wire dict, seconds →
  ms) vs the same body from a wire-shaped dict (the untyped ``client.call``).

Times are CPU time of this process (``time.process_time``) so the ratios hold on a shared machine;
the in-process row also spends time in the device's worker thread, which process time counts too.
Goal: a facade call costs no reflection per call — in process ≥ 0.8x the untyped call.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from gtsdk import facade
from gtsdk.client._common import body
from gtsdk.driver import Model, OpContext
from gtsdk.modules import Capabilities, HealthResult, Statistics, Status, lights
from gtsdk.runtime import Terminal, parse_config, registry

SECONDS = 1.0


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second (median of three runs)."""
    out = []
    for _ in range(3):
        n, t0 = 0, time.process_time()
        while (dt := time.process_time() - t0) < seconds / 3:
            fn()
            n += 1
        out.append(n / dt)
    return sorted(out)[1]


class MemoryBoard(lights.LightsDriver):
    name = "bench_memory"

    def connect(self) -> None:
        self.states: dict[str, str] = {}

    def disconnect(self) -> None:
        pass

    def _set(self, light: str, state: str) -> lights.Lights:
        self.states[light] = state
        return lights.Lights(states=dict(self.states))

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "on")

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "flash")

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._set(request.light, "off")


class Instant:
    """A caller that answers at once (the facade's own cost, nothing else)."""

    answer = lights.Lights(states={"a": "flash"})

    def call(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
             request_id: str | None = None) -> Model:
        return self.answer

    def status(self, module: str) -> Status:
        raise NotImplementedError

    def capabilities(self, module: str) -> Capabilities:
        raise NotImplementedError

    def statistics(self, module: str) -> Statistics:
        raise NotImplementedError

    def health(self, module: str, level: Any = None, *, timeout: float | None = None) -> HealthResult:
        raise NotImplementedError

    def cancel(self, module: str, request_id: str) -> bool:
        return False


def row(label: str, typed: float, untyped: float) -> None:
    print(f"{label:<16} {typed:>12,.0f}/s {untyped:>12,.0f}/s {typed / untyped:>8.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="typed facade vs untyped call")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="CPU seconds per measurement")
    args = parser.parse_args(argv)
    s = args.seconds
    print(f"{'':<16} {'facade':>14} {'untyped':>14} {'ratio':>9}")

    caller = Instant()
    lights_facade = facade.LightsClient(caller)
    prebuilt = lights.FlashRequest(light="a", period_ms=500, duty=0.5)
    row("facade alone", rate(lambda: lights_facade.flash(light="a", period=0.5, duty=0.5), s),
        rate(lambda: caller.call("lights", "flash", prebuilt), s))

    registry.register("lights", "bench_memory", MemoryBoard)
    with Terminal(parse_config({"modules": {"lights": {"driver": "bench_memory"}}}), strict=True) as t:
        t.lights.on(light="a")  # connected, worker warm
        row("in process", rate(lambda: t.lights.flash(light="a", period=0.5, duty=0.5), s),
            rate(lambda: t.call("lights", "flash", prebuilt), s))

    wire = {"light": "a", "periodMs": 500, "duty": 0.5}
    row("client body", rate(lambda: body(lights.FlashRequest(light="a", period_ms=500, duty=0.5), 2.0, {}), s),
        rate(lambda: body(wire, 2.0, {}), s))


if __name__ == "__main__":
    main()
