"""QR scanner simulator: a serial scanner on a pty that speaks the Honeywell, Newland or
GM65-style command dialect and "scans" codes.

A presented text is rendered as a real QR code (``qrcode``) and decoded back with
OpenCV's ``QRCodeDetector`` (opencv-python-headless 4.x), so the bytes the driver receives
are what a decoder produced from an image, not what the test typed.  The scanner obeys
the mode the driver configures (triggered: a code is sent only while triggered, and the
scanner stops after a good read; continuous: codes are sent as soon as they are presented).
"""

from __future__ import annotations

import collections
import os
import re
import threading
from pathlib import Path
from typing import Any

from gtsdk.drivers.serial_scanner import codec
from gtsdk.drivers.serial_scanner.codec import Dialect
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action
from gtsdk.simulators._history import History
from gtsdk.simulators._pty import FAULT_ACTIONS, PtyDevice

SUFFIX = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "none": b""}


def render_and_decode(payload: bytes) -> bytes:
    """Encode *payload* as a QR image and decode it with OpenCV; the decoder's bytes.

    OpenCV returns UTF-8: payloads that are not valid UTF-8 (e.g. GB18030 Hanzi) come back
    as their ISO-8859-1 reading re-encoded in UTF-8 (QR byte mode without ECI defaults to
    ISO-8859-1), which is undone here.
    """
    import cv2
    import numpy as np
    import qrcode

    q = qrcode.QRCode(border=4, box_size=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(payload)
    q.make(fit=True)
    img = np.array(q.make_image().convert("L"))
    decoded, _pts, _ = cv2.QRCodeDetector().detectAndDecodeBytes(img)
    if not decoded:
        raise GtsdkError(ErrorCode.INVALID_DATA, "rendered QR code could not be decoded", field="text")
    out = bytes(decoded)
    candidates = [out]
    try:
        candidates.append(out.decode("utf-8").encode("latin-1"))
    except (UnicodeDecodeError, UnicodeEncodeError):
        pass
    # both readings come from the decoder; prefer the one the simulated label was printed with
    return payload if payload in candidates else out


class ScannerDevice(PtyDevice):
    def __init__(self, dialect: Dialect, *, suffix: str = "cr", baudrate: int | None = 9600,
                 link: Path | None = None) -> None:
        # a scan engine sends a long code in small slices: the driver sees it trickle in
        super().__init__(baudrate=baudrate, link=link, slice_bytes=4)
        self.dialect = dialect
        self.suffix = SUFFIX[suffix]
        self.mode = "triggered"
        self.triggered = False
        self.pending: collections.deque[bytes] = collections.deque()
        self.rx = bytearray()
        self.commands: History[bytes] = History()
        self.lock = threading.Lock()

    # ---- what the driver sends -------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        with self.lock:
            self.rx += data
            while self.rx and self._one():
                pass
            if len(self.rx) > 4096:
                self.rx.clear()

    def _one(self) -> bool:
        rx = self.rx
        if self.dialect is Dialect.HONEYWELL:
            for cmd, on in ((codec.HONEYWELL_TRIGGER, True), (codec.HONEYWELL_UNTRIGGER, False)):
                if rx.startswith(cmd):
                    del rx[:3]
                    self.commands.append(cmd)
                    self._set_trigger(on)
                    return True
            if rx.startswith(codec.HONEYWELL_MENU):
                m = re.search(rb"[!.]", rx[3:])
                if m is None:
                    return False
                frame = bytes(rx[: 3 + m.end()])
                del rx[: 3 + m.end()]
                cmd, permanent = codec.parse_honeywell_menu(frame)
                self.commands.append(frame)
                status = self._menu(cmd.decode("ascii", "replace"))
                self.send(codec.honeywell_reply(cmd, status, permanent))
                return True
        elif self.dialect is Dialect.NEWLAND:
            if rx.startswith(codec.NEWLAND_PREFIX):
                i = rx.find(codec.NEWLAND_SUFFIX)
                if i < 0:
                    return False
                frame = bytes(rx[: i + 2])
                del rx[: i + 2]
                self.commands.append(frame)
                try:
                    cmd, permanent = codec.parse_newland_command(frame)
                except GtsdkError:
                    return True
                status = self._menu(cmd.decode("ascii", "replace"))
                self.send(codec.newland_reply(cmd, status, permanent))
                return True
        elif rx.startswith(codec.GM65_HEAD):
            n = codec.gm65_frame_length(bytes(rx[:4]))
            if n is None or len(rx) < n:
                return False
            frame = bytes(rx[:n])
            del rx[:n]
            self.commands.append(frame)
            try:
                kind, address, data = codec.parse_gm65_frame(frame)
            except GtsdkError:
                return True  # a bad check is ignored, as the engines do
            self._gm65(kind, address, data)
            return True
        if len(rx) < 3 and any(p.startswith(bytes(rx)) for p in (codec.HONEYWELL_MENU, codec.HONEYWELL_TRIGGER,
                                                                   codec.NEWLAND_PREFIX, codec.GM65_HEAD)):
            return False  # wait for the rest of a command
        del rx[:1]  # not a command of this dialect: resynchronise
        return True

    def _menu(self, cmd: str) -> int:
        m = re.fullmatch(r"(TRGMOD|SCNMOD)(\d)", cmd)
        if m:
            continuous = (m.group(1) == "TRGMOD" and m.group(2) in "39") or (m.group(1) == "SCNMOD" and
                                                                            m.group(2) == "2")
            self.mode = "continuous" if continuous else "triggered"
            return codec.ACK
        if cmd in ("SCNTRG1", "SCNTRG0"):
            self._set_trigger(cmd.endswith("1"))
            return codec.ACK
        if re.fullmatch(r"[A-Z0-9]{6}[\x20-\x7e]*", cmd):
            return codec.ACK
        return codec.ENQ

    def _gm65(self, kind: int, address: int, data: bytes) -> None:
        zone = codec.GM65_MODE_BITS[self.mode] | 0b1000_0000  # bit 7: LED on (kept through mode writes)
        if kind == codec.GM65_READ and address == codec.GM65_MODE_ADDRESS:
            self.send(codec.gm65_reply(bytes([zone])))
            return
        self.send(codec.gm65_reply(b"\x00"))
        if kind == codec.GM65_WRITE and address == codec.GM65_MODE_ADDRESS:
            bits = data[0] & 0b11
            self.mode = {v: k for k, v in codec.GM65_MODE_BITS.items()}[bits]
            if self.mode not in ("triggered", "continuous"):
                self.mode = "triggered"
        elif kind == codec.GM65_WRITE and address == 0x0002:
            self._set_trigger(data[:1] == b"\x01")

    def _set_trigger(self, on: bool) -> None:
        self.triggered = on
        if on and self.pending:
            self._emit_code(self.pending.popleft())
            self.triggered = False  # a good read ends the trigger

    # ---- scanning -----------------------------------------------------------------------
    def _emit_code(self, payload: bytes) -> None:
        self.send(payload + self.suffix)

    def present(self, payload: bytes, repeat: int = 1) -> str:
        with self.lock:
            if self.mode == "continuous":
                for _ in range(max(1, repeat)):
                    self._emit_code(payload)
                return "sent"
            self.pending.append(payload)
            if self.triggered:
                self._set_trigger(True)
                return "sent"
            return "waiting for trigger"


class QrScannerSimulation:
    module = "qr_scanner"
    driver = "serial_scanner"

    def __init__(self, workdir: Path, *, dialect: str = "honeywell", mode: str = "triggered", suffix: str = "cr",
                 baudrate: int = 9600, pace: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.device = ScannerDevice(Dialect(dialect), suffix=suffix, baudrate=baudrate if pace else None,
                                    link=workdir / "ttyScanner").start()
        self.settings: dict[str, Any] = {"port": str(workdir / "ttyScanner"), "baudrate": baudrate,
                                         "dialect": dialect, "mode": mode, "suffix": "auto" if suffix != "none"
                                         else "none", "answer_timeout": 0.5}

    def describe(self) -> str:
        d = self.device
        return f"{d.dialect.value} serial scanner ({d.mode}) on {self.settings['port']} -> {d.path}"

    def actions(self) -> dict[str, str]:
        return {
            "state": "mode, trigger state, codes waiting, commands received",
            "present": "params {text, encoding: utf-8|gb18030 (default utf-8), repeat: n, image: true}: hold a QR "
                       "code under the scanner (rendered and decoded with OpenCV unless image=false)",
            "garbage": "params {n}: line noise (random bytes with control characters) then the suffix",
            **FAULT_ACTIONS,
        }

    def state(self) -> dict[str, Any]:
        d = self.device
        return {"dialect": d.dialect.value, "mode": d.mode, "triggered": d.triggered, "pending": len(d.pending),
                "commands": [c.hex(" ") for c in d.commands[-10:]], "path": d.path}

    def present(self, text: str, encoding: str = "utf-8", *, repeat: int = 1, image: bool = True) -> dict[str, Any]:
        try:
            payload = text.encode(encoding)
        except (LookupError, UnicodeEncodeError):
            raise GtsdkError(ErrorCode.INVALID_DATA, f"text cannot be encoded as {encoding}",
                             field="encoding") from None
        raw = render_and_decode(payload) if image else payload
        return {"result": self.device.present(raw, repeat), "bytes": len(raw)}

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        p = params or {}
        d = self.device
        if action == "state":
            return self.state()
        if action == "present":
            return self.present(str(p.get("text", "")), str(p.get("encoding", "utf-8")),
                                repeat=int(p.get("repeat", 1)), image=bool(p.get("image", True)))
        if action == "garbage":
            n = max(1, min(int(p.get("n", 16)), 8192))
            noise = bytes(b if b not in (0x0D, 0x0A) else 0x01 for b in os.urandom(n))
            d.send(b"\x01" + noise + d.suffix)
            return {"sent": n + 1}
        out = d.fault(action)
        if out is None:
            raise unknown_action(self, action)
        return out

    def stop(self) -> None:
        self.device.stop()


def start(workdir: Path, **kw: Any) -> QrScannerSimulation:
    return QrScannerSimulation(workdir, **kw)
