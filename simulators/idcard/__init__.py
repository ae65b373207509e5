"""ID card reader simulator: a SAM reader on a pty answering GA 467 frames (``gtsdk sim idcard``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action

from .cards import SampleCard, samples
from .device import SamReaderDevice

__all__ = ["IdCardSimulation", "SamReaderDevice", "SampleCard", "samples", "start"]

_FAULTS = "mute (no answer), checksum (wrong CHK on the next N replies), sw3 (code=41 command=read count=1), " \
          "cut (next reply stops mid-frame), delay (seconds before each reply), sam (code=60|66: SAM failure)"


def _int(v: Any) -> int:
    """SW3 codes are written in hex as in the protocol tables ("41", "0x41"); a number is read as hex digits too
    (the CLI turns ``code=41`` into the integer 41)."""
    try:
        return int(str(v), 16)
    except ValueError:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"not a hex status byte: {v!r}", field="code") from None


class IdCardSimulation:
    module = "idcard"
    driver = "sam_serial"

    def __init__(self, workdir: Path, baudrate: int = 115200) -> None:
        self.cards = samples()
        self.device = SamReaderDevice(baudrate=baudrate, link=workdir / "ttySAM0")
        self.device.start()
        self.settings: dict[str, Any] = {"port": str(workdir / "ttySAM0"), "baudrate": baudrate,
                                         "poll_interval": 0.25}

    def describe(self) -> str:
        d = self.device
        card = d.card.key if d.card else "none"
        return f"SAM ID card reader on {self.settings['port']} ({d.path}), {d.baudrate or 'unpaced'} 8N1; card: {card}"

    def actions(self) -> dict[str, str]:
        return {
            "insert": f"put a sample card on the reader: card={'|'.join(self.cards)}",
            "remove": "take the card away",
            "cards": "list the sample cards",
            "fault": "inject a fault: kind=" + _FAULTS,
            "clear": "clear every fault",
            "baud": "pace replies at rate=<bps> (0: unpaced)",
            "rf": "simulated RF read time: seconds=<s>",
            "halt": "on=true: a read card stops answering find until re-presented (ISO 14443-B HLTB)",
            "unplug": "the reader vanishes (pty closed)",
            "replug": "the reader comes back on the same path",
            "state": "show the simulator state",
        }

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        d = self.device
        if action == "insert":
            key = str(params.get("card", "resident"))
            if key not in self.cards:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown card {key!r}; known: {sorted(self.cards)}",
                                 field="card")
            d.insert(self.cards[key])
        elif action == "remove":
            d.remove()
        elif action == "cards":
            return {"cards": {k: c.card_type.value for k, c in self.cards.items()}}
        elif action == "fault":
            self._fault(str(params.get("kind", "")), params)
        elif action == "clear":
            d.clear_faults()
        elif action == "baud":
            rate = int(params.get("rate", 115200))
            d.baudrate = rate or None
        elif action == "rf":
            d.rf_time = float(params.get("seconds", 0.0))
        elif action == "halt":
            d.halt_after_read = bool(params.get("on", True))
        elif action == "unplug":
            d.unplug()
        elif action == "replug":
            d.replug()
        elif action == "state":
            pass
        else:
            raise unknown_action(self, action)
        return dict(d.state())

    def _fault(self, kind: str, params: dict[str, Any]) -> None:
        d = self.device
        if kind == "mute":
            d.mute = bool(params.get("on", True))
        elif kind == "checksum":
            d.bad_checksum = int(params.get("count", 1))
        elif kind == "sw3":
            d.add_sw3_fault(_int(params.get("code", "41")), str(params.get("command", "read")),
                            int(params.get("count", 1)))
        elif kind == "cut":
            d.cut = True
        elif kind == "delay":
            d.delay = float(params.get("seconds", 1.0))
        elif kind == "sam":
            d.sam_status = _int(params.get("code", "60"))
        else:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown fault {kind!r}: {_FAULTS}", field="kind")

    def stop(self) -> None:
        self.device.stop()


def start(workdir: Path, baudrate: int = 115200) -> IdCardSimulation:
    workdir.mkdir(parents=True, exist_ok=True)
    return IdCardSimulation(workdir, baudrate)
