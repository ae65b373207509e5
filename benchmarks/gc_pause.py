"""The garbage collector's full passes over the service's heap, with and without the start-up heap frozen.

A full collection (generation 2) walks every tracked object while holding the GIL: the event loop and every
device worker stop for it, so each one adds its length to every request in flight (the operation row's p99 in
benchmarks.server).  Nearly all of a service's objects are made at start-up (modules, contracts, validation
schemas, drivers, the terminal) and live until it stops; ``gtsdk serve`` moves them out of the collector's
reach once started (:func:`gtsdk.server.run.settle_heap`, ``gc.freeze``), so a full pass walks only what the
requests made since.  This benchmark builds the service with every simulated module, as ``gtsdk serve
--simulate`` does, and times full passes before and after (CPU of the collecting thread, median of N), in the
same run, each after 200 light operations and status reads.

Run: ``.venv/bin/python -m benchmarks.gc_pause [N]`` (default 15).
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def full_pass_ms(n: int) -> tuple[float, float]:
    """Median and maximum CPU milliseconds of *n* full collections."""
    took: list[float] = []
    for _ in range(n):
        t0 = time.thread_time()
        gc.collect()
        took.append((time.thread_time() - t0) * 1000)
    return statistics.median(took), max(took)


def serve_some(t: Any, n: int = 200) -> None:
    """What a working service has besides start-up's objects: operations and status reads made since."""
    for _ in range(n):
        t.lights.on(light="idcard", timeout=10)
        t.lights.off(light="idcard", timeout=10)
        t.device("idcard").status()


def main() -> None:
    from gtsdk.server.config import parse_service
    from gtsdk.server.run import build, close_app, settle_heap
    from gtsdk.simulated import simulated_terminal

    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 15
    with tempfile.TemporaryDirectory(prefix="gtsdk-bench-gc-") as tmp:
        home = Path(tmp)
        t = simulated_terminal(home / "sim")
        t.start()
        try:
            app = build(t, parse_service({}), home, simulate=True)
            try:
                serve_some(t)
                tracked = len(gc.get_objects())
                before, before_max = full_pass_ms(n)
                settle_heap()
                serve_some(t)
                after, after_max = full_pass_ms(n)
                left = len(gc.get_objects())
            finally:
                close_app(app)
        finally:
            t.stop()
    print(f"service with every simulated module: {tracked} tracked objects, {left} left to the collector after "
          f"settle_heap (frozen {gc.get_freeze_count()})")
    print(f"{'full collection (CPU ms)':<34}{'median':>8}{'max':>8}")
    print(f"{'start-up heap walked (baseline)':<34}{before:>8.2f}{before_max:>8.2f}")
    print(f"{'start-up heap frozen':<34}{after:>8.2f}{after_max:>8.2f}")
    print(f"frozen / baseline: {after / before:.3f}x (median of {n})")


if __name__ == "__main__":
    main()
