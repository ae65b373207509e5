"""Serial QR/barcode scanner driver (8.4 h): open, close, read; every scan is a ``codeScanned`` event.

Modes:

- ``triggered``: :meth:`read` sends the dialect's trigger, waits for one code (up to the
  operation timeout), then sends the untrigger — also on timeout or cancel.
- ``continuous``: the scanner decodes whatever it sees.  The runtime calls :meth:`poll`
  every ``poll_every`` seconds while the device is idle; poll parses what arrived and emits
  ``codeScanned`` for each new code.  :meth:`read` returns the first code received after
  the request was made (codes polled before that are only events).

Duplicate suppression: in continuous mode a code identical to one seen less than
``duplicate_window`` seconds ago is dropped (counted in the status detail); a triggered
read always returns what the user presented.  Garbage on the line (control bytes, no
terminator within ``max_length``, undecodable text) is dropped from the event stream and
counted; a :meth:`read` that receives it fails with ``invalidData`` so the kiosk can ask
for a rescan.
"""

from __future__ import annotations

import collections
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from gtsdk.driver import DeviceInfo, EventSink, HealthLevel, HealthResult, OpContext, StateSink, swallowed
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.qr_scanner import QrScannerDriver, ReadRequest, Scan
from gtsdk.transport.serial import SerialLink, SerialSettings

from . import codec
from .codec import Dialect

log = logging.getLogger("gtsdk.drivers.serial_scanner")

#: default mode-setting commands per dialect (override with ``mode_commands``).
#: Honeywell TRGMOD0 = manual/serial trigger, TRGMOD3 = presentation (Honeywell Xenon/N3680 user
#: guides, "Trigger Modes"); Newland SCNMOD0 = level (command) trigger, SCNMOD2 = continuous
#: (Newland NLS-HR52 manual, "Scan Mode"); GM65 uses a read-modify-write of zone bits 0x0000.
DEFAULT_MODE_COMMANDS: dict[str, dict[str, str]] = {
    "honeywell": {"triggered": "TRGMOD0", "continuous": "TRGMOD3"},
    "newland": {"triggered": "SCNMOD0", "continuous": "SCNMOD2"},
}
NEWLAND_TRIGGER = "SCNTRG1"
NEWLAND_UNTRIGGER = "SCNTRG0"


class ScannerSettings(SerialSettings):
    baudrate: int = 9600
    answer_timeout: float = 0.5
    dialect: Dialect = Dialect.HONEYWELL
    mode: Literal["triggered", "continuous"] = "triggered"
    suffix: codec.Suffix = "auto"
    encoding: Literal["auto", "utf-8", "gb18030"] = "auto"
    duplicate_window: float = Field(1.0, ge=0, le=3600)
    #: silence that ends a code when the scanner sends no suffix
    idle_gap: float = Field(0.05, ge=0.005, le=2)
    max_length: int = Field(4096, ge=16, le=65536)
    #: strip an AIM symbology identifier (]Q1 ...) the scanner is set to prefix
    aim_id: bool = False
    #: send the mode command at connect (off for scanners configured once with setup barcodes)
    configure: bool = True
    mode_commands: dict[str, str] | None = None
    #: GM65 command frames: compute the CRC (true) or send the "no check" marker AB CD
    gm65_checksum: bool = True
    poll_every: float = Field(0.02, ge=0.005, le=5)
    #: codeScanned events carry the text (full) or only its length and encoding (meta)
    event_payload: Literal["full", "meta"] = "full"


class SerialScannerDriver(QrScannerDriver[ScannerSettings]):
    name = "serial_scanner"
    version = "0.1"
    poll_interval = 0.02

    def __init__(self, settings: ScannerSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        # continuous: poll again at once (poll itself blocks up to poll_every waiting for data)
        self.poll_interval = 0.001 if self.s.mode == "continuous" else 1.0  # type: ignore[misc]
        self.link = SerialLink.from_settings(self.s)
        self.parser = codec.ScanParser(self.s.dialect, self.s.suffix, self.s.max_length, self.s.idle_gap)
        self.dedupe = codec.Deduper(self.s.duplicate_window)
        self.recent: collections.deque[tuple[float, Scan]] = collections.deque(maxlen=32)
        self.counters = {"scans": 0, "duplicates": 0, "garbage": 0, "replies": 0}
        self.last_scan: datetime | None = None

    # ---- lifecycle ----------------------------------------------------------------
    def connect(self) -> None:
        self.link.open()
        self.parser.buf.clear()
        if self.s.configure:
            self._set_mode(OpContext("scanner-connect", max(2.0, 3 * self.s.answer_timeout)))

    def disconnect(self) -> None:
        self.link.close()

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor=self.s.dialect.value, model=f"{self.s.dialect.value} serial scanner",
                          driver=self.name, driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"dialect": self.s.dialect.value, "mode": self.s.mode, "suffix": self.s.suffix,
                "encoding": self.s.encoding, "duplicateWindow": self.s.duplicate_window}

    def status_detail(self) -> dict[str, Any]:
        return {**self.counters, "mode": self.s.mode,
                "lastScan": self.last_scan.isoformat() if self.last_scan else None}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        if self.s.configure:
            self._set_mode(ctx)
        return HealthResult(level=level, ok=True, text="scanner answers" if self.s.configure else "port open",
                            checks={"serial": True})

    # ---- commands -------------------------------------------------------------------
    def _mode_command(self) -> str | None:
        table = self.s.mode_commands or DEFAULT_MODE_COMMANDS.get(self.s.dialect.value, {})
        return table.get(self.s.mode)

    def _command(self, frame: bytes, ctx: OpContext) -> codec.Reply:
        """Send a command frame and wait for its reply (codes that arrive meanwhile are kept)."""
        if self.s.dialect is Dialect.HONEYWELL:
            self.parser.expect_reply = True
        self.link.write(frame, ctx)
        until = time.monotonic() + min(self.s.answer_timeout, max(ctx.remaining(), 0.001))
        try:
            while True:
                reply: codec.Reply | None = None
                for item in self.parser.feed(self.link.read_available()):
                    if reply is None and item.kind == "reply" and item.reply is not None:
                        self.counters["replies"] += 1
                        reply = item.reply
                    else:
                        self._handle(item)  # codes around the reply still become events
                if reply is not None:
                    return reply
                if time.monotonic() >= until:
                    raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "scanner did not answer the command")
                ctx.sleep(0.002)
        finally:
            self.parser.expect_reply = False

    def _expect_ack(self, reply: codec.Reply, what: str) -> None:
        if reply.status != "ack":
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"scanner rejected {what} ({reply.status})", field="mode_commands")

    def _set_mode(self, ctx: OpContext) -> None:
        d = self.s.dialect
        if d is Dialect.GM65:
            r = self._command(codec.gm65_frame(codec.GM65_READ, codec.GM65_MODE_ADDRESS, b"\x01",
                                               self.s.gm65_checksum), ctx)
            self._expect_ack(r, "zone read")
            cur = r.data[0] if r.data else 0
            new = (cur & ~0b11) | codec.GM65_MODE_BITS[self.s.mode]
            if new != cur:
                r = self._command(codec.gm65_frame(codec.GM65_WRITE, codec.GM65_MODE_ADDRESS, bytes([new]),
                                                   self.s.gm65_checksum), ctx)
                self._expect_ack(r, "mode write")
            return
        cmd = self._mode_command()
        if not cmd:
            return
        frame = codec.honeywell_menu(cmd) if d is Dialect.HONEYWELL else codec.newland_command(cmd)
        self._expect_ack(self._command(frame, ctx), f"mode command {cmd}")

    def _trigger(self, on: bool, ctx: OpContext | None) -> None:
        d = self.s.dialect
        if d is Dialect.HONEYWELL:  # no reply: the scanner just starts/stops scanning
            self.link.write(codec.HONEYWELL_TRIGGER if on else codec.HONEYWELL_UNTRIGGER, ctx)
        elif d is Dialect.NEWLAND:
            self.link.write(codec.newland_command(NEWLAND_TRIGGER if on else NEWLAND_UNTRIGGER), ctx)
        else:
            frame = codec.gm65_frame(codec.GM65_WRITE, 0x0002, b"\x01" if on else b"\x00", self.s.gm65_checksum)
            self.link.write(frame, ctx)
        # replies (Newland, GM65) are consumed by the parser as "reply" items

    # ---- scans -------------------------------------------------------------------------
    def _scan(self, raw: bytes) -> Scan:
        body, symbology = codec.strip_aim(raw) if self.s.aim_id else (raw, None)
        text, enc = codec.decode_text(body, self.s.encoding)
        return Scan(text=text, raw=body, encoding=enc, symbology=symbology, time=datetime.now(UTC))

    def _handle(self, item: codec.Item, *, dedupe: bool = True) -> Scan | GtsdkError | None:
        """Turn a parsed item into a Scan (emitting codeScanned) or an error; replies are ignored."""
        if item.kind == "reply":
            self.counters["replies"] += 1
            return None
        if item.kind == "garbage":
            self.counters["garbage"] += 1
            log.warning("scanner sent %d unusable bytes: %s", len(item.data), item.reason)
            return GtsdkError(ErrorCode.INVALID_DATA, f"unreadable scan: {item.reason}")
        now = time.monotonic()
        if dedupe and self.s.mode == "continuous" and self.dedupe.duplicate(item.data, now):
            self.counters["duplicates"] += 1
            return None
        try:
            scan = self._scan(item.data)
        except GtsdkError as e:
            self.counters["garbage"] += 1
            log.warning("scanner sent %d undecodable bytes", len(item.data))
            return e
        self.counters["scans"] += 1
        self.last_scan = scan.time
        self.recent.append((now, scan))
        data: dict[str, Any] = {"encoding": scan.encoding, "length": len(scan.raw), "time": scan.time.isoformat()}
        if scan.symbology:
            data["symbology"] = scan.symbology
        if self.s.event_payload == "full":
            data["text"] = scan.text
        self.emit("codeScanned", data)
        return scan

    def _pump(self, ctx: OpContext | None = None, first: bytes = b"") -> list[Scan | GtsdkError]:
        out: list[Scan | GtsdkError] = []
        for item in self.parser.feed(first + self.link.read_available()) + self.parser.flush():
            r = self._handle(item)
            if r is not None:
                out.append(r)
        return out

    def poll(self, ctx: OpContext) -> None:
        """Continuous mode: wait up to ``poll_every`` for the first byte, so a code becomes an
        event as soon as its suffix arrives (an operation submitted meanwhile waits at most that long)."""
        first = b""
        if self.s.mode == "continuous":
            try:
                first = self.link.read_exact(1, ctx, timeout=self.s.poll_every)
            except GtsdkError as e:
                if e.code != ErrorCode.COMMUNICATION_ERROR:
                    raise
        self._pump(ctx, first)

    def read(self, request: ReadRequest, ctx: OpContext) -> Scan:
        if self.s.mode == "continuous":
            # a code polled after the request was made, or one waiting in the port buffer (it arrived
            # less than one poll interval ago) answers this read
            fresh = [scan for t, scan in self.recent if t >= ctx.started]
            fresh += [r for r in self._pump(ctx) if isinstance(r, Scan)]
            self.recent.clear()
            if fresh:
                return fresh[0]
        else:
            self._pump(ctx)  # codes from a manual trigger before this read become events only
            self.recent.clear()
        triggered = self.s.mode == "triggered" and request.trigger
        if triggered:
            self._trigger(True, ctx)
        try:
            while True:
                for r in self._pump(ctx):
                    if isinstance(r, GtsdkError):
                        raise r
                    self.recent.clear()
                    return r
                ctx.sleep(0.002)
        finally:
            if triggered:
                try:
                    self._trigger(False, None)
                except GtsdkError as e:  # the read's own outcome stands
                    swallowed("qr_scanner", "releasing the trigger", e)
