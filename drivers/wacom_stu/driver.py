"""``signature_pad.wacom_stu``: Wacom STU signature pads over USB HID (clause 8.4 c).

The pad is reached through :class:`gtsdk.transport.usb.UsbLink` (pyusb): libusb by default, or
any pyusb backend named by the setting ``backend = "module:factory"`` (the simulators' fake USB
bus, a USB/IP client...), so the same driver code runs against real and simulated pads.

``get_signature`` clears the pad, shows the prompt and three buttons (清除/取消/确定, see
:mod:`.render`), sets the writing area to the signing box, switches inking on and collects pen
reports until the user taps OK or cancel (clear restarts) or the operation's deadline passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from gtsdk.driver import (
    DeviceInfo,
    DriverSettings,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    StateSink,
    swallowed,
)
from gtsdk.drivers.wacom_stu import codec as K
from gtsdk.drivers.wacom_stu import render as R
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.signature_pad import GetSignatureRequest, Signature, SignaturePadDriver
from gtsdk.transport.usb import UsbLink, UsbMatch, load_backend

#: HID class requests to / from the interface (HID 1.11 §7.2)
_HID_IN, _HID_OUT = 0xA1, 0x21


class WacomStuSettings(DriverSettings):
    vendor_id: int = Field(K.VENDOR_ID, description="USB vendor id (Wacom 0x056A)")
    product_id: int | None = Field(None, description="USB product id; None: the first known STU model")
    usb_serial: str | None = Field(None, description="the pad's USB serial number, when several pads are plugged in")
    backend: str | None = Field(None, description="'module:factory' returning a pyusb backend; None: libusb")
    backend_arg: str | None = Field(None, description="argument passed to the backend factory")
    interface: int = 0
    answer_timeout: float = Field(1.0, gt=0, description="seconds one USB transfer may take")
    font: str | None = Field(None, description="TrueType/OpenType font with CJK glyphs for the prompt")
    timed_reports: bool = Field(True, description="ask for pen reports with the pad's own time stamps (mode 1)")
    stuck_pen_seconds: float = Field(5.0, gt=0, description="tip down without moving this long → hardwareError")
    tap_max_ms: int = Field(500, gt=0, description="a pen-down shorter than this on a button is a tap")
    pen_min_width: float = Field(1.2, gt=0, description="PNG stroke width at zero pressure (px)")
    pen_max_width: float = Field(4.5, gt=0, description="PNG stroke width at full pressure (px)")
    output_scale: float = Field(1.0, gt=0, le=8, description="PNG pixels per pad screen pixel")


@dataclass
class _Stroke:
    samples: list[tuple[K.PenSample, float]] = field(default_factory=list)  # (sample, t ms)


@dataclass
class _Capture:
    """What one signing session has gathered so far."""

    strokes: list[_Stroke] = field(default_factory=list)  # inside the signing box
    iso_pts: list[tuple[K.PenSample, float]] = field(default_factory=list)  # pen samples for ISO/IEC 19794-7
    hover: list[tuple[K.PenSample, float]] = field(default_factory=list)  # in proximity since the last stroke
    outcome: str | None = None  # "ok" or "cancel" once a button was tapped


class WacomStuDriver(SignaturePadDriver[WacomStuSettings]):
    name = "wacom_stu"
    version = "1.0"

    def __init__(self, settings: WacomStuSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.cfg = self.settings
        self.link: UsbLink | None = None
        self.cap: K.Capability | None = None
        self.info: K.Information | None = None
        self.serial = ""
        self.product_id = 0
        self.screen: dict[str, Any] = {}

    # ---- USB ----------------------------------------------------------------------------
    def _link(self) -> UsbLink:
        c = self.cfg
        backend = load_backend(c.backend, c.backend_arg) if c.backend else None
        pids = c.product_id if c.product_id is not None else K.MODELS
        return UsbLink(UsbMatch.of(c.vendor_id, pids, c.usb_serial), backend=backend, interface=c.interface,
                       answer_timeout=c.answer_timeout, name="Wacom STU signature pad")

    def connect(self) -> None:
        self.disconnect()
        link = self._link()
        link.open()
        self.link = link
        try:
            if link.ep_in is None:
                raise GtsdkError(ErrorCode.HARDWARE_ERROR, "pad has no interrupt IN endpoint")
            self.product_id = int(link.device.idProduct)
            self.cap = K.decode_capability(self.get_feature(K.CAPABILITY, 16))
            self.info = K.decode_information(self.get_feature(K.INFORMATION, 16))
            try:
                self.serial = K.decode_serial(self.get_feature(K.SERIAL, 16))
            except GtsdkError:
                self.serial = ""
        except GtsdkError:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            link.close()

    def _need(self) -> UsbLink:
        if self.link is None or not self.link.is_open:
            raise GtsdkError(ErrorCode.NO_DEVICE, "signature pad not connected")
        return self.link

    def get_feature(self, rid: int, length: int) -> bytes:
        data = self._need().control_in(_HID_IN, K.HID_GET_REPORT, (K.FEATURE << 8) | rid, self.cfg.interface, length)
        if not data or data[0] != rid:
            raise K.ReportError(f"feature 0x{rid:02X}: unexpected answer")
        return data

    def set_feature(self, report: bytes) -> None:
        self._need().control_out(_HID_OUT, K.HID_SET_REPORT, (K.FEATURE << 8) | report[0], self.cfg.interface, report)

    def read_report(self, timeout: float) -> bytes | None:
        """One pen report, or ``None`` if none came within *timeout* seconds."""
        return self._need().read_packet(timeout=timeout)

    # ---- info -----------------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        model = K.MODELS.get(self.product_id, ("STU", (0.0, 0.0)))[0]
        return DeviceInfo(vendor="Wacom", model=self.info.model if self.info else model, serial=self.serial,
                          firmware=self.info.firmware if self.info else "", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        c = self.cap
        return {"screen": {"width": c.screen_width, "height": c.screen_height} if c else None,
                "maxPressure": c.max_pressure if c else None, "reportRate": c.report_rate if c else None,
                "iso19794_7": True, "buttons": list(R.BUTTONS)}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        K.decode_capability(self.get_feature(K.CAPABILITY, 16))
        return HealthResult(level=level, ok=True, text="pad answers feature reports", checks={"capability": True})

    # ---- the operation ------------------------------------------------------------------------
    def _show(self, layout: R.Layout, prompt: str) -> None:
        self.set_feature(K.clear_screen())
        self.set_feature(K.writing_mode(1 if self.cfg.timed_reports else 0))
        self.set_feature(K.writing_area(*layout.box))
        for rep in K.image_reports(R.to_bgr(R.prompt_image(layout, prompt, self.cfg.font))):
            self.set_feature(rep)
        self.set_feature(K.inking(True))

    def _drain(self, ctx: OpContext) -> None:
        """Drop pen reports queued before this operation (at most 1 s of them)."""
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            ctx.check()
            if self.read_report(0.001) is None:
                return

    def get_signature(self, request: GetSignatureRequest, ctx: OpContext) -> Signature:
        cap = self.cap
        if cap is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "signature pad not connected")
        layout = R.Layout.for_screen(cap.screen_width, cap.screen_height)
        sx, sy = cap.screen_width / cap.tablet_max_x, cap.screen_height / cap.tablet_max_y
        self._drain(ctx)
        self._show(layout, request.prompt)
        got = _Capture()
        cur: _Stroke | None = None
        clock = _Clock()
        still_since: tuple[float, int, int] | None = None
        stuck_ms = self.cfg.stuck_pen_seconds * 1000
        still_tol = max(3, cap.tablet_max_x // 1000)
        announced = False
        while got.outcome is None:
            ctx.check()
            rep = self.read_report(min(0.05, max(0.001, ctx.remaining())))
            if rep is None:
                continue
            s = K.decode_pen(rep)
            if s is None:
                continue
            t = clock.at(s.time)
            if s.tip:
                if cur is None:
                    cur = _Stroke()
                    if not announced:
                        announced = True
                        self.emit("penDown", {})
                cur.samples.append((s, t))
                if (still_since is None or abs(s.x - still_since[1]) > still_tol
                        or abs(s.y - still_since[2]) > still_tol):
                    still_since = (t, s.x, s.y)
                elif t - still_since[0] >= stuck_ms:
                    raise GtsdkError(ErrorCode.HARDWARE_ERROR, "pen tip reported down without moving (stuck pen)")
                continue
            still_since = None
            if cur is not None:
                self._stroke_ended(cur, got, layout, (sx, sy), request.prompt)
                cur = None
            if s.proximity and got.strokes:
                got.hover.append((s, t))
        try:
            self.set_feature(K.inking(False))
            self.set_feature(K.clear_screen())
        except GtsdkError as e:  # the signature is captured; a pad that missed the clear is cleared next time
            swallowed("signature_pad", "clearing the screen", e)
        return self._result(got.outcome == "ok", got.strokes, got.iso_pts, cap, sx, sy)

    def _stroke_ended(self, cur: _Stroke, got: _Capture, layout: R.Layout, scale: tuple[float, float],
                      prompt: str) -> None:
        """A pen-up: a short tap on a button is the button; a stroke that began in the box is signature."""
        sx, sy = scale
        first, last = cur.samples[0], cur.samples[-1]
        moved = max(abs(a.x - first[0].x) + abs(a.y - first[0].y) for a, _ in cur.samples)
        button = layout.button_at(first[0].x * sx, first[0].y * sy)
        if button and last[1] - first[1] <= self.cfg.tap_max_ms and moved * sx <= 12:
            got.hover = []
            if button == "clear":
                got.strokes, got.iso_pts = [], []
                self.set_feature(K.clear_screen())
                self._show(layout, prompt)
            else:
                got.outcome = button
        elif layout.in_box(first[0].x * sx, first[0].y * sy):
            got.strokes.append(cur)
            if got.iso_pts:
                got.iso_pts.extend(got.hover)
            got.iso_pts.extend(cur.samples)
            got.hover = []

    def _result(self, completed: bool, strokes: list[_Stroke], iso_pts: list[tuple[K.PenSample, float]],
                cap: K.Capability, sx: float, sy: float) -> Signature:
        npts = sum(len(s.samples) for s in strokes)
        if not completed:
            return Signature(completed=False, points=npts, strokes=len(strokes),
                             pen_ups=max(0, len(strokes) - 1))
        k = self.cfg.output_scale
        mp = max(1, cap.max_pressure)
        png_strokes = [[(a.x * sx * k, a.y * sy * k, a.pressure / mp) for a, _ in st.samples] for st in strokes]
        png = R.signature_png(png_strokes, min_width=self.cfg.pen_min_width * k, max_width=self.cfg.pen_max_width * k)
        iso = None
        duration = 0
        if iso_pts:
            t0 = iso_pts[0][1]
            duration = round(strokes[-1].samples[-1][1] - strokes[0].samples[0][1])
            mm = K.MODELS.get(self.product_id, ("", (cap.tablet_max_x / 100.0, cap.tablet_max_y / 100.0)))[1]
            iso = K.encode_iso7([K.IsoPoint(a.x, a.y, round(t - t0), a.pressure, 1 if a.tip else 0)
                                 for a, t in iso_pts],
                                x_per_mm=cap.tablet_max_x / mm[0], y_per_mm=cap.tablet_max_y / mm[1],
                                max_pressure=cap.max_pressure)
        self.emit("signatureCompleted", {"points": npts, "strokes": len(strokes)})
        return Signature(completed=True, image_png=png, iso19794_7=iso, points=npts, strokes=len(strokes),
                         pen_ups=max(0, len(strokes) - 1), duration_ms=duration)


class _Clock:
    """Milliseconds for each report: the pad's u16 time stamp unwrapped, or the host clock."""

    def __init__(self) -> None:
        self.base = 0
        self.last: int | None = None
        self.start = time.monotonic()

    def at(self, pad_ms: int | None) -> float:
        if pad_ms is None:
            return (time.monotonic() - self.start) * 1000.0
        if self.last is not None and pad_ms < self.last:
            self.base += 0x10000
        self.last = pad_ms
        return float(self.base + pad_ms)
