"""Exit-entry document simulator: a virtual ICAO 9303 chip behind a real pcscd via vsmartcard-vpcd
(``gtsdk sim travel_doc``).  The pcscd is this process's own, in private namespaces (see :mod:`.pcscd`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk.drivers.icao_pcsc import mrz
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action

from .card import IcaoChip
from .documents import SAMPLES, Document, make_document
from .pcscd import PcscdUnavailable, PcscHost
from .pki import TestPki, make_pki
from .vpcd import VirtualCard

__all__ = ["SAMPLES", "PcscHost", "PcscdUnavailable", "TravelDocSimulation", "start"]


class TravelDocSimulation:
    module = "travel_doc"
    driver = "icao_pcsc"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pki: TestPki = make_pki()
        self.csca_path = self.pki.write_csca(workdir / "csca.pem")
        self.host, self.slot = PcscHost.acquire()
        self.reader = self.host.reader(self.slot)
        self.port = self.host.port(self.slot)
        self.document: Document | None = None
        self.chip: IcaoChip | None = None
        try:
            self.card = VirtualCard(self._apdu, self.port, on_reset=self._reset,
                                    connect=lambda: self.host.connect(self.slot))
        except BaseException:
            self.host.release(self.slot)
            raise
        self.host.cards[self.slot] = self.card
        # the driver talks to this process's pcscd (libpcsclite takes the socket path once per process)
        self.settings: dict[str, Any] = {"reader": self.reader, "csca_store": str(self.csca_path),
                                         "pcsc_socket": str(self.host.socket)}

    def _apdu(self, apdu: bytes) -> bytes:
        if self.chip is None:
            return b"\x6f\x00"
        return self.chip.handle(apdu)

    def _reset(self) -> None:
        if self.chip is not None:
            self.chip.reset()

    def describe(self) -> str:
        doc = mrz.parse(self.document.mrz_text).document_type if self.document else "none"
        state = "running" if self.host.running else "unplugged"
        return f"ICAO chip on PC/SC reader {self.reader!r} (this process's pcscd, {state}; PCSCLITE_CSOCK_NAME=" \
               f"{self.host.socket}); document: {doc}; CSCA: {self.csca_path}"

    def actions(self) -> dict[str, str]:
        return {
            "insert": f"put a document on the reader: doc={'|'.join(SAMPLES)} or mrz=<text>, "
                      "photo=jpeg|jpeg2000, tamper=true (DG1 changed after signing)",
            "remove": "take the document away",
            "fault": "kind=pull (after=N APDUs the card leaves), mac (next SM reply has a bad MAC), "
                     "delay (seconds per APDU), mute (APDUs unanswered)",
            "clear": "clear faults",
            "state": "show the simulator state",
            "unplug": "the PC/SC service goes away (this process's pcscd stops: every simulated reader of the "
                      "process vanishes)",
            "replug": "pcscd comes back (documents on the readers are put back)",
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "insert":
            self._put_document(params)
        elif action == "remove":
            self.card.remove()
            self.host.keep_out(self.slot)
        elif action == "fault":
            self._fault(str(params.get("kind", "")), params)
        elif action == "clear":
            self.card.pull_after = None
            self.card.delay = 0.0
            self.card.mute = False
            if self.chip is not None:
                self.chip.corrupt_next_mac = False
        elif action == "unplug":
            self.host.unplug()
        elif action == "replug":
            try:
                self.host.replug()
            except PcscdUnavailable as e:
                raise GtsdkError(ErrorCode.NO_DEVICE, f"pcscd did not come back: {e}") from None
        elif action != "state":
            raise unknown_action(self, action)
        return {"reader": self.reader, "inserted": self.card.inserted, "pcscd": self.host.running,
                "document": mrz.parse(self.document.mrz_text).document_type if self.document else None,
                "apdus": self.chip.apdus if self.chip else 0}

    def _put_document(self, params: dict[str, Any]) -> None:
        """A new document (a sample by name, or any MRZ) on the reader."""
        text = params.get("mrz")
        if text is None:
            key = str(params.get("doc", "passport"))
            if key not in SAMPLES:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown document {key!r}", field="doc")
            text = SAMPLES[key]
        mrz.parse(str(text))
        self.card.remove()
        self.document = make_document(str(text), self.pki, str(params.get("photo", "jpeg")),
                                      tamper_dg1=bool(params.get("tamper", False)))
        self.chip = IcaoChip(self.document.bac_key, self.document.files)
        self._insert()

    def _fault(self, kind: str, params: dict[str, Any]) -> None:
        if kind == "pull":
            self.card.pull_after = int(params.get("after", 3))
        elif kind == "mac":
            if self.chip is not None:
                self.chip.corrupt_next_mac = True
        elif kind == "delay":
            self.card.delay = float(params.get("seconds", 0.5))
        elif kind == "mute":
            self.card.mute = bool(params.get("on", True))
        else:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown fault {kind!r}", field="kind")

    def _insert(self) -> None:
        if self.host.running:
            self.card.insert()
        else:  # unplugged: the document is on the reader when pcscd comes back
            self.host.put_back(self.slot)

    def stop(self) -> None:
        self.card.remove()
        self.host.release(self.slot)


def start(workdir: Path) -> TravelDocSimulation:
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return TravelDocSimulation(workdir)
    except PcscdUnavailable as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"PC/SC simulator unavailable: {e}") from None
