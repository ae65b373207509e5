"""Stress probe for the travel-document simulator (not collected by pytest; run by hand).

Several processes each run a simulated travel-document reader (pcscd + vpcd + the virtual ICAO chip) and
read a document in a loop, while busy loops load every CPU.  Each worker starts a little later and reads a
different number of times than the one before, so simulators start and stop while others are mid-read: the
case where simulators sharing one machine-wide pcscd broke each other (one stopped the pcscd the others
used; vpcd's two TCP ports limited a machine to two simulators).

    python tests/drivers/stress_traveldoc.py --workers 3 --reads 40 --load 2

prints one line per worker and a JSON summary (reads, failures by code, failed starts, p50/p99 read time).
Exit status 0 when every read succeeded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _busy(stop_at: float) -> None:
    os.nice(5)
    x = 0
    while time.monotonic() < stop_at:
        x += 1


def _worker(index: int, reads: int, stagger: float, out: Any) -> None:
    from gtsdk.errors import GtsdkError
    from gtsdk.simulated import simulated_terminal
    from gtsdk.simulators.travel_doc import SAMPLES

    time.sleep(index * stagger)
    result: dict[str, Any] = {"worker": index, "reads": 0, "ok": 0, "errors": {}, "times": [], "start": "ok"}
    wd = Path(tempfile.mkdtemp(prefix=f"gtsdk-stress-{index}-"))
    t = simulated_terminal(wd, modules=["travel_doc"])
    try:
        if "travel_doc" not in t.simulations:
            result["start"] = t.devices["travel_doc"].disabled_reason or "failed"
            return
        t.start()
        sim = t.simulations["travel_doc"]
        for _ in range(reads):
            result["reads"] += 1
            t0 = time.monotonic()
            try:
                sim.control("insert", {"doc": "cs"})
                t.travel_doc.read(mrz=SAMPLES["cs"], timeout=15, read_photo=False)
                result["ok"] += 1
                result["times"].append(time.monotonic() - t0)
            except GtsdkError as e:
                result["errors"][e.code] = result["errors"].get(e.code, 0) + 1
            except Exception as e:  # noqa: BLE001 - counted by type: the probe reports what failed
                key = type(e).__name__
                result["errors"][key] = result["errors"].get(key, 0) + 1
            finally:
                try:
                    sim.control("remove", {})
                except Exception as e:  # noqa: BLE001 - counted by type like the reads
                    key = f"remove: {type(e).__name__}"
                    result["errors"][key] = result["errors"].get(key, 0) + 1
    finally:
        t.stop()
        shutil.rmtree(wd, ignore_errors=True)
        out.put(result)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--reads", type=int, default=30, help="reads of the first worker (each next one: fewer)")
    ap.add_argument("--stagger", type=float, default=3.0, help="s between worker starts")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy-loop processes")
    ap.add_argument("--deadline", type=float, default=540.0, help="s before the probe gives up on a worker")
    a = ap.parse_args()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    end = time.monotonic() + a.deadline
    load = [ctx.Process(target=_busy, args=(end,), daemon=True) for _ in range(a.load)]
    for p in load:
        p.start()
    workers = [ctx.Process(target=_worker, args=(i, max(5, a.reads - 8 * i), a.stagger, out))
               for i in range(a.workers)]
    t0 = time.monotonic()
    for p in workers:
        p.start()
    results = []
    for _ in workers:
        try:
            results.append(out.get(timeout=max(1.0, end - time.monotonic())))
        except queue.Empty:
            break
    for p in workers:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    for p in load:
        p.kill()
    hung = len(workers) - len(results)
    times = sorted(t for r in results for t in r["times"])
    errors: dict[str, int] = {}
    for r in sorted(results, key=lambda r: r["worker"]):
        print(f"worker {r['worker']}: start {r['start']}; {r['ok']}/{r['reads']} reads ok; errors {r['errors']}")
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    summary = {
        "workers": a.workers, "load": a.load, "reads": sum(r["reads"] for r in results),
        "ok": sum(r["ok"] for r in results), "errors": errors, "hung_workers": hung,
        "failed_starts": sum(1 for r in results if r["start"] != "ok"),
        "p50_s": round(statistics.median(times), 3) if times else None,
        "p99_s": round(times[int(0.99 * (len(times) - 1))], 3) if times else None,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    print(json.dumps(summary))
    return 0 if not errors and not hung and not summary["failed_starts"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
