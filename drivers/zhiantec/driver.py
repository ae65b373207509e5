"""``fingerprint.zhiantec``: ZhianTec / Synochip AS608 / R30x modules over a serial line (clause 8.4 d).

:class:`Session` speaks the protocol (one method per instruction); :class:`ZhiantecDriver` maps the
module contract onto it: ``capture`` waits for a finger (GenImg polling), uploads the image
(UpImage, 256×288 4 bpp → PNG), extracts features on the module (Img2Tz) and uploads the template
(UpChar); ``compare`` puts the probe (a live finger or a given template) in char buffer 1 and each
reference in char buffer 2 (DownChar) and lets the module score them (Match).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pydantic import Field

from gtsdk.driver import DeviceInfo, DeviceState, EventSink, HealthLevel, HealthResult, OpContext, StateSink
from gtsdk.drivers.zhiantec import codec as C
from gtsdk.drivers.zhiantec import iso19794_2 as iso
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.fingerprint import (
    Capture,
    CaptureRequest,
    CompareRequest,
    Comparison,
    FingerprintDriver,
)
from gtsdk.transport.serial import SerialLink, SerialSettings

log = logging.getLogger("gtsdk.drivers.zhiantec")

TEMPLATE_FORMAT = "zhiantec-char-512"


class ZhiantecSettings(SerialSettings):
    baudrate: int = Field(57600, description="9600 × N, N = 1..12 (module default N = 6)")
    address: int = Field(C.DEFAULT_ADDRESS, ge=0, le=0xFFFFFFFF, description="module address (default FFFFFFFF)")
    password: int = Field(0, ge=0, le=0xFFFFFFFF, description="module password (default 0)")
    threshold: int = Field(50, ge=0, description="compare: match score at or above which fingers match")
    finger_wait: float | None = Field(None, gt=0, description="seconds capture/compare wait for a finger before "
                                      "noMedia; None: until the operation's deadline (then timeOut)")
    poll_period: float = Field(0.1, gt=0, description="seconds between GenImg polls while waiting")
    iso_template: bool = Field(True, description="also return an ISO/IEC 19794-2:2005 record (needs the image)")
    upload_image: bool = Field(True, description="upload the image even when withImage is false (quality, ISO)")
    retries: int = Field(1, ge=0, le=5, description="resends of a command whose answer was corrupted")
    presence_events: bool = Field(False, description="poll GenImg while idle and emit fingerPlaced/fingerRemoved")
    presence_period: float = Field(0.5, gt=0, description="seconds between idle presence polls")
    answer_timeout: float = 2.0


class Session:
    """One host ↔ module conversation over a :class:`SerialLink`."""

    def __init__(self, link: SerialLink, address: int = C.DEFAULT_ADDRESS, retries: int = 1) -> None:
        self.link = link
        self.address = address
        self.retries = retries
        self.packet_size = 128
        self.capacity = 0
        self.sys: C.SysPara | None = None
        self.wire_bytes = 0  # bytes received, for the benchmark

    # ---- packets ------------------------------------------------------------------------
    def read_packet(self, ctx: OpContext | None, parser: C.Parser) -> C.Packet:
        while True:
            try:
                data = self.link.read_exact(parser.need(), ctx)
            except GtsdkError as e:
                if e.code == ErrorCode.COMMUNICATION_ERROR and (parser.buf or e.data.get("received")):
                    raise C.FrameError("answer stopped in the middle of a packet") from None
                raise
            self.wire_bytes += len(data)
            packets = parser.feed(data)  # FrameError (communicationError) on a bad checksum
            if packets:
                if len(packets) > 1:
                    raise C.FrameError("unexpected extra packet")
                return packets[0]

    def _exchange(self, frame: bytes, ctx: OpContext | None, data_after: bool) -> tuple[C.Packet, bytes]:
        last: GtsdkError | None = None
        for _attempt in range(self.retries + 1):
            self.link.discard_input()
            self.link.write(frame, ctx)
            parser = C.Parser(max_payload=512)
            try:
                p = self.read_packet(ctx, parser)
                if p.pid != C.Pid.ACK:
                    raise C.FrameError(f"expected an acknowledge, got packet id 0x{p.pid:02X}")
                data = b""
                if data_after and p.code == C.Confirm.OK:
                    chunks = bytearray()
                    while True:
                        d = self.read_packet(ctx, parser)
                        if d.pid not in (C.Pid.DATA, C.Pid.END):
                            raise C.FrameError(f"expected a data packet, got packet id 0x{d.pid:02X}")
                        chunks += d.payload
                        if d.pid == C.Pid.END:
                            break
                    data = bytes(chunks)
                return p, data
            except C.FrameError as e:
                last = e
                log.debug("corrupted answer (%s); %s", e.detail, "retrying" if _attempt < self.retries else "giving up")
                self._drain(ctx)
        assert last is not None
        raise last

    def _drain(self, ctx: OpContext | None) -> None:
        """Let the rest of a corrupted transfer arrive and drop it."""
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            if self.link.read_available():
                end = time.monotonic() + 0.05
            else:
                time.sleep(0.01)

    def call(self, frame: bytes, ctx: OpContext | None = None) -> C.Packet:
        return self._exchange(frame, ctx, False)[0]

    def call_ok(self, frame: bytes, what: str, ctx: OpContext | None = None) -> C.Packet:
        p = self.call(frame, ctx)
        C.check_ack(p, what)
        return p

    # ---- instructions ---------------------------------------------------------------------
    def verify_password(self, password: int, ctx: OpContext | None = None) -> None:
        self.call_ok(C.vfy_pwd(password, self.address), "VfyPwd", ctx)

    def read_sys_para(self, ctx: OpContext | None = None) -> C.SysPara:
        sp = C.parse_sys_para(self.call(C.read_sys_para(self.address), ctx))
        self.sys, self.packet_size, self.capacity = sp, sp.packet_size, sp.capacity
        return sp

    def template_count(self, ctx: OpContext | None = None) -> int:
        return C.parse_template_num(self.call(C.template_num(self.address), ctx))

    def gen_img(self, ctx: OpContext | None = None) -> int:
        """Confirmation code of GenImg (00 image taken, 02 no finger; others raise)."""
        p = self.call(C.gen_img(self.address), ctx)
        if p.code in (C.Confirm.OK, C.Confirm.NO_FINGER):
            return p.code
        raise C.confirmation_error(p.code, "GenImg")

    def img2tz(self, buffer: int, ctx: OpContext | None = None) -> None:
        self.call_ok(C.img2tz(buffer, self.address), "Img2Tz", ctx)

    def match(self, ctx: OpContext | None = None) -> int:
        return C.parse_match(self.call(C.match(self.address), ctx))

    def search(self, buffer: int = 1, start: int = 0, count: int | None = None,
               ctx: OpContext | None = None) -> tuple[int, int] | None:
        n = self.capacity if count is None else count
        return C.parse_search(self.call(C.search(buffer, start, n, self.address), ctx))

    def reg_model(self, ctx: OpContext | None = None) -> None:
        self.call_ok(C.reg_model(self.address), "RegModel", ctx)

    def store(self, buffer: int, page: int, ctx: OpContext | None = None) -> None:
        self.call_ok(C.store(buffer, page, self.address), "Store", ctx)

    def load_char(self, buffer: int, page: int, ctx: OpContext | None = None) -> None:
        self.call_ok(C.load_char(buffer, page, self.address), "LoadChar", ctx)

    def delete(self, page: int, count: int = 1, ctx: OpContext | None = None) -> None:
        self.call_ok(C.delete_char(page, count, self.address), "DeleteChar", ctx)

    def empty(self, ctx: OpContext | None = None) -> None:
        self.call_ok(C.empty(self.address), "Empty", ctx)

    def up_char(self, buffer: int, ctx: OpContext | None = None) -> bytes:
        p, data = self._exchange(C.up_char(buffer, self.address), ctx, True)
        C.check_ack(p, "UpChar")
        return data

    def down_char(self, buffer: int, template: bytes, ctx: OpContext | None = None) -> None:
        self.call_ok(C.down_char(buffer, self.address), "DownChar", ctx)
        for frame in C.split_data(template, self.packet_size, self.address):
            self.link.write(frame, ctx)

    def up_image(self, ctx: OpContext | None = None) -> np.ndarray:
        p, data = self._exchange(C.up_image(self.address), ctx, True)
        C.check_ack(p, "UpImage")
        if len(data) != C.IMAGE_BYTES:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"image transfer gave {len(data)} bytes")
        return C.unpack_image(data)

    def image_wire_bytes(self) -> int:
        """Bytes an UpImage puts on the wire (ack + data packets) at the current packet size."""
        packets = -(-C.IMAGE_BYTES // self.packet_size)
        return C.MIN_PACKET + C.IMAGE_BYTES + packets * 11


class ZhiantecDriver(FingerprintDriver[ZhiantecSettings]):
    name = "zhiantec"
    version = "1.0"

    def __init__(self, settings: ZhiantecSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.cfg = self.settings
        self.link = SerialLink.from_settings(self.cfg)
        self.session = Session(self.link, self.cfg.address, self.cfg.retries)
        self._detail: dict[str, Any] = {}
        self._finger: bool | None = None
        # the runtime calls poll() this often while idle (None: never)
        self.poll_interval = self.cfg.presence_period if self.cfg.presence_events else None  # type: ignore[misc]

    # ---- lifecycle ------------------------------------------------------------------------
    def connect(self) -> None:
        self.link.open()
        try:
            self.session.verify_password(self.cfg.password)
            sp = self.session.read_sys_para()
        except GtsdkError as e:
            self.link.close()
            if e.code == ErrorCode.CONFIG_ERROR:
                self.set_state(DeviceState.HARDWARE_ERROR, e.detail)
            raise
        self._detail = {"capacity": sp.capacity, "securityLevel": sp.security_level, "packetSize": sp.packet_size}

    def disconnect(self) -> None:
        self.link.close()
        self._finger = None

    def poll(self, ctx: OpContext) -> None:
        """Idle presence check (setting ``presence_events``): one GenImg, events on change."""
        if not self.cfg.presence_events:
            return
        present = self.session.gen_img(ctx) == C.Confirm.OK
        if self._finger is not None and present != self._finger:
            self.emit("fingerPlaced" if present else "fingerRemoved", {})
        self._finger = present
        self._detail["finger"] = present

    def device_info(self) -> DeviceInfo:
        sid = self.session.sys.system_id if self.session.sys else 0
        return DeviceInfo(vendor="ZhianTec/Synochip", model=f"AS608/R30x (system id {sid:04X})", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"templateFormat": TEMPLATE_FORMAT, "templateSize": C.CHAR_SIZE, "iso19794_2": self.cfg.iso_template,
                "image": {"width": C.IMAGE_WIDTH, "height": C.IMAGE_HEIGHT, "bitsPerPixel": 4, "dpi": 500},
                "threshold": self.cfg.threshold, "capacity": self.session.capacity}

    def status_detail(self) -> dict[str, Any]:
        return dict(self._detail)

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        sp = self.session.read_sys_para(ctx)
        n = self.session.template_count(ctx)
        return HealthResult(level=level, ok=True, text=f"module answers; {n}/{sp.capacity} templates",
                            checks={"password": True, "sysPara": True})

    # ---- operations -----------------------------------------------------------------------
    def _wait_finger(self, ctx: OpContext, wait_ms: int | None) -> None:
        """GenImg until a finger is imaged.

        With a finger wait (request ``waitMs`` or setting ``finger_wait``) shorter than the operation's
        deadline, an empty sensor ends with ``noMedia`` (the app prompts and retries); otherwise the
        wait lasts until the deadline and ends with ``timeOut`` like every operation waiting for a person.
        """
        wait = wait_ms / 1000.0 if wait_ms is not None else self.cfg.finger_wait
        until = time.monotonic() + wait if wait is not None else None
        while True:
            if self.session.gen_img(ctx) == C.Confirm.OK:
                if not (self.cfg.presence_events and self._finger):  # with presence polling: on change only
                    self.emit("fingerPlaced", {})
                self._finger = True
                return
            if until is not None and until < ctx.deadline and time.monotonic() + self.cfg.poll_period >= until:
                raise GtsdkError(ErrorCode.NO_MEDIA, "no finger on the sensor; ask the user to place a finger",
                                 data={"confirmation": C.Confirm.NO_FINGER})
            ctx.sleep(self.cfg.poll_period)

    def capture(self, request: CaptureRequest, ctx: OpContext) -> Capture:
        need_image = request.with_image or self.cfg.upload_image
        self._wait_finger(ctx, request.wait_ms)
        img = self.session.up_image(ctx) if need_image else None
        self.session.img2tz(1, ctx)
        template = self.session.up_char(1, ctx)
        if len(template) != C.CHAR_SIZE:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"template transfer gave {len(template)} bytes")
        quality = iso.quality(img) if img is not None else 50
        record = None
        if img is not None and self.cfg.iso_template:
            record = iso.encode(iso.extract(img), width=C.IMAGE_WIDTH, height=C.IMAGE_HEIGHT,
                                resolution_ppcm=C.RESOLUTION_PPCM, quality=quality)
        return Capture(quality=quality, template=template, template_format=TEMPLATE_FORMAT, iso19794_2=record,
                       image_png=C.image_png(img) if (img is not None and request.with_image) else None)

    def compare(self, request: CompareRequest, ctx: OpContext) -> Comparison:
        threshold = self.cfg.threshold if request.threshold is None else request.threshold
        for i, ref in enumerate(request.references):
            if len(ref) != C.CHAR_SIZE:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"reference is {len(ref)} bytes, the module takes "
                                 f"{C.CHAR_SIZE}", field=f"references.{i}")
        if request.probe is None:
            self._wait_finger(ctx, request.wait_ms)
            self.session.img2tz(1, ctx)
        else:
            if len(request.probe) != C.CHAR_SIZE:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"probe is {len(request.probe)} bytes, the module takes "
                                 f"{C.CHAR_SIZE}", field="probe")
            self.session.down_char(1, request.probe, ctx)
        scores: list[int] = []
        for ref in request.references:
            ctx.check()
            self.session.down_char(2, ref, ctx)
            scores.append(self.session.match(ctx))
        best = max(range(len(scores)), key=lambda i: scores[i])
        matched = scores[best] >= threshold
        return Comparison(matched=matched, score=scores[best], threshold=threshold,
                          best_index=best if matched else None, scores=scores)
