"""Exit-entry document reader: ICAO 9303 eMRTD chips over PC/SC (clause 8.4 b).

Device logic only: waiting for the document, the BAC -> secure messaging ->
EF.COM/DG1/DG2/EF.SOD sequence and passive authentication.  The reader, the card
session and every APDU exchange (with its deadline) are :mod:`gtsdk.transport.pcsc`;
bytes and crypto live in :mod:`.codec`, :mod:`.mrz` and :mod:`.sod`.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pydantic import Field

from gtsdk.driver import DeviceInfo, EventSink, OpContext, StateSink
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.travel_doc import PassiveAuth, ReadRequest, TravelDocData, TravelDocDriver
from gtsdk.transport.pcsc import PcscCard, PcscReader, PcscSettings

from . import codec, mrz, sod

log = logging.getLogger("gtsdk.drivers.icao_pcsc")

SW_OK = 0x9000
SW_NOT_FOUND = 0x6A82


class IcaoPcscSettings(PcscSettings):
    csca_store: str | None = Field(None, description="PEM/DER file or folder of CSCA certificates (chain check)")
    read_chunk: int = Field(0xDF, ge=16, le=0xDF, description="bytes per READ BINARY under secure messaging")
    wait_interval: float = Field(0.2, ge=0.02, description="s between card-presence checks while read() waits")
    poll_interval: float = Field(1.0, ge=0.1, description="s between presence checks while idle (events)")


class IcaoPcscDriver(TravelDocDriver[IcaoPcscSettings]):
    name = "icao_pcsc"
    version = "0.2"

    def __init__(self, settings: IcaoPcscSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.poll_interval = self.settings.poll_interval  # type: ignore[misc]
        self.reader = PcscReader.from_settings(self.settings)
        self._present: bool | None = None
        self._csca = sod.load_csca_store(self.settings.csca_store) if self.settings.csca_store else None

    # ---- lifecycle ---------------------------------------------------------------------
    def connect(self) -> None:
        self.reader.open()

    def disconnect(self) -> None:
        self.reader.close()
        self._present = None

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(model=self.reader.name, driver=self.name, driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"mrzTypes": ["TD3", "TD1", "CS", "CD", "CR", "CT"], "access": ["BAC"],
                "dataGroups": [1, 2], "passiveAuth": True, "cscaStore": self._csca is not None}

    def status_detail(self) -> dict[str, Any]:
        return {"reader": self.reader.name, "cardPresent": bool(self._present)}

    # ---- presence ------------------------------------------------------------------------
    def _arrived(self) -> None:
        if not self._present:
            self._present = True
            self.emit("cardInserted", {})

    def poll(self, ctx: OpContext) -> None:
        present = self.reader.card_present(ctx)
        if present != self._present:
            if self._present is not None or present:
                self.emit("cardInserted" if present else "cardRemoved", {})
            self._present = present

    def _wait_card(self, ctx: OpContext) -> PcscCard:
        # waiting for a person ends with timeOut (conformance 6.4.4 c)
        card = self.reader.wait_card(ctx, self.settings.wait_interval,
                                     absent="no document presented before the deadline")
        self._arrived()
        return card

    # ---- read --------------------------------------------------------------------------------
    @staticmethod
    def _key(request: ReadRequest) -> mrz.MrzData:
        if request.mrz:
            return mrz.parse(request.mrz)
        if request.document_number and request.birth_date and request.expiry_date:
            return mrz.from_fields(request.document_number, request.birth_date, request.expiry_date)
        raise GtsdkError(ErrorCode.INVALID_DATA, "BAC needs the MRZ or documentNumber + birthDate + expiryDate",
                         field="mrz")

    def read(self, request: ReadRequest, ctx: OpContext) -> TravelDocData:
        key = self._key(request)
        card = self._wait_card(ctx)
        try:
            return self._read(card, key, request, ctx)
        finally:
            card.close()

    def _bac(self, card: PcscCard, key: mrz.MrzData, ctx: OpContext) -> codec.SecureMessaging:
        _, sw = card.transmit(b"\x00\xa4\x04\x0c\x07" + codec.LDS1_AID, ctx)
        if sw != SW_OK:
            raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"no ICAO LDS1 application on the chip (SW {sw:04X})")
        rnd_ic, sw = card.transmit(b"\x00\x84\x00\x00\x08", ctx)
        if sw != SW_OK:
            raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"GET CHALLENGE refused (SW {sw:04X}); BAC unsupported")
        bac = codec.BacSession(*codec.bac_keys(key.bac_key))
        resp, sw = card.transmit(b"\x00\x82\x00\x00\x28" + bac.authenticate_data(rnd_ic) + b"\x28", ctx)
        if sw != SW_OK:
            raise GtsdkError(ErrorCode.AUTHENTICATION_FAILED,
                             f"BAC refused by the chip (SW {sw:04X}): the MRZ does not match this document")
        return bac.finish(resp)

    def _sm(self, card: PcscCard, sm: codec.SecureMessaging, ctx: OpContext, ins: int, p1: int, p2: int,
            data: bytes = b"", le: int | None = None) -> tuple[bytes, int]:
        resp, sw = card.transmit(sm.protect(0x00, ins, p1, p2, data, le), ctx)
        if sw in (0x6987, 0x6988):
            raise GtsdkError(ErrorCode.INVALID_DATA, f"the chip rejected a secure-messaging command (SW {sw:04X})")
        if not resp:
            return b"", sw
        return sm.unprotect(resp)

    def _read_file(self, card: PcscCard, sm: codec.SecureMessaging, fid: int, ctx: OpContext) -> bytes | None:
        _, sw = self._sm(card, sm, ctx, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
        if sw == SW_NOT_FOUND:
            return None
        if sw != SW_OK:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"cannot select file {fid:04X} (SW {sw:04X})")
        head, sw = self._sm(card, sm, ctx, 0xB0, 0, 0, le=4)
        if sw != SW_OK or len(head) < 2:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"cannot read file {fid:04X} (SW {sw:04X})")
        total = codec.tlv_length(head)
        if total > 0x7FFF:
            raise GtsdkError(ErrorCode.INVALID_DATA, "LDS file too large for short READ BINARY")
        buf = bytearray(head[:total])
        while len(buf) < total:
            off = len(buf)
            part, sw = self._sm(card, sm, ctx, 0xB0, off >> 8, off & 0xFF,
                                le=min(self.settings.read_chunk, total - off))
            if sw != SW_OK or not part:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"READ BINARY failed at {off} of file {fid:04X}")
            buf += part
        return bytes(buf[:total])

    def _read(self, card: PcscCard, key: mrz.MrzData, request: ReadRequest, ctx: OpContext) -> TravelDocData:
        sm = self._bac(card, key, ctx)
        com = self._read_file(card, sm, codec.EF_COM, ctx)
        listed = codec.parse_com(com) if com else [1, 2]
        groups: dict[int, bytes] = {}
        dg1 = self._read_file(card, sm, codec.DG_FILES[1], ctx)
        if dg1 is None:
            raise GtsdkError(ErrorCode.INVALID_DATA, "the chip has no DG1")
        groups[1] = dg1
        chip_mrz = codec.parse_dg1(dg1)
        if request.read_photo and 2 in listed:
            dg2 = self._read_file(card, sm, codec.DG_FILES[2], ctx)
            if dg2 is not None:
                groups[2] = dg2
        pa: PassiveAuth | None = None
        if request.passive_auth:
            raw_sod = self._read_file(card, sm, codec.EF_SOD, ctx)
            if raw_sod is None:
                pa = PassiveAuth(hashes_ok=False, detail="the chip has no EF.SOD")
            else:
                r = sod.verify(sod.parse(raw_sod), groups, self._csca)
                pa = PassiveAuth(hashes_ok=r.hashes_ok, signature_ok=r.signature_ok, chain_ok=r.chain_ok,
                                 detail=r.detail)
        return self._result(chip_mrz, groups, listed, pa)

    def _result(self, chip_mrz: str, groups: dict[int, bytes], listed: list[int],
                pa: PassiveAuth | None) -> TravelDocData:
        text = chip_mrz
        if len(text) in (60, 88, 90):
            n = 44 if len(text) == 88 else 30
            text = "\n".join(text[i:i + n] for i in range(0, len(text), n))
        m = mrz.parse(text)
        out: dict[str, Any] = {
            "document_type": m.document_type, "issuing_state": m.issuing_state, "document_number": m.document_number,
            "surname": m.surname, "given_names": m.given_names, "nationality": m.nationality,
            "birth_date": m.birth_date, "sex": m.sex, "expiry_date": m.expiry_date, "mrz": text,
            "data_groups": [f"DG{n}" for n in listed], "passive_auth": pa,
        }
        if 2 in groups:
            face = codec.parse_dg2(groups[2])
            out["photo_format"] = face.format
            out["photo_original"] = face.data
            try:
                from PIL import Image

                with Image.open(io.BytesIO(face.data)) as im:
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, "PNG", compress_level=1)
                    out["photo"] = buf.getvalue()
                    out["photo_width"], out["photo_height"] = im.size
            except Exception as e:  # noqa: BLE001 - a chip's image may fail to decode any way; said in the result
                log.info("travel_doc: face image not decoded: %s", type(e).__name__)
                out["photo_note"] = f"the {face.format} face image could not be decoded"
        return TravelDocData.model_validate(out)
