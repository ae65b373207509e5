"""Simulated ESC/POS receipt printer on a pty (serial) or a fake USB bus.

``gtsdk sim receipt_printer`` prints the pty path; any ESC/POS client (the
``escpos`` driver, python-escpos, ``cat file > /dev/pts/N``) can print to it.
Every cut saves ``receipts/receipt-NNNN.png`` (rendered paper) and ``.txt``
(transcript) under the work directory; the newest 1,000 receipts are kept, older ones deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators._pty import PtyDevice

from .engine import PrinterEngine

if TYPE_CHECKING:
    from gtsdk.simulators._usb import FakeUsbBackend

    from .usb import UsbPrinter

__all__ = ["EscPosPty", "PrinterEngine", "ReceiptPrinterSimulation", "start", "start_usb"]


class EscPosPty(PtyDevice):
    """The printer behind a pseudo-terminal.  With *pace_baud* it reads no faster than that line rate."""

    def __init__(self, engine: PrinterEngine, pace_baud: int | None = None, link: Path | None = None) -> None:
        super().__init__(baudrate=pace_baud, link=link, pace_input=True)
        self.engine = engine

    def on_bytes(self, data: bytes) -> None:
        reply = self.engine.feed(data)
        if reply:
            self.send(reply)


_ACTIONS = {
    "paper_near_end": "paper reaches the near-end sensor",
    "paper_out": "paper runs out now; with dots=N after N more dot rows (part-way through a job)",
    "load_paper": "a new roll is loaded (clears paper out / near end)",
    "cover_open": "the cover is opened",
    "cover_close": "the cover is closed",
    "cutter_error": "the autocutter jams",
    "clear_cutter": "the cutter jam is cleared",
    "mute": "stop answering status requests (params: on=true/false)",
    "garble": "flip one bit of the next reply (an invalid status byte)",
    "unplug": "the device vanishes",
    "replug": "the device comes back",
    "state": "sensor state and counters",
    "receipts": "paths of the saved receipts (PNG; a .txt transcript sits next to each)",
    "flush": "save what is printed so far without a cut",
}


class ReceiptPrinterSimulation:
    module = "receipt_printer"
    driver = "escpos"

    def __init__(self, workdir: Path, transport: str = "serial", pace_baud: int | None = None) -> None:
        self.workdir = workdir
        self.engine = PrinterEngine(workdir / "receipts")
        self.transport = transport
        self.pty: EscPosPty | None = None
        self.usb: FakeUsbBackend | None = None
        self.usb_printer: UsbPrinter | None = None
        if transport == "usb":
            from .usb import PID, VID, fake_usb_printer

            self.usb, self.usb_printer = fake_usb_printer(self.engine)
            self.settings: dict[str, Any] = {
                "usb": f"{VID:04X}:{PID:04X}",
                "usb_backend": "gtsdk.simulators._usb:backend",
                "usb_backend_arg": self.usb.key,
            }
        else:
            self.pty = EscPosPty(self.engine, pace_baud=pace_baud, link=workdir / "ttyRECEIPT").start()
            self.settings = {"port": str(workdir / "ttyRECEIPT"), "baudrate": 115200}

    @property
    def path(self) -> str:
        return self.pty.path if self.pty is not None else ""

    def describe(self) -> str:
        where = f"USB {self.settings['usb']} (fake backend {self.usb.key})" if self.usb else \
            f"pty {self.pty.path if self.pty else '?'} (link {self.settings['port']})"
        return f"ESC/POS receipt printer on {where}; receipts in {self.engine.outdir}"

    def actions(self) -> dict[str, str]:
        return dict(_ACTIONS)

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        printer: dict[str, Callable[[], object]] = {
            "paper_near_end": e.set_near_end, "load_paper": e.load_paper,
            "cover_open": lambda: e.set_cover(True), "cover_close": lambda: e.set_cover(False),
            "cutter_error": lambda: e.set_cutter_error(True), "clear_cutter": lambda: e.set_cutter_error(False),
            "garble": self._garble, "unplug": self._unplug, "replug": self._replug,
        }
        if action in printer:
            printer[action]()
        elif action == "paper_out":
            dots = params.get("dots")
            e.set_paper_out(int(dots) if dots is not None else None)
        elif action == "mute":
            self._mute(params.get("on", True) not in (False, "false", "0", 0))
        elif action == "receipts":
            return {"receipts": [str(p) for p in e.receipts()]}
        elif action == "flush":
            p = e.flush()
            return {"receipt": str(p) if p else None}
        elif action != "state":
            raise simulation.unknown_action(self, action)
        return e.state()

    # the line faults reach whichever transport the printer is on
    def _mute(self, on: bool) -> None:
        if self.pty is not None:
            self.pty.mute = on
        if self.usb_printer is not None:
            self.usb_printer.mute = on

    def _garble(self) -> None:
        if self.pty is not None:
            self.pty.garble = True
        if self.usb_printer is not None:
            self.usb_printer.garble = True

    def _unplug(self) -> None:
        if self.pty is not None:
            self.pty.unplug()
        if self.usb is not None:
            self.usb.unplug()

    def _replug(self) -> None:
        if self.pty is not None:
            self.pty.replug()
        if self.usb is not None:
            self.usb.replug()

    def stop(self) -> None:
        if self.pty is not None:
            self.pty.stop()
        if self.usb is not None:
            self.usb.release()


def start(workdir: Path, transport: str = "serial", pace_baud: int | None = None) -> ReceiptPrinterSimulation:
    if transport not in ("serial", "usb"):
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "transport must be serial or usb", field="transport")
    workdir.mkdir(parents=True, exist_ok=True)
    return ReceiptPrinterSimulation(workdir, transport, pace_baud)


def start_usb(workdir: Path) -> ReceiptPrinterSimulation:
    return start(workdir, "usb")
