"""A4 colour printer through CUPS (8.4 f): print, job status, cancel — via pycups.

``print`` checks the queue first (a printer that reports no paper, a jam, no
toner or is unreachable refuses the job with the catalogue code), submits the
document with copies / sides / colour / media, and answers with the CUPS job
id.  The driver then polls its jobs while idle and emits ``jobStateChanged``
and, when a job ends, ``jobCompleted``; printer-state-reasons changes are
emitted as ``printerStatusChanged`` with the mapped code.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from gtsdk import leftovers
from gtsdk.driver import (
    DeviceInfo,
    DeviceState,
    DriverSettings,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    StateSink,
)
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.a4_printer import A4PrinterDriver, DocumentFormat, Job, JobRequest, JobState, PrintRequest

from . import codec
from .render import text_to_pdf

_JOB_ATTRS = ["job-state", "job-state-reasons", "job-printer-state-message", "job-impressions-completed"]


class CupsSettings(DriverSettings):
    queue: str
    server: str | None = None  # host, host:port or the path of cupsd's Unix socket; default: CUPS' own default
    job_poll: float = 0.3
    #: seconds a printer fault must persist while our job runs before ``print(wait=true)`` reports it
    #: (a queue shows the printer's previous reasons until the printer updates them for the new job)
    hold_grace: float = 1.5
    max_document_mb: int = 64


class CupsDriver(A4PrinterDriver[CupsSettings]):
    name = "cups"
    version = "0.2"
    poll_interval: ClassVar[float | None] = 1.0

    def __init__(self, settings: CupsSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.conn: Any = None
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}  # jobs this driver submitted and has not seen end
        self._done: dict[int, Job] = {}  # final states (they never change), newest last
        self._printer: dict[str, Any] = {}
        self._code: ErrorCode | None = None
        self._model = ""
        #: when tracked jobs were last refreshed: operations refresh them too when the runtime had no idle second
        #: to poll (a queue kept busy never polls, and ended jobs then stayed in ``_jobs`` for ever)
        self._swept = time.monotonic()
        #: documents on their way to CUPS, in a folder recorded in gtsdk.leftovers' ledger: a crash between
        #: writing one and removing it leaves nothing a successor does not remove
        self._spool: Path | None = None

    # ---- connection ----------------------------------------------------------------------------
    def _cups(self) -> Any:
        try:
            import cups
        except ImportError:
            raise GtsdkError(ErrorCode.NO_DEVICE, "pycups is not installed (pip install gtsdk[printers])") from None
        return cups

    def connect(self) -> None:
        cups = self._cups()
        host, port = self.s.server, None
        if host and not host.startswith("/") and ":" in host:
            host, _, p = host.rpartition(":")
            port = int(p)
        try:
            if host and port:
                conn = cups.Connection(host=host, port=port)
            elif host:
                conn = cups.Connection(host=host)
            else:
                conn = cups.Connection()
            printers = conn.getPrinters()
        except (RuntimeError, cups.IPPError, cups.HTTPError) as e:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"cannot reach the CUPS server: {type(e).__name__}") from None
        if self.s.queue not in printers:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"CUPS has no queue {self.s.queue!r}")
        self.conn = conn
        self._model = str(printers[self.s.queue].get("printer-make-and-model", ""))
        self._refresh_printer()

    def disconnect(self) -> None:
        self.conn = None
        with self._lock:  # the next connection reports the printer's state afresh
            self._printer, self._code = {}, None
        if self._spool is not None:
            leftovers.remove_temp_dir(self._spool)
            self._spool = None

    def _call(self, fn: str, *args: Any, **kw: Any) -> Any:
        if self.conn is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "CUPS not connected")
        cups = self._cups()
        try:
            return getattr(self.conn, fn)(*args, **kw)
        except cups.IPPError as e:
            status = e.args[0] if e.args else 0
            if status == cups.IPP_NOT_FOUND:
                raise GtsdkError(ErrorCode.NOT_FOUND, "no such job or queue") from None
            if status in (cups.IPP_NOT_POSSIBLE, cups.IPP_NOT_ACCEPTING):
                raise GtsdkError(ErrorCode.INVALID_STATE, "the queue does not accept jobs now") from None
            if status in (cups.IPP_DOCUMENT_FORMAT, cups.IPP_ATTRIBUTES):
                raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, "the printer does not support this document") from None
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"IPP error 0x{int(status):04x}") from None
        except (RuntimeError, cups.HTTPError) as e:
            self.conn = None
            raise GtsdkError(ErrorCode.NO_DEVICE, f"CUPS server lost: {type(e).__name__}") from None

    # ---- printer status ---------------------------------------------------------------------------
    def _refresh_printer(self) -> dict[str, Any]:
        # CUPS-Get-Printers, not Get-Printer-Attributes: pycups' getPrinterAttributes leaks every answer (about
        # 1 KB a call; OpenPrinting/pycups issue 44, fixed upstream after the 2.0.4 release), and this runs on
        # every poll and status query (benchmarks/cups_memory.py).  The queue's printer-type bits carry colour,
        # duplex and whether it accepts jobs (CUPS API, cups_ptype_e).
        cups = self._cups()
        a = self._call("getPrinters").get(self.s.queue)
        if a is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, f"CUPS has no queue {self.s.queue!r}")
        reasons = a.get("printer-state-reasons") or []
        if isinstance(reasons, str):
            reasons = [reasons]
        ptype = int(a.get("printer-type", 0))
        info = {"printerState": codec.PRINTER_STATES.get(int(a.get("printer-state", 3)), "unknown"),
                "reasons": [r for r in reasons if r != "none"],
                "message": str(a.get("printer-state-message", "") or ""),
                "acceptingJobs": not ptype & cups.CUPS_PRINTER_REJECTING,
                "colorSupported": bool(ptype & cups.CUPS_PRINTER_COLOR),
                "duplexSupported": bool(ptype & cups.CUPS_PRINTER_DUPLEX),
                "warnings": codec.warnings(reasons)}
        code = codec.status_code(reasons, int(a.get("printer-state", 3)), str(info["message"]))
        info["code"] = code.value if code else None
        with self._lock:
            changed = {k: v for k, v in info.items() if k in ("printerState", "reasons", "code")} != \
                {k: v for k, v in self._printer.items() if k in ("printerState", "reasons", "code")}
            self._printer, prev, self._code = info, self._code, code
        if changed:
            self.emit("printerStatusChanged", {k: info[k] for k in ("printerState", "reasons", "code", "warnings")})
            if code in (ErrorCode.HARDWARE_ERROR, ErrorCode.MEDIA_JAM):
                self.set_state(DeviceState.HARDWARE_ERROR, code.value)
            elif code is ErrorCode.NO_DEVICE:
                self.set_state(DeviceState.OFFLINE, "printer unreachable")
            elif prev in (ErrorCode.HARDWARE_ERROR, ErrorCode.MEDIA_JAM, ErrorCode.NO_DEVICE):
                self.set_state(DeviceState.ONLINE, "")
        return info

    def status_detail(self) -> dict[str, Any]:
        with self._lock:
            d = dict(self._printer)
            d["activeJobs"] = sorted(self._jobs)
        d["queue"] = self.s.queue
        return d

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="CUPS", model=self._model or self.s.queue, driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        p = self._printer
        return {"queue": self.s.queue, "formats": [f.value for f in DocumentFormat],
                "color": p.get("colorSupported", True), "duplex": p.get("duplexSupported", True),
                "media": sorted(codec.MEDIA)}

    # ---- jobs ---------------------------------------------------------------------------------------
    def _job(self, job_id: int) -> Job:
        with self._lock:
            done = self._done.get(job_id)
        if done is not None:
            return done
        a = self._call("getJobAttributes", job_id, requested_attributes=_JOB_ATTRS)
        state = codec.JOB_STATES.get(int(a.get("job-state", 3)), JobState.PENDING)
        jr = a.get("job-state-reasons") or []
        reasons = [jr] if isinstance(jr, str) else list(jr)
        with self._lock:
            prev = self._jobs.get(job_id)
            preasons = list(self._printer.get("reasons", []))
            pmessage = str(self._printer.get("message", ""))
        error: str | None = None
        held = codec.reasons_code(preasons, None, pmessage)  # -report reasons are history, not a hold
        if state in (JobState.PROCESSING, JobState.STOPPED) and held is not None:
            # held up by the printer (no paper, jam, toner, offline); a pending job waits for others, so the
            # printer's reasons are about the job in front of it
            error = held.value
        elif state in (JobState.ABORTED, JobState.CANCELED):
            # the job failed: blame what the printer reported while it was running, else a generic code
            last = codec.reasons_code(preasons, None, pmessage, severities=("", "error", "warning", "report"))
            seen = (prev.error if prev is not None else None) or (last.value if last else None)
            user_cancel = "job-canceled-by-user" in reasons
            error = ErrorCode.CANCELED.value if user_cancel and seen is None else \
                (seen or ErrorCode.HARDWARE_ERROR.value)
        job = Job(job_id=job_id, state=state, reasons=[r for r in reasons if r != "none"],
                  printer_reasons=[r for r in preasons if not r.startswith("cups-")], error=error)
        self._track(job, prev)
        return job

    def _track(self, job: Job, prev: Job | None) -> None:
        with self._lock:
            if job.state in codec.FINAL:
                known = self._jobs.pop(job.job_id, None) is not None
                self._done[job.job_id] = job
                while len(self._done) > 200:
                    self._done.pop(next(iter(self._done)))
            else:
                known = False
                self._jobs[job.job_id] = job
        if prev is None or (prev.state, prev.error) != (job.state, job.error):
            self.emit("jobStateChanged", job.wire())
        if known:
            self.emit("jobCompleted", job.wire())

    def poll(self, ctx: OpContext) -> None:
        self._refresh_printer()
        self._sweep_jobs(ctx)

    def _sweep_jobs(self, ctx: OpContext) -> None:
        """Refresh every job not yet seen ending: emits their events and forgets those that ended."""
        self._swept = time.monotonic()
        with self._lock:
            ids = list(self._jobs)
        for jid in ids:
            ctx.check()
            try:
                self._job(jid)
            except GtsdkError as e:
                if e.code != ErrorCode.NOT_FOUND:
                    raise
                with self._lock:
                    self._jobs.pop(jid, None)

    def _document_file(self, req: PrintRequest) -> str:
        data = text_to_pdf(req.document.decode("utf-8")) if req.format is DocumentFormat.TEXT else req.document
        if self._spool is None:
            self._spool = leftovers.make_temp_dir("gtsdk-a4-")
        fd, path = tempfile.mkstemp(dir=self._spool, prefix="doc-", suffix=".pdf" if req.format in (
            DocumentFormat.PDF, DocumentFormat.TEXT) else "." + req.format.value)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def print(self, request: PrintRequest, ctx: OpContext) -> Job:
        if len(request.document) > self.s.max_document_mb * 1024 * 1024:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, "document too large", field="document")
        codec.check_document(request)
        options = codec.job_options(request)
        info = self._refresh_printer()
        # refuse only what stops the printer now (-error reasons, a stopped queue); warnings are for jobs
        code = codec.reasons_code(info["reasons"], {"idle": 3, "processing": 4, "stopped": 5}.get(
            info["printerState"]), info["message"], severities=("", "error"))
        if code is not None:
            raise GtsdkError(code, f"printer not ready: {', '.join(info['reasons']) or info['message']}",
                             data={"reasons": info["reasons"]})
        if not info["acceptingJobs"]:
            raise GtsdkError(ErrorCode.INVALID_STATE, "the queue does not accept jobs")
        ctx.check()
        if time.monotonic() - self._swept >= (self.poll_interval or 1.0):
            self._sweep_jobs(ctx)
        path = self._document_file(request)
        try:
            job_id = int(self._call("printFile", self.s.queue, path, request.title, options))
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
        job = self._job(job_id)
        if request.wait:
            job = self._wait(job_id, ctx)
        return job

    def _wait(self, job_id: int, ctx: OpContext) -> Job:
        held_since: float | None = None
        while True:
            job = self._job(job_id)
            if job.state in codec.FINAL:
                if job.error is not None:
                    raise GtsdkError(job.error, f"job {job.state.value}", data={
                        "jobId": job_id, "state": job.state.value, "reasons": job.printer_reasons})
                return job
            if job.error is None:
                held_since = None
            elif held_since is None:
                held_since = time.monotonic()
            elif time.monotonic() - held_since >= self.s.hold_grace:
                # the printer holds the job (no paper, jam, toner, unreachable): say so now; the job stays
                # queued and completes once the fault is cleared, or the app cancels it (cancel_job)
                raise GtsdkError(job.error, "the printer holds the job", data={
                    "jobId": job_id, "state": job.state.value, "reasons": job.printer_reasons})
            ctx.sleep(min(self.s.job_poll, max(ctx.remaining() - 0.05, 0.01)))
            self._refresh_printer()

    def job_status(self, request: JobRequest, ctx: OpContext) -> Job:
        self._refresh_printer()
        return self._job(request.job_id)

    def cancel_job(self, request: JobRequest, ctx: OpContext) -> Job:
        job = self._job(request.job_id)
        if job.state not in codec.FINAL:
            self._call("cancelJob", request.job_id)
            end = time.monotonic() + min(3.0, ctx.remaining())
            while time.monotonic() < end:
                job = self._job(request.job_id)
                if job.state in codec.FINAL:
                    break
                ctx.sleep(0.05)
        return job

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        info = self._refresh_printer()
        ok = info["code"] is None
        return HealthResult(level=level, ok=ok, text="printer ready" if ok else f"printer: {info['code']}",
                            checks={"cups": True, "printer": ok, "accepting": bool(info["acceptingJobs"])})
