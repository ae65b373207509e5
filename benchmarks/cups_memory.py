"""Memory of CUPS status reads: what one status query costs the service's RSS for good (issue #18, the soak).

The CUPS driver reads the queue's state on every poll (1 s) and status query.  pycups' ``getPrinterAttributes``
(Get-Printer-Attributes) leaks its answer — OpenPrinting/pycups issue 44, fixed upstream after the 2.0.4 release
— so the driver reads it with ``getPrinters`` (CUPS-Get-Printers) instead.  This benchmark runs the simulated
CUPS stack (cupsd + ippeveprinter in a private network namespace, root only), makes N calls of each and prints
the RSS growth per 1,000 calls, the driver's own status read beside the leaking call measured in the same run.

Run: ``.venv/bin/python -m benchmarks.cups_memory [N]`` (default 3000).
"""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ATTRS = ["printer-state", "printer-state-reasons", "printer-state-message", "printer-make-and-model",
         "printer-is-accepting-jobs", "color-supported", "sides-supported", "media-supported", "marker-levels",
         "marker-names"]


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6


def growth(fn: Callable[[], Any], n: int) -> float:
    """MB of RSS kept per 1,000 calls (after 200 calls of warm-up)."""
    for _ in range(200):
        fn()
    gc.collect()
    before = rss_mb()
    for _ in range(n):
        fn()
    gc.collect()
    return (rss_mb() - before) * 1000 / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 3000
    try:
        import cups

        from gtsdk.drivers.cups.driver import CupsDriver, CupsSettings
        from gtsdk.simulators.a4_printer.stack import CupsStack, StackError
    except ImportError as e:
        print(f"skipped: {e}")
        return
    work = Path(tempfile.mkdtemp(prefix="gtsdk-bench-cups-"))
    try:
        stack = CupsStack(work).start()
    except StackError as e:
        shutil.rmtree(work, ignore_errors=True)
        print(f"skipped: {e}")
        return
    try:
        cups.setServer(str(stack.sock))
        conn = cups.Connection()
        driver = CupsDriver(CupsSettings(queue=CupsStack.QUEUE, server=str(stack.sock)))
        driver.connect()
        leak = growth(lambda: conn.getPrinterAttributes(CupsStack.QUEUE, requested_attributes=ATTRS), n)
        ours = growth(lambda: conn.getPrinters(), n)
        status = growth(driver._refresh_printer, n)
        status2 = growth(driver._refresh_printer, n)  # a second round: what the first kept for good or not
        driver.disconnect()
        print(f"{n} calls each; RSS kept per 1,000 calls:")
        print(f"  getPrinterAttributes (baseline, pycups leaks it)  {leak:7.3f} MB")
        print(f"  getPrinters                                        {ours:7.3f} MB  "
              f"({ours / leak if leak else 0:.2f}x)")
        print(f"  the driver's status read                           {status:7.3f} MB  "
              f"({status / leak if leak else 0:.2f}x)")
        print(f"  the driver's status read, again                    {status2:7.3f} MB  "
              f"({status2 / leak if leak else 0:.2f}x)")
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
