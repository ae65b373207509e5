"""A SAM ID-card reader on a pty: answers GA 467 frames like a real reader."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Any

from gtsdk.drivers.sam_serial import codec
from gtsdk.drivers.sam_serial.codec import SW3, Command, FrameError
from gtsdk.simulators._history import History

from .._pty import PtyDevice
from .cards import SampleCard

#: fictional SAM management number bytes (16 after SW3)
SAM_ID = bytes([0x05, 0x00, 0x01, 0x00]) + struct.pack("<III", 20260101, 123456789, 42)

_CMD_NAMES = {"read": (Command.READ_BASE, Command.READ_BASE_FP), "find": (Command.FIND,),
              "select": (Command.SELECT,), "status": (Command.STATUS,), "address": (Command.READ_ADDRESS,),
              "samid": (Command.SAM_ID,)}


class SamReaderDevice(PtyDevice):
    def __init__(self, baudrate: int | None = 115200, link: Path | None = None) -> None:
        super().__init__(baudrate=baudrate, link=link)
        self._parser = codec.StreamParser()
        self._lock = threading.Lock()
        self.card: SampleCard | None = None
        self.selected = False
        #: "halted": find fails after a read until the card is re-presented (halt_after_read=True)
        self.halt_after_read = True
        self.halted = False
        self.rf_time = 0.0
        self.bad_checksum = 0
        self.sw3_faults: list[tuple[tuple[Command, ...] | None, int]] = []
        self.sam_status = SW3.OK.value
        self.log: History[str] = History()  # the commands received, newest last

    # ---- world -------------------------------------------------------------------
    def insert(self, card: SampleCard) -> None:
        with self._lock:
            self.card, self.selected, self.halted = card, False, False

    def remove(self) -> None:
        with self._lock:
            self.card, self.selected, self.halted = None, False, False

    def unplug(self) -> None:
        """Power is lost: the RF field goes down, so a card left on the reader is reset (ISO/IEC 14443-3: a
        halted or selected card is back to idle when the field returns) and a half-received frame is gone."""
        with self._lock:
            self.selected = self.halted = False
        self._parser = codec.StreamParser()
        super().unplug()

    def add_sw3_fault(self, code: int, command: str = "read", count: int = 1) -> None:
        cmds = None if command == "any" else _CMD_NAMES[command]
        with self._lock:
            self.sw3_faults.extend([(cmds, code)] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self.sw3_faults.clear()
            self.bad_checksum = 0
            self.sam_status = SW3.OK.value
        self.mute = self.cut = self.garble = False
        self.delay = 0.0

    # ---- line ----------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        for raw in self._parser.feed(data):
            try:
                req = codec.parse_request(raw)
            except FrameError:
                self.reply(SW3.CHECKSUM_ERROR)
                continue
            self.handle(req)

    def reply(self, sw3: int, data: bytes = b"") -> None:
        frame = codec.build_response(sw3, data)
        with self._lock:
            if self.bad_checksum > 0:
                self.bad_checksum -= 1
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        self.send(frame)

    def _fault_for(self, cmd: Command | None) -> int | None:
        with self._lock:
            for i, (cmds, code) in enumerate(self.sw3_faults):
                if cmds is None or cmd in cmds:
                    del self.sw3_faults[i]
                    return code
        return None

    def handle(self, req: codec.Request) -> None:
        cmd = req.command
        self.log.append(cmd.name if cmd else f"{req.cmd:02X}{req.para:02X}")
        if cmd is None:
            self.reply(SW3.COMMAND_ERROR)
            return
        code = self._fault_for(cmd)
        if code is not None:
            self.reply(code)
            return
        if self.sam_status != SW3.OK and cmd is not Command.RESET:
            self.reply(self.sam_status)
            return
        with self._lock:
            card = self.card
            halted = self.halted
        if cmd in (Command.STATUS, Command.RESET, Command.SET_RF_MAX):
            self.reply(SW3.OK)
        elif cmd is Command.SAM_ID:
            self.reply(SW3.OK, SAM_ID)
        elif cmd is Command.FIND:
            if card is not None and not halted:
                self.reply(SW3.FIND_OK, bytes(4))
            else:
                self.reply(SW3.FIND_FAILED)
        elif cmd is Command.SELECT:
            if card is not None and not halted:
                self.selected = True
                self.reply(SW3.OK, bytes(8))
            else:
                self.reply(SW3.SELECT_FAILED)
        elif cmd in (Command.READ_BASE, Command.READ_BASE_FP, Command.READ_ADDRESS):
            self._read(cmd, card)
        elif cmd is Command.READ_MID:
            self.reply(SW3.OK, bytes(8)) if card is not None else self.reply(SW3.READ_FAILED)
        else:
            self.reply(SW3.COMMAND_ERROR)

    def _read(self, cmd: Command, card: SampleCard | None) -> None:
        """Read the base information (text, photo, optionally the fingerprints) or the appended address."""
        if card is None or not self.selected:
            self.reply(SW3.READ_FAILED)
        elif cmd is Command.READ_ADDRESS:
            if card.appended_address:
                b = card.appended_address.encode("utf-16-le")
                self.reply(SW3.OK, (b + " ".encode("utf-16-le") * 35)[:70])
            else:
                self.reply(SW3.NO_CONTENT)
        else:
            if self.rf_time:
                time.sleep(self.rf_time)
            fp = (card.fingerprint or b"") if cmd is Command.READ_BASE_FP else None
            with self._lock:  # before replying: the host may re-present the card as soon as the reply is in
                self.halted = self.halt_after_read and self.card is card
            self.reply(SW3.OK, codec.build_read_payload(card.text, card.photo, fp))

    def state(self) -> dict[str, Any]:
        return {"path": self.path, "card": self.card.key if self.card else None, "mute": self.mute,
                "baudrate": self.baudrate, "pendingFaults": len(self.sw3_faults) + self.bad_checksum,
                "samStatus": f"{self.sam_status:02X}", "unplugged": self.unplugged}
