"""Simulated A4 colour printer: CUPS' own ``ippeveprinter`` behind a real ``cupsd`` queue.

``gtsdk sim a4_printer`` starts the stack (see :mod:`.stack`) and prints the
socket of its cupsd; ``lp -h <socket> -d kiosk file.pdf`` prints to it.  The
documents the printer received are kept under ``<workdir>/printed`` together
with the IPP job attributes (``env-N.txt``: sides, colour mode, media, copies); the newest 1,000 are kept.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from gtsdk import sim as simulation
from gtsdk.errors import ErrorCode, GtsdkError

from .stack import CupsStack, StackError

__all__ = ["A4PrinterSimulation", "CupsStack", "StackError", "start"]

_ACTIONS = {
    "paper_out": "main tray empty (media-empty; a job waits until paper is loaded)",
    "load_paper": "main tray filled (params: sheets, default 250)",
    "toner_empty": "toner at 0 % (toner-empty)",
    "toner_ok": "toner at 80 %",
    "jam": "the printer jams (media-jam-error): a job stops there until the jam is cleared",
    "door_open": "the door opens (door-open-error): a job stops there until it is closed",
    "clear_fault": "clear jam/door faults: a stopped job completes (with none, the printer power-cycles)",
    "offline": "the printer vanishes (ippeveprinter stopped; CUPS holds jobs and retries)",
    "online": "the printer comes back",
    "unplug": "the print server vanishes (cupsd stopped): the driver loses its connection",
    "replug": "the print server comes back with its queue",
    "state": "printer-state and printer-state-reasons as the printer itself reports them",
    "printed": "documents the printer received (paths)",
}


# ipptool script asking the printer itself for its state (docs/test-peers.md §3)
_GET_STATE = """{
  NAME "Get printer state"
  OPERATION Get-Printer-Attributes
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR keyword requested-attributes printer-state,printer-state-reasons,printer-state-message,media-ready,marker-levels
  DISPLAY printer-state
  DISPLAY printer-state-reasons
  DISPLAY media-ready
  DISPLAY marker-levels
}
"""


class A4PrinterSimulation:
    module = "a4_printer"
    driver = "cups"

    def __init__(self, workdir: Path, print_delay: float = 0.2) -> None:
        self.workdir = workdir
        self.stack = CupsStack(workdir, print_delay=print_delay).start()
        self.settings: dict[str, Any] = {"queue": CupsStack.QUEUE, "server": str(self.stack.sock)}

    def describe(self) -> str:
        return (f"cupsd at {self.stack.sock} (127.0.0.1:{self.stack.cups_port} in netns {self.stack.netns}), "
                f"queue {CupsStack.QUEUE} → ippeveprinter ipp://localhost:{self.stack.ipp_port}/ipp/print; "
                f"printed documents in {self.stack.out}")

    def actions(self) -> dict[str, str]:
        return dict(_ACTIONS)

    def _printer_state(self) -> dict[str, Any]:
        s = self.stack
        if s.ippeve is None:
            return {"printer": "offline"}
        test = s.root / "get-state.test"
        if not test.exists():
            test.write_text(_GET_STATE)
        r = subprocess.run(s._ns(["ipptool", "-t", f"ipp://localhost:{s.ipp_port}/ipp/print", str(test)]),
                           capture_output=True, text=True, timeout=10, check=False)
        out: dict[str, Any] = {}
        for line in r.stdout.splitlines():
            if " = " in line:
                k, v = line.strip().split(" = ", 1)
                out[k.split(" ")[0]] = v
        return out

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        s = self.stack
        try:
            if action == "paper_out":
                s.set_paper(0)
            elif action == "load_paper":
                s.set_paper(int(params.get("sheets", 250)))
            elif action == "toner_empty":
                s.set_toner(0)
            elif action == "toner_ok":
                s.set_toner(80)
            elif action == "jam":
                s.set_fault("media-jam-error")
            elif action == "door_open":
                s.set_fault("door-open-error")
            elif action == "clear_fault":
                s.set_fault(None)
            elif action == "offline":
                s.kill_printer()
            elif action == "online":
                s.revive_printer()
            elif action == "unplug":
                s.stop_cupsd()
            elif action == "replug":
                s.start_cupsd()
            elif action == "printed":
                return {"printed": sorted(str(p) for p in s.out.glob("doc-*"))}
            elif action != "state":
                raise simulation.unknown_action(self, action)
        except (OSError, StackError) as e:
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"simulator control failed: {e}") from None
        return self._printer_state()

    def stop(self) -> None:
        self.stack.stop()


def start(workdir: Path, print_delay: float = 0.2) -> A4PrinterSimulation:
    try:
        return A4PrinterSimulation(workdir, print_delay)
    except StackError as e:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"CUPS print stack unavailable: {e}") from None
