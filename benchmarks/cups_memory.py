"""Memory of CUPS status reads: what one status query costs the service's RSS for good (issue #18, the soak).

The CUPS driver reads the queue's state on every poll (1 s) and status query.  pycups' ``getPrinterAttributes``
(Get-Printer-Attributes) leaks its answer — OpenPrinting/pycups issue 44, fixed upstream after the 2.0.4 release
— so the driver reads it with ``getPrinters`` (CUPS-Get-Printers) instead.  This benchmark runs the simulated
CUPS stack (cupsd + ippeveprinter in a private network namespace, root only), makes N calls of each and prints
the RSS growth per 1,000 calls, the driver's own status read beside the leaking call measured in the same run.

The soak still saw memory kept at the driver's pycups calls, so the calls of the fault paths are measured too
(Get-Job-Attributes of an ended or unknown job, Cancel-Job of an ended job and of a pending one, a new
connection as after cupsd restarts), and the driver's prints back to back with no idle poll between them:
what it tracks at the end is the jobs still active in CUPS, not one per print (the soak's growth, which was the
driver's own job table holding every job seen pending, the strings of pycups' answers within).

Run: ``.venv/bin/python -m benchmarks.cups_memory [N]`` (default 3000; the paths that print use N/10).
"""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
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


def fault_paths(cups: Any, conn: Any, driver: Any, stack: Any, work: Path, n: int) -> list[tuple[str, float, str]]:
    """The calls of the fault paths and the driver's busy print path: (row, MB per 1,000 calls, note)."""
    from gtsdk.driver import OpContext
    from gtsdk.modules.a4_printer import JobRequest, PrintRequest

    doc = work / "doc.pdf"
    doc.write_bytes(PDF)
    ended = conn.printFile(stack.QUEUE, str(doc), "bench", {})
    deadline = time.monotonic() + 30
    while conn.getJobAttributes(ended, requested_attributes=["job-state"])["job-state"] < 7:
        if time.monotonic() > deadline:
            raise SystemExit("the simulated printer did not finish a job in 30 s")
        time.sleep(0.1)

    def failing(fn: Callable[[], Any]) -> Callable[[], None]:
        def call() -> None:
            try:
                fn()
            except cups.IPPError:
                pass
        return call

    def reconnect() -> None:
        cups.Connection().getPrinters()

    rows = [
        ("getJobAttributes, a job that ended", growth(
            lambda: conn.getJobAttributes(ended, requested_attributes=["job-state", "job-state-reasons"]), n * 10), ""),
        ("getJobAttributes, no such job (IPP error)", growth(failing(
            lambda: conn.getJobAttributes(2**30, requested_attributes=["job-state"])), n * 10), ""),
        ("cancelJob, a job that ended (IPP error)", growth(failing(lambda: conn.cancelJob(ended)), n * 10), ""),
        ("a new connection (as after cupsd restarts)", growth(reconnect, n * 10), ""),
    ]
    conn.disablePrinter(stack.QUEUE)  # jobs stay pending, so each Cancel-Job succeeds
    try:
        rows.append(("printFile, queue stopped", growth(
            lambda: conn.printFile(stack.QUEUE, str(doc), "bench", {}), n), ""))
        rows.append(("printFile + cancelJob of the pending job", growth(
            lambda: conn.cancelJob(conn.printFile(stack.QUEUE, str(doc), "bench", {})), n),
            "  (pycups 2.0.4 leaves its answer unfreed: a few hundred bytes a call)"))
    finally:
        conn.enablePrinter(stack.QUEUE)
    conn.cancelAllJobs(stack.QUEUE, my_jobs=False, purge_jobs=True)

    def busy_print() -> None:
        ctx = OpContext("bench", 30.0)
        job = driver.print(PrintRequest(document=PDF), ctx)
        driver.job_status(JobRequest(job_id=job.job_id), ctx)

    busy = growth(busy_print, n)
    active = len(conn.getJobs(which_jobs="not-completed"))
    tracked = len(driver.status_detail()["activeJobs"])
    rows.append(("the driver's print + job status, no idle poll", busy,
                 f"  tracking {tracked} jobs after {n + 200} prints ({active} active in CUPS)"))
    return rows


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
        stack = CupsStack(work, print_delay=0.0).start()
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
        rows = fault_paths(cups, conn, driver, stack, work, max(n // 10, 50))
        driver.disconnect()
        print(f"{n} calls each; RSS kept per 1,000 calls:")
        print(f"  getPrinterAttributes (baseline, pycups leaks it)  {leak:7.3f} MB")
        print(f"  getPrinters                                        {ours:7.3f} MB  "
              f"({ours / leak if leak else 0:.2f}x)")
        print(f"  the driver's status read                           {status:7.3f} MB  "
              f"({status / leak if leak else 0:.2f}x)")
        print(f"  the driver's status read, again                    {status2:7.3f} MB  "
              f"({status2 / leak if leak else 0:.2f}x)")
        for name, mb, note in rows:
            print(f"  {name:50s} {mb:7.3f} MB  ({mb / leak if leak else 0:.2f}x){note}")
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
