"""A simulated AS608/R307 fingerprint module on a pty (the protocol of ``drivers/zhiantec/codec.py``).

It keeps an image buffer, two char buffers and a template library of ``capacity`` pages, checks
the password and the address, and answers every command of docs/protocols.md §3 that a host uses:
VfyPwd, SetPwd, ReadSysPara, SetSysPara, TemplateNum, ReadIndexTable, GenImg, Img2Tz, Match,
Search/HighSpeedSearch, RegModel, Store, LoadChar, UpChar, DownChar, UpImage, DeleteChar, Empty,
GetRandomCode.  Faults: ``mute`` (no answer), ``garble`` (one corrupted answer: bad checksum),
``sensor_error`` (GenImg 03, UpImage 0F), a device password different from the host's (VfyPwd 13),
a poor or messy finger (Img2Tz 07 / 06), unplug/replug.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gtsdk.drivers.zhiantec import codec as C
from gtsdk.errors import GtsdkError
from gtsdk.simulators._pty import PtyDevice
from gtsdk.simulators.fingerprint import finger as F

#: processing times of a real module (R307 data sheet: image < 0.5 s, search < 1 s), used when realistic
PROCESSING = {C.Ins.GEN_IMG: 0.25, C.Ins.IMG2TZ: 0.3, C.Ins.SEARCH: 0.3, C.Ins.HIGH_SPEED_SEARCH: 0.15,
              C.Ins.MATCH: 0.05, C.Ins.REG_MODEL: 0.1, C.Ins.STORE: 0.05}


#: a pause this long inside a packet makes the module drop the partial packet
FRAME_GAP = 0.3


class FingerprintModule(PtyDevice):
    def __init__(self, baudrate: int | None = None, link: Path | None = None, *, password: int = 0,
                 address: int = C.DEFAULT_ADDRESS, capacity: int = 1000, packet_size: int = 128,
                 realistic: bool = False) -> None:
        # the host's bytes need their wire time to arrive, too (the pty delivers at once)
        super().__init__(baudrate=baudrate, link=link, pace_input=True)
        self.password = password
        self.address = address
        self.capacity = capacity
        self.packet_size = packet_size
        self.security_level = 3
        self.system_id = 0x0000
        self.realistic = realistic
        self.verified = password == 0
        self.sensor_error = False
        self.garble_always = False
        self.finger: tuple[str, int, str] | None = None  # (person, finger index, condition)
        self.place_at = 0.0
        self.library: dict[int, bytes] = {}
        self.buffers: dict[int, bytes] = {1: b"", 2: b""}
        self.image: np.ndarray | None = None
        self.truth: list[tuple[float, float, float]] = []
        self.condition = "good"
        self.rng = np.random.default_rng(7)
        self.counts: dict[str, int] = {}
        self._parser = C.Parser()
        self._last_rx = 0.0
        self._receiving: int | None = None  # char buffer a DownChar is filling
        self._incoming = bytearray()
        self.lock = threading.RLock()

    # ---- the simulated world --------------------------------------------------------
    def place(self, person: str, index: int = 0, condition: str = "good", after: float = 0.0) -> None:
        with self.lock:
            self.finger = (person, index, condition)
            self.place_at = time.monotonic() + after

    def remove(self) -> None:
        with self.lock:
            self.finger = None

    def finger_present(self) -> bool:
        return self.finger is not None and time.monotonic() >= self.place_at

    def template_for(self, person: str, index: int = 0) -> bytes:
        """A char file of *person* as this module would extract it from a fresh capture."""
        _, vis = F.Finger(person, index).render(*self._placement(), self.rng)
        return F.pack(F.features(vis, self.rng))

    def _placement(self) -> tuple[float, float, float, float, float]:
        r = self.rng
        return (float(r.normal(0, 6)), float(r.normal(0, 6)), float(r.normal(0, 5)), float(r.uniform(0.35, 0.65)),
                8.0)

    # ---- the wire -------------------------------------------------------------------
    def reset_line(self) -> None:
        """Forget a half-received packet (what the module's inter-byte timeout does)."""
        self._parser = C.Parser()

    def on_bytes(self, data: bytes) -> None:
        now = time.monotonic()
        if now - self._last_rx > FRAME_GAP:
            self.reset_line()
        self._last_rx = now
        try:
            packets = self._parser.feed(data)
        except GtsdkError:
            self._parser = C.Parser()
            self._reply(C.ack(C.Confirm.PACKET_RECEIVE_ERR, address=self.address))
            return
        for p in packets:
            if p.address != self.address:
                continue  # addressed to another module on the bus
            if self._receiving is not None and p.pid in (C.Pid.DATA, C.Pid.END):
                self._incoming += p.payload
                if p.pid == C.Pid.END:
                    self.buffers[self._receiving] = bytes(self._incoming[: F.CHAR_SIZE]).ljust(F.CHAR_SIZE, b"\0")
                    self._receiving = None
                continue
            if p.pid != C.Pid.COMMAND or not p.payload:
                self._reply(C.ack(C.Confirm.PACKET_RECEIVE_ERR, address=self.address))
                continue
            with self.lock:
                out = self.handle(p.payload[0], p.payload[1:])
            for frame in out:
                self._reply(frame)

    def _reply(self, frame: bytes) -> None:
        if self.garble_always:
            self.garble = True
        self.send(frame)

    def _ack(self, code: int, extra: bytes = b"") -> list[bytes]:
        return [C.ack(code, extra, self.address)]

    def _data(self, data: bytes) -> list[bytes]:
        return list(C.split_data(data, self.packet_size, self.address))

    def handle(self, ins: int, args: bytes) -> list[bytes]:
        name = C.Ins(ins).name if ins in C.Ins._value2member_map_ else f"0x{ins:02X}"
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.realistic and ins in PROCESSING:
            time.sleep(PROCESSING[C.Ins(ins)])
        if ins == C.Ins.VFY_PWD:
            return self._vfy_pwd(args)
        if not self.verified:
            return self._ack(C.Confirm.PASS_VERIFY)
        op = _INSTRUCTIONS.get(ins)
        out = op(self, args) if op is not None else None
        # an unknown instruction, or a known one with malformed parameters
        return out if out is not None else self._ack(C.Confirm.PACKET_RECEIVE_ERR)

    # ---- one method per instruction: the answer, or None for malformed parameters -------
    def _vfy_pwd(self, args: bytes) -> list[bytes]:
        if len(args) != 4:
            return self._ack(C.Confirm.PACKET_RECEIVE_ERR)
        self.verified = struct.unpack(">I", args)[0] == self.password
        return self._ack(C.Confirm.OK if self.verified else C.Confirm.PASS_FAIL)

    def _read_sys_para(self, args: bytes) -> list[bytes] | None:
        sp = C.SysPara(0, self.system_id, self.capacity, self.security_level, self.address, self.packet_size,
                       (self.baudrate or 57600) // 9600 * 9600)
        return self._ack(C.Confirm.OK, sp.encode())

    def _set_sys_para(self, args: bytes) -> list[bytes] | None:
        if len(args) != 2:
            return None
        param, value = args
        if param == 5 and 1 <= value <= 5:
            self.security_level = value
        elif param == 6 and value <= 3:
            self.packet_size = C.PACKET_SIZES[value]
        elif param != 4:
            return self._ack(C.Confirm.INVALID_REG)
        return self._ack(C.Confirm.OK)

    def _set_pwd(self, args: bytes) -> list[bytes] | None:
        if len(args) != 4:
            return None
        self.password = struct.unpack(">I", args)[0]
        return self._ack(C.Confirm.OK)

    def _template_num(self, args: bytes) -> list[bytes] | None:
        return self._ack(C.Confirm.OK, struct.pack(">H", len(self.library)))

    def _read_index_table(self, args: bytes) -> list[bytes] | None:
        if len(args) != 1:
            return None
        bits = bytearray(32)
        for page in self.library:
            if page // 256 == args[0]:
                bits[(page % 256) // 8] |= 1 << (page % 8)
        return self._ack(C.Confirm.OK, bytes(bits))

    def _get_random(self, args: bytes) -> list[bytes] | None:
        return self._ack(C.Confirm.OK, struct.pack(">I", int(self.rng.integers(0, 2**32))))

    def _gen_img(self, args: bytes) -> list[bytes] | None:
        if self.sensor_error:
            return self._ack(C.Confirm.IMAGE_FAIL)
        if not self.finger_present():
            return self._ack(C.Confirm.NO_FINGER)
        assert self.finger is not None
        person, index, cond = self.finger
        dx, dy, rot, pressure, noise = self._placement()
        if cond == "messy":
            noise = 70.0
        elif cond == "poor":
            pressure = 0.02
        self.image, self.truth = F.Finger(person, index).render(dx, dy, rot, pressure, noise, self.rng)
        self.condition = cond
        return self._ack(C.Confirm.OK)

    def _up_image(self, args: bytes) -> list[bytes] | None:
        if self.sensor_error:
            return self._ack(C.Confirm.UPLOAD_FAIL)
        if self.image is None:
            return self._ack(C.Confirm.INVALID_IMAGE)
        return self._ack(C.Confirm.OK) + self._data(C.pack_image(self.image))

    def _img2tz(self, args: bytes) -> list[bytes] | None:
        if len(args) != 1 or args[0] not in (1, 2):
            return None
        if self.image is None:
            return self._ack(C.Confirm.INVALID_IMAGE)
        if self.condition == "messy":
            return self._ack(C.Confirm.IMAGE_MESSY)
        if self.condition == "poor":
            return self._ack(C.Confirm.FEATURE_FAIL)
        self.buffers[args[0]] = F.pack(F.features(self.truth, self.rng))
        return self._ack(C.Confirm.OK)

    def _match(self, args: bytes) -> list[bytes] | None:
        s = F.score(self.buffers[1], self.buffers[2])
        return self._ack(C.Confirm.OK if s >= self._threshold() else C.Confirm.NO_MATCH, struct.pack(">H", s))

    def _search(self, args: bytes) -> list[bytes] | None:
        if len(args) != 5:
            return None
        buf, start, count = struct.unpack(">BHH", args)
        if buf not in (1, 2):
            return self._ack(C.Confirm.PACKET_RECEIVE_ERR)
        best = (-1, 0)
        for page in sorted(self.library):
            if start <= page < start + count:
                s = F.score(self.buffers[buf], self.library[page])
                if s > best[1]:
                    best = (page, s)
        if best[0] < 0 or best[1] < self._threshold():
            return self._ack(C.Confirm.NOT_FOUND)
        return self._ack(C.Confirm.OK, struct.pack(">HH", *best))

    def _reg_model(self, args: bytes) -> list[bytes] | None:
        if F.score(self.buffers[1], self.buffers[2]) < self._threshold():
            return self._ack(C.Confirm.ENROLL_MISMATCH)
        self.buffers[2] = self.buffers[1]
        return self._ack(C.Confirm.OK)

    def _store(self, args: bytes) -> list[bytes] | None:
        if len(args) != 3:
            return None
        buf, page = struct.unpack(">BH", args)
        if buf not in (1, 2) or page >= self.capacity:
            return self._ack(C.Confirm.BAD_LOCATION)
        self.library[page] = self.buffers[buf]
        return self._ack(C.Confirm.OK)

    def _load_char(self, args: bytes) -> list[bytes] | None:
        if len(args) != 3:
            return None
        buf, page = struct.unpack(">BH", args)
        if buf not in (1, 2) or page not in self.library:
            return self._ack(C.Confirm.DB_RANGE_FAIL)
        self.buffers[buf] = self.library[page]
        return self._ack(C.Confirm.OK)

    def _up_char(self, args: bytes) -> list[bytes] | None:
        if len(args) != 1 or args[0] not in (1, 2):
            return None
        if not self.buffers[args[0]]:
            return self._ack(C.Confirm.UPLOAD_FEATURE_FAIL)
        return self._ack(C.Confirm.OK) + self._data(self.buffers[args[0]])

    def _down_char(self, args: bytes) -> list[bytes] | None:
        if len(args) != 1 or args[0] not in (1, 2):
            return None
        self._receiving = args[0]
        self._incoming = bytearray()
        return self._ack(C.Confirm.OK)

    def _delete_char(self, args: bytes) -> list[bytes] | None:
        if len(args) != 4:
            return None
        page, count = struct.unpack(">HH", args)
        if page + count > self.capacity:
            return self._ack(C.Confirm.DELETE_FAIL)
        for p in range(page, page + count):
            self.library.pop(p, None)
        return self._ack(C.Confirm.OK)

    def _empty(self, args: bytes) -> list[bytes] | None:
        self.library.clear()
        return self._ack(C.Confirm.OK)

    def _threshold(self) -> int:
        """Module-side decision threshold by security level (1 lenient .. 5 strict)."""
        return 20 + 10 * self.security_level


#: the instructions a verified host may send (VfyPwd is answered before the password check)
_INSTRUCTIONS: dict[int, Callable[[FingerprintModule, bytes], list[bytes] | None]] = {
    C.Ins.READ_SYS_PARA: FingerprintModule._read_sys_para, C.Ins.SET_SYS_PARA: FingerprintModule._set_sys_para,
    C.Ins.SET_PWD: FingerprintModule._set_pwd, C.Ins.TEMPLATE_NUM: FingerprintModule._template_num,
    C.Ins.READ_INDEX_TABLE: FingerprintModule._read_index_table, C.Ins.GET_RANDOM: FingerprintModule._get_random,
    C.Ins.GEN_IMG: FingerprintModule._gen_img, C.Ins.UP_IMAGE: FingerprintModule._up_image,
    C.Ins.IMG2TZ: FingerprintModule._img2tz, C.Ins.MATCH: FingerprintModule._match,
    C.Ins.SEARCH: FingerprintModule._search, C.Ins.HIGH_SPEED_SEARCH: FingerprintModule._search,
    C.Ins.REG_MODEL: FingerprintModule._reg_model, C.Ins.STORE: FingerprintModule._store,
    C.Ins.LOAD_CHAR: FingerprintModule._load_char, C.Ins.UP_CHAR: FingerprintModule._up_char,
    C.Ins.DOWN_CHAR: FingerprintModule._down_char, C.Ins.DELETE_CHAR: FingerprintModule._delete_char,
    C.Ins.EMPTY: FingerprintModule._empty,
}
