"""ESC/POS receipt printer driver (8.4 g): init, print, cut, close over serial or USB.

Every job: DLE EOT 1..4 first (a printer that cannot print refuses the job
before a byte of it is sent), the document in chunks of whole commands with a
DLE EOT 4/2/3 between chunks, and a full status read after the job.  If the
paper runs out (or the cover opens, or the cutter jams) part-way, the rest of
the job is not sent and the printer's buffers are cleared (DLE DC4 fn=8), so
nothing of the failed job prints when the paper is loaded.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import model_validator

from gtsdk.driver import (
    DeviceInfo,
    DeviceState,
    DriverSettings,
    Empty,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    StateSink,
    swallowed,
)
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.receipt_printer import CutRequest, InitRequest, PrintRequest, PrintResult, ReceiptPrinterDriver
from gtsdk.transport import ByteStream, io_timeout
from gtsdk.transport.serial import SerialLink
from gtsdk.transport.usb import UsbLink, UsbMatch, load_backend, parse_vid_pid

from . import codec


class EscposSettings(DriverSettings):
    port: str | None = None
    baudrate: int = 115200
    parity: str = "N"
    stopbits: float = 1
    usb: str | None = None  # VID:PID in hex
    usb_serial: str | None = None  # the printer's USB serial number, when several of one model are plugged in
    usb_backend: str | None = None  # "module:factory" returning a pyusb backend; None: libusb
    usb_backend_arg: str | None = None
    answer_timeout: float = 1.0
    paper_width: int = codec.WIDTH_80MM
    chinese: bool = True
    code_table: int = 0
    chunk_size: int = 1024
    status_poll: float = 2.0  # seconds between status reads while idle (events without a job)
    model: str = ""

    @model_validator(mode="after")
    def _one_transport(self) -> EscposSettings:
        if (self.port is None) == (self.usb is None):
            raise ValueError("set exactly one of port (serial) or usb (VID:PID)")
        if not 64 <= self.chunk_size <= 65536:
            raise ValueError("chunk_size must be 64..65536")
        if self.paper_width % 8 or not 64 <= self.paper_width <= 2048:
            raise ValueError("paper_width must be a multiple of 8 in 64..2048 dots")
        return self


_EVENTS = (("paper_near_end", "paperNearEnd"), ("paper_out", "paperOut"), ("cover_open", "coverOpen"))


class EscposDriver(ReceiptPrinterDriver[EscposSettings]):
    name = "escpos"
    version = "0.2"
    poll_interval = 2.0

    def __init__(self, settings: EscposSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.poll_interval = settings.status_poll  # type: ignore[misc]  # per-instance from the settings
        self.t: ByteStream | None = None
        self.chinese = settings.chinese
        self._status: codec.PrinterStatus | None = None
        self._lock = threading.Lock()
        self.last_job_bytes = 0

    # ---- transport -----------------------------------------------------------------------------
    def _make_transport(self) -> ByteStream:
        s = self.s
        if s.port is not None:
            return SerialLink(s.port, s.baudrate, parity=s.parity, stopbits=s.stopbits, answer_timeout=s.answer_timeout)
        vid, pid = parse_vid_pid(s.usb or "")
        backend = load_backend(s.usb_backend, s.usb_backend_arg, field="usb_backend") if s.usb_backend else None
        # USB printer class: bulk OUT (+ bulk IN for status) on interface 0
        return UsbLink(UsbMatch.of(vid, pid, s.usb_serial), backend=backend, answer_timeout=s.answer_timeout,
                       name="USB printer")

    def connect(self) -> None:
        t = self._make_transport()
        t.open()
        self.t = t
        try:
            t.discard_input()
            st = self._query(None)
        except GtsdkError as e:
            self.disconnect()
            if e.code == ErrorCode.COMMUNICATION_ERROR:
                raise GtsdkError(ErrorCode.NO_DEVICE, "printer does not answer DLE EOT") from None
            raise
        self._update(st)

    def disconnect(self) -> None:
        t, self.t = self.t, None
        if t is not None:
            t.close()

    def _need(self) -> ByteStream:
        if self.t is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "printer not connected")
        return self.t

    # ---- status --------------------------------------------------------------------------------
    def _query(self, ctx: OpContext | None, functions: tuple[int, ...] = (1, 2, 3, 4)) -> codec.PrinterStatus:
        """Send DLE EOT n for each n and read one reply byte per request."""
        t = self._need()
        timeout = io_timeout(self.s.answer_timeout, ctx)
        t.discard_input()  # e.g. the 37 25 00 an Epson sends when DLE DC4 fn=8 has cleared its buffers
        t.write(b"".join(codec.status_request(n) for n in functions), ctx)
        reply = t.read_exact(len(functions), ctx, timeout=timeout)
        return codec.parse_status(dict(zip(functions, reply, strict=True)))

    def _update(self, st: codec.PrinterStatus) -> None:
        prev, self._status = self._status, st
        if prev == st:
            return
        self.emit("printerStatusChanged", st.detail())
        for attr, event in _EVENTS:
            if getattr(st, attr) and (prev is None or not getattr(prev, attr)):
                self.emit(event, st.detail())
        if st.cutter_error or st.cover_open or st.unrecoverable:
            self.set_state(DeviceState.HARDWARE_ERROR, "cutter jam" if st.cutter_error else
                           "cover open" if st.cover_open else "printer error")
        elif prev is not None and (prev.cutter_error or prev.cover_open or prev.unrecoverable):
            self.set_state(DeviceState.ONLINE, "")

    def status_detail(self) -> dict[str, Any]:
        st = self._status
        out: dict[str, Any] = {"transport": "usb" if self.s.usb else "serial"}
        if st is not None:
            out.update(st.detail())
        return out

    def poll(self, ctx: OpContext) -> None:
        self._update(self._query(ctx))

    def _ready(self, ctx: OpContext) -> codec.PrinterStatus:
        st = self._query(ctx)
        self._update(st)
        err = st.problem()
        if err is not None:
            raise err
        return st

    # ---- operations ------------------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="ESC/POS", model=self.s.model or "receipt printer", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"transport": "usb" if self.s.usb else "serial", "paperWidthDots": self.s.paper_width,
                "chinese": self.s.chinese, "encoding": "GB18030", "qr": True, "raster": True,
                "barcodes": sorted(codec.BARCODE_TYPES), "cut": ["full", "partial"],
                "status": ["paperNearEnd", "paperOut", "coverOpen", "cutterError", "offline"]}

    def init(self, request: InitRequest, ctx: OpContext) -> Empty:
        self.chinese = request.chinese
        enc = codec.Encoder(self.s.paper_width, self.chinese)
        self._ready(ctx)
        self._need().write(enc.init(self.s.code_table), ctx)
        return Empty()

    def _send_job(self, segments: list[bytes], ctx: OpContext) -> tuple[int, codec.PrinterStatus]:
        t = self._need()
        self._ready(ctx)  # refuse before sending anything
        sent = 0
        chunks = codec.chunk(segments, self.s.chunk_size)
        try:
            for i, c in enumerate(chunks):
                t.write(c, ctx)
                sent += len(c)
                # between chunks only the mechanism-stopping statuses (n=4 paper, n=2 cover/error, n=3 cutter)
                st = self._query(ctx, (4, 2, 3)) if i < len(chunks) - 1 else self._query(ctx)
                err = st.problem()
                if err is not None:
                    self._update(st)
                    raise err
            self._update(st)
        except GtsdkError as e:
            self._abandon(ctx)
            e.data.update({"bytesSent": sent, "discarded": True})
            raise
        self.last_job_bytes = sent
        return sent, st

    def _abandon(self, ctx: OpContext) -> None:
        """A job stopped part-way: clear the printer's receive and print buffers (real-time, so it works offline)."""
        t = self.t
        if t is None:
            return
        try:
            t.write(codec.CLEAR_BUFFERS, None)
        except GtsdkError as e:  # best effort: the job's own error is what the caller gets
            swallowed("receipt_printer", "clearing the buffers", e)

    def print(self, request: PrintRequest, ctx: OpContext) -> PrintResult:
        enc = codec.Encoder(self.s.paper_width, self.chinese)
        segments = [enc.init(self.s.code_table), *enc.document(request.elements)]
        if request.cut:
            segments.append(codec.cut(False, 3))
        sent, st = self._send_job(segments, ctx)
        return PrintResult(bytes_sent=sent, paper_near_end=st.paper_near_end)

    def cut(self, request: CutRequest, ctx: OpContext) -> Empty:
        self._send_job([codec.cut(request.partial, request.feed_lines)], ctx)
        return Empty()

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        st = self._query(ctx)
        self._update(st)
        err = st.problem()
        checks = {"answers": True, "paper": not (st.paper_out or st.paper_end_stop), "cover": not st.cover_open,
                  "cutter": not st.cutter_error}
        return HealthResult(level=level, ok=err is None, text=err.detail if err else "printer ready", checks=checks)
