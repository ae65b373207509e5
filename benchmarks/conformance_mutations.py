"""The conformance suite against every defect class of gtsdk.conformance.selftest.

For each class: is it caught by the check meant for it, with the intended reason, and how
long did that take; then the clean terminal's full run, and a terminal whose operations all
stall (the whole run must stay within the default three-minute budget).  Prints caught/total,
time per class, and the time of each full run as a ratio of the clean one measured in the same
run.  Run: ``.venv/bin/python -m benchmarks.conformance_mutations``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path


def main() -> int:
    from gtsdk.conformance import selftest
    from gtsdk.conformance.terminal_tier import DEFAULT_BUDGET

    warnings.simplefilter("ignore", DeprecationWarning)
    only = {a for a in sys.argv[1:] if not a.startswith("-")}
    mutations = [m for m in selftest.MUTATIONS if not only or any(o in m.name for o in only)]
    base = Path(tempfile.mkdtemp(prefix="gtsdk-mutations-"))
    t_all = time.monotonic()
    shared = selftest.start(base / "shared")
    rows = []
    try:
        t0 = time.monotonic()
        clean = selftest.certify(shared)
        clean_s = time.monotonic() - t0
        print(f"clean terminal: tier {clean.tier_reached.value if clean.tier_reached else 'none'}, "
              f"{len(clean.results)} checks, {len(clean.incomplete)} not run, {len(clean.failures())} failed, "
              f"{clean_s:.1f} s", flush=True)
        for i, m in enumerate(mutations):
            try:
                out = selftest.try_mutation(m, shared, base / f"own-{i}")
            except Exception as e:  # noqa: BLE001 - a harness that cannot build the defect here (no TLS 1.0); printed
                print(f"  ERROR  {m.name}: {type(e).__name__}: {e}", flush=True)
                continue
            rows.append(out)
            mark = "caught" if out.caught else "MISSED"
            print(f"  {mark} {out.seconds:6.1f} s  {m.category:13} {m.name:58} {m.check:26} "
                  f"{out.reason[:90]}", flush=True)
        t0 = time.monotonic()
        shared.switch.mutation = selftest.stall(selftest._is_op)
        stalled = selftest.certify(shared)
        stall_s = time.monotonic() - t0
        shared.switch.mutation = None
    finally:
        shared.stop()
    caught = sum(r.caught for r in rows)
    longest = max(r.duration_ms for r in stalled.results) / 1000
    print(f"\ncaught {caught}/{len(mutations)} defect classes in {time.monotonic() - t_all:.1f} s "
          f"(sum of mutation runs {sum(r.seconds for r in rows):.1f} s)")
    print(f"full run, clean terminal:    {clean_s:6.1f} s  (1.00x)")
    print(f"full run, stalling terminal: {stall_s:6.1f} s  ({stall_s / clean_s:.2f}x of clean; budget "
          f"{DEFAULT_BUDGET:.0f} s; longest check {longest:.1f} s; stalled: {sorted(stalled.environment['stalled'])})")
    return 0 if caught == len(mutations) and stall_s <= DEFAULT_BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
