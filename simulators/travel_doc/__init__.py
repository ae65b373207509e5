"""Exit-entry document simulator: a virtual ICAO 9303 chip behind a real pcscd via vsmartcard-vpcd
(``gtsdk sim travel_doc``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk.drivers.icao_pcsc import mrz
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action

from .card import IcaoChip
from .documents import SAMPLES, Document, make_document
from .pcscd import Pcscd, PcscdUnavailable
from .pki import TestPki, make_pki
from .vpcd import VirtualCard

__all__ = ["SAMPLES", "Pcscd", "PcscdUnavailable", "TravelDocSimulation", "start"]

#: vpcd's two readers (/etc/reader.conf.d/vpcd): name and the TCP port its virtual card connects to
SLOTS = (("Virtual PCD 00 00", 35963), ("Virtual PCD 00 01", 35964))


def _card_in(reader: str) -> bool:
    """Whether some other virtual card already sits in *reader* (then its slot is in use)."""
    try:
        from smartcard import scard

        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return False
        try:
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
            return hr == scard.SCARD_S_SUCCESS and bool(states) and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
        finally:
            scard.SCardReleaseContext(ctx)
    except Exception:
        return False


def _claim_slot() -> tuple[str, int, Any]:
    """Take a vpcd slot no other simulator on this machine uses: no other gtsdk simulator holds its lock
    (flock on a file in /tmp) and no card sits in its reader."""
    import fcntl
    import tempfile

    for name, port in SLOTS:
        if _card_in(name):
            continue
        f = open(Path(tempfile.gettempdir()) / f"gtsdk-vpcd-{port}.lock", "w")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return name, port, f
    raise PcscdUnavailable("both vpcd readers are in use by other simulators")


class TravelDocSimulation:
    module = "travel_doc"
    driver = "icao_pcsc"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pki: TestPki = make_pki()
        self.csca_path = self.pki.write_csca(workdir / "csca.pem")
        self.pcscd = Pcscd(workdir / "pcscd.log")
        self.pcscd.start()
        try:
            self.reader, self.port, self._slot_lock = _claim_slot()
        except PcscdUnavailable:
            self.pcscd.stop()
            raise
        self.document: Document | None = None
        self.chip: IcaoChip | None = None
        self._unplugged = False
        self.card = VirtualCard(self._apdu, self.port, on_reset=self._reset)
        self.settings: dict[str, Any] = {"reader": self.reader, "csca_store": str(self.csca_path)}

    def _apdu(self, apdu: bytes) -> bytes:
        if self.chip is None:
            return b"\x6f\x00"
        return self.chip.handle(apdu)

    def _reset(self) -> None:
        if self.chip is not None:
            self.chip.reset()

    def describe(self) -> str:
        own = "started" if self.pcscd.owned else "already running"
        doc = mrz.parse(self.document.mrz_text).document_type if self.document else "none"
        return f"ICAO chip on PC/SC reader {self.reader!r} (pcscd {own}; vpcd TCP {self.port}); document: {doc}; " \
               f"CSCA: {self.csca_path}"

    def actions(self) -> dict[str, str]:
        return {
            "insert": f"put a document on the reader: doc={'|'.join(SAMPLES)} or mrz=<text>, "
                      "photo=jpeg|jpeg2000, tamper=true (DG1 changed after signing)",
            "remove": "take the document away",
            "fault": "kind=pull (after=N APDUs the card leaves), mac (next SM reply has a bad MAC), "
                     "delay (seconds per APDU), mute (APDUs unanswered)",
            "clear": "clear faults",
            "state": "show the simulator state",
            # the service can only vanish if this simulator started pcscd (another user's pcscd is left alone)
            **({"unplug": "the PC/SC service goes away (pcscd stopped)",
                "replug": "pcscd comes back (the document, if any, is put back)"}
               if self.pcscd.owned or self._unplugged else {}),
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "insert":
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
            self.card.insert()
        elif action == "remove":
            self.card.remove()
        elif action == "fault":
            kind = str(params.get("kind", ""))
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
        elif action == "clear":
            self.card.pull_after = None
            self.card.delay = 0.0
            self.card.mute = False
            if self.chip is not None:
                self.chip.corrupt_next_mac = False
        elif action == "unplug":
            if not self.pcscd.owned:
                raise GtsdkError(ErrorCode.INVALID_STATE, "pcscd was started by someone else; not stopping it")
            self.card.remove()
            self.pcscd.stop()
            self._unplugged = True
        elif action == "replug":
            if self._unplugged:
                try:
                    self.pcscd.start()
                except PcscdUnavailable as e:
                    raise GtsdkError(ErrorCode.NO_DEVICE, f"pcscd did not come back: {e}") from None
                self._unplugged = False
                if self.chip is not None:
                    self.card.insert()
        elif action != "state":
            raise unknown_action(self, action)
        return {"reader": self.reader, "inserted": self.card.inserted,
                "document": mrz.parse(self.document.mrz_text).document_type if self.document else None,
                "apdus": self.chip.apdus if self.chip else 0}

    def stop(self) -> None:
        self.card.remove()
        self.pcscd.stop()
        self._slot_lock.close()


def start(workdir: Path) -> TravelDocSimulation:
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return TravelDocSimulation(workdir)
    except PcscdUnavailable as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"PC/SC simulator unavailable: {e}") from None
