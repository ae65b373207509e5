"""ID card reader driver: GA 467 SAM host protocol over a serial line (clause 8.4 a).

Device logic only; frames come from :mod:`.codec`, the text block from :mod:`.cardtext`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import Field

from gtsdk.driver import DeviceInfo, EventSink, HealthLevel, HealthResult, OpContext, StateSink
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.idcard import IdCardData, IdCardDriver, ReadRequest
from gtsdk.transport.serial import SerialLink, SerialSettings

from . import codec, wlt
from .cardtext import parse_text
from .codec import SW3, Command, FrameError

log = logging.getLogger("gtsdk.drivers.sam_serial")


#: status bytes only one command answers (FIND: 9F/80, SELECT: 81).  GA 467 replies do not name their command, so
#: a frame with one of these after another command was sent is the late answer to an earlier command (one given up
#: after ``answer_timeout``), not this command's; so is 90 to FIND.  Taken for this command's, it shifted every
#: later exchange by one reply (SELECT answered 9F: hardwareError).
_ONLY_FOR: dict[int, Command] = {SW3.FIND_OK: Command.FIND, SW3.FIND_FAILED: Command.FIND,
                                 SW3.SELECT_FAILED: Command.SELECT}
#: late answers skipped at most per exchange before the line counts as out of step
MAX_STALE = 4


def _stale(command: Command, sw3: int) -> bool:
    only = _ONLY_FOR.get(sw3)
    return (only is not None and only is not command) or (command is Command.FIND and sw3 == SW3.OK)


class SamSerialSettings(SerialSettings):
    baudrate: int = Field(115200, description="115200 default; the SAM also runs at 57600/38400/19200/9600")
    answer_timeout: float = Field(0.5, gt=0, description="s without a byte before a command counts as unanswered")
    read_answer_timeout: float = Field(2.0, gt=0, description="answer timeout of the card read commands (RF read)")
    poll_interval: float = Field(0.5, ge=0.05, description="s between card-presence checks while idle")
    find_interval: float = Field(0.1, ge=0.02, description="s between find-card commands while read() waits")
    retries: int = Field(2, ge=0, le=5, description="resends after a bad checksum / SW3 10 or 11")
    check_digit: bool = Field(True, description="reject cards whose GB 11643 check digit does not match")
    wlt_decoder: str | None = Field(None, description="'<lib.so>:<function>' of a licensed WLT decoder (ctypes)")
    wlt_output_size: int = Field(38862, ge=1)
    wlt_success: int = 1


class SamSerialDriver(IdCardDriver[SamSerialSettings]):
    name = "sam_serial"
    version = "0.1"

    def __init__(self, settings: SamSerialSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.poll_interval = self.settings.poll_interval  # type: ignore[misc]
        self.link = SerialLink.from_settings(self.settings)
        self._present = False
        #: fingerprint of the card read last, until it has left the field
        self._consumed: str | None = None
        self._sam_id = ""
        self._decoder: wlt.WltDecoder | None = None
        if self.settings.wlt_decoder:
            self._decoder = wlt.load(self.settings.wlt_decoder, output_size=self.settings.wlt_output_size,
                                     success=self.settings.wlt_success)

    # ---- transport -----------------------------------------------------------------
    def _recv(self, ctx: OpContext | None, gap: float) -> codec.Response:
        # skip noise up to the preamble, then header and body (read_until restarts its gap per byte)
        pre = self.link.read_until(codec.PREAMBLE, ctx, max_len=codec.MAX_LEN, timeout=gap)
        hdr = codec.PREAMBLE + self.link.read_exact(2, ctx, timeout=gap)
        n = codec.body_length(hdr)
        body = self.link.read_exact(n, ctx, timeout=gap)
        if len(pre) > len(codec.PREAMBLE):
            log.debug("skipped %d noise bytes before a frame", len(pre) - len(codec.PREAMBLE))
        return codec.parse_response(hdr + body)

    def _answer(self, command: Command, ctx: OpContext | None, gap: float) -> codec.Response:
        """The reply to *command*, reading past late answers to earlier commands (:func:`_stale`)."""
        resp = self._recv(ctx, gap)
        skipped = 0
        while _stale(command, resp.sw3):
            if skipped == MAX_STALE:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"the reader's answers are out of step with its "
                                 f"commands (SW3 {resp.sw3:02X} to {command.name})")
            log.debug("skipped a late answer (SW3 %02X) to an earlier command", resp.sw3)
            skipped += 1
            resp = self._recv(ctx, gap)
        return resp

    def transact(self, command: Command, ctx: OpContext | None = None, data: bytes = b"",
                 gap: float | None = None) -> codec.Response:
        """Send one command and return its reply; resends on a damaged frame in either direction."""
        frame = codec.build_request(command, data)
        wait = gap if gap is not None else self.settings.answer_timeout
        last: GtsdkError | None = None
        for _attempt in range(self.settings.retries + 1):
            self.link.discard_input()
            self.link.write(frame, ctx)
            try:
                resp = self._answer(command, ctx, wait)
            except FrameError as e:  # damaged reply: ask again
                last = e
                continue
            except GtsdkError as e:
                if e.code == ErrorCode.INVALID_DATA:  # no preamble within MAX_LEN bytes of noise
                    last = GtsdkError(ErrorCode.COMMUNICATION_ERROR, "no frame in the reply")
                    continue
                raise
            if resp.sw3 in (SW3.CHECKSUM_ERROR, SW3.LENGTH_ERROR):  # the SAM got a damaged command
                last = codec.sw3_error(resp.sw3)
                continue
            return resp
        assert last is not None
        raise GtsdkError(ErrorCode.COMMUNICATION_ERROR,
                         f"{last.detail} (after {self.settings.retries + 1} attempts)", data=last.data)

    # ---- lifecycle --------------------------------------------------------------------
    def connect(self) -> None:
        self.link.open()
        try:
            ctx = OpContext("connect", 5.0)
            st = self.transact(Command.STATUS, ctx)
            if st.sw3 != SW3.OK:
                raise codec.sw3_error(st.sw3)
            sid = self.transact(Command.SAM_ID, ctx)
            if sid.sw3 == SW3.OK:
                try:
                    self._sam_id = codec.format_sam_id(sid.data)
                except GtsdkError:
                    self._sam_id = ""
        except GtsdkError as e:
            self.link.close()
            if e.code == ErrorCode.COMMUNICATION_ERROR:
                raise GtsdkError(ErrorCode.NO_DEVICE, f"SAM does not answer on {self.settings.port}") from None
            raise

    def disconnect(self) -> None:
        self.link.close()
        self._present = False
        self._consumed = None  # presence is no longer watched: a card seen after reconnecting is a new presentation

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(model="GA 467 SAM (serial)", serial=self._sam_id, driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"cardTypes": ["resident", "hmtResidencePermit", "foreignerPermanent2017", "foreignerPermanent2023"],
                "fingerprint": True, "appendedAddress": True, "wltDecoder": self._decoder is not None,
                "baudrate": self.settings.baudrate}

    def status_detail(self) -> dict[str, Any]:
        return {"cardPresent": self._present, "awaitingRemoval": self._consumed is not None}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        st = self.transact(Command.STATUS, ctx)
        ok = st.sw3 == SW3.OK
        return HealthResult(level=level, ok=ok, text="SAM ready" if ok else codec.SW3_TEXT.get(st.sw3, "SAM error"),
                            checks={"samStatus": ok})

    # ---- card presence -----------------------------------------------------------------
    def _find(self, ctx: OpContext | None) -> bool:
        r = self.transact(Command.FIND, ctx)
        if r.sw3 == SW3.FIND_OK:
            found = True
        elif r.sw3 == SW3.FIND_FAILED:
            found = False
        else:
            raise codec.sw3_error(r.sw3)
        if found != self._present:
            self._present = found
            if not found:
                self._consumed = None  # the card has left the field: it may be read again
            self.emit("cardInserted" if found else "cardRemoved", {})
        return found

    def poll(self, ctx: OpContext) -> None:
        self._find(ctx)

    # ---- read -------------------------------------------------------------------------------
    def read(self, request: ReadRequest, ctx: OpContext) -> IdCardData:
        # waits for a person: the deadline ends it with timeOut (conformance 6.4.4 c), like cancel ends it
        while True:
            ctx.check()
            interval = self.settings.find_interval
            if self._find(ctx):
                sel = self.transact(Command.SELECT, ctx)
                if sel.sw3 == SW3.OK:
                    data, digest = self._read_selected(request, ctx)
                    if digest != self._consumed:
                        self._consumed = digest
                        return data
                    # the card read last is still on a reader that does not halt it: wait for it to leave
                    interval = max(interval, self.settings.poll_interval)
                elif sel.sw3 != SW3.SELECT_FAILED:
                    raise codec.sw3_error(sel.sw3)
            try:
                ctx.sleep(interval)
            except GtsdkError as e:
                if e.code == ErrorCode.TIME_OUT:
                    raise GtsdkError(ErrorCode.TIME_OUT, "no card presented before the deadline" + (
                        " (the last card read must leave the reader first)" if self._consumed else "")) from None
                raise

    def _read_selected(self, request: ReadRequest, ctx: OpContext) -> tuple[IdCardData, str]:
        fp = request.with_fingerprint
        r = self.transact(Command.READ_BASE_FP if fp else Command.READ_BASE, ctx,
                          gap=self.settings.read_answer_timeout)
        if r.sw3 != SW3.OK:
            raise codec.sw3_error(r.sw3)
        blocks = codec.parse_read_payload(r.data, fp)
        data = parse_text(blocks.text, check_digit=self.settings.check_digit)
        update: dict[str, Any] = {"photo_wlt": blocks.photo or None}
        if fp:
            update["fingerprints"] = blocks.fingerprint or None
        if request.with_appended_address:
            a = self.transact(Command.READ_ADDRESS, ctx, gap=self.settings.read_answer_timeout)
            if a.sw3 == SW3.OK:
                update["appended_address"] = codec.parse_address(a.data)
            elif a.sw3 != SW3.NO_CONTENT:
                raise codec.sw3_error(a.sw3)
        if blocks.photo and self._decoder is not None:
            update["photo"] = self._decoder(blocks.photo)
            update["photo_note"] = "decoded by the configured WLT decoder"
        elif blocks.photo:
            update["photo_note"] = ("photo is WLT-compressed (photoWlt); decoding needs a licensed vendor library: "
                                    "set the wlt_decoder setting")
        return data.model_copy(update=update), hashlib.sha256(blocks.text + blocks.photo).hexdigest()

    def sim_settings_note(self) -> str:
        return "port: the simulator's pty path"
