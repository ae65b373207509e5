"""The simulated vendor ID-card reader SDK (``libacme_idr.so``): build it, put cards on it, break it.

``build(folder)`` compiles ``acme_idreader.c`` with the system C compiler (nothing
binary is committed).  :class:`AcmeReaderSimulation` follows gtsdk's simulator
contract (:mod:`gtsdk.sim`): ``actions()`` / ``control()`` change the simulated
world — a card on the reader, the reader unplugged, a crash (SIGSEGV) or a hang
inside a named vendor function — through the state folder the library reads.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.sim import unknown_action

SOURCE = Path(__file__).with_name("acme_idreader.c")
LIBRARY = "libacme_idr.so"
FUNCTIONS = ("InitComm", "CloseComm", "Authenticate", "Read_Content", "Read_Content_Path", "ReadBaseMsg",
             "GetPeopleName", "GetPeopleSex", "GetPeopleIDCode", "GetSAMID")


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def build(folder: Path) -> Path:
    """``folder/libacme_idr.so`` built from the C source (reused while the source is unchanged)."""
    cc = compiler()
    if cc is None:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "no C compiler (cc/gcc) to build the simulated vendor library")
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / LIBRARY
    stamp = folder / (LIBRARY + ".sha256")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return out
    tmp = folder / (LIBRARY + ".tmp")
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(tmp), str(SOURCE)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"building the simulated vendor library failed: {proc.stderr[-500:]}")
    tmp.replace(out)
    stamp.write_text(digest)
    return out


def photo_bmp() -> bytes:
    """A 102 x 126 24-bit BMP standing in for what a licensed WLT decoder writes (zp.bmp)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (102, 126), (235, 240, 250))
    d = ImageDraw.Draw(img)
    d.ellipse((26, 20, 76, 80), fill=(225, 190, 160))
    d.rectangle((16, 86, 86, 126), fill=(40, 60, 110))
    buf = io.BytesIO()
    img.save(buf, "BMP")
    return buf.getvalue()


class AcmeReaderSimulation:
    """The vendor library's world; ``settings`` reach it through a native_bridge mapping."""

    module = "idcard"
    driver = "native_bridge"

    def __init__(self, workdir: Path, mapping: Path | None = None, card: str | None = "resident") -> None:
        from gtsdk.simulators.idcard.cards import samples

        self.cards = samples()
        self.workdir = workdir
        self.state = workdir / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.library = build(workdir / "lib")
        self.mapping = mapping
        self.settings: dict[str, Any] = {"params": {"library": str(self.library), "state": str(self.state)}}
        if mapping is not None:
            self.settings["mapping"] = str(mapping)
        self.card: str | None = None
        if card:
            self.insert(card)

    def env(self) -> dict[str, str]:
        return {"ACME_IDR_STATE": str(self.state)}

    def describe(self) -> str:
        return f"simulated vendor library {self.library} (state {self.state}); card: {self.card or 'none'}"

    def actions(self) -> dict[str, str]:
        return {
            "insert": f"put a sample card on the reader: card={'|'.join(self.cards)}",
            "remove": "take the card away",
            "unplug": "the reader vanishes (InitComm -1, calls -2)",
            "replug": "the reader comes back",
            "crash": "the next call of function=<name> dies with SIGSEGV (one-shot)",
            "hang": "the next call of function=<name> never returns (one-shot)",
            "delay": "every call takes seconds=<s>",
            "clear": "no fault, no delay",
            "state": "show the simulated state",
        }

    def _write(self, name: str, data: bytes | str) -> None:
        p = self.state / name
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        tmp.replace(p)  # the library never sees half a file

    def _drop(self, name: str) -> None:
        try:
            (self.state / name).unlink()
        except FileNotFoundError:
            pass

    def insert(self, key: str) -> None:
        if key not in self.cards:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown card {key!r}; known: {sorted(self.cards)}", field="card")
        c = self.cards[key]
        self._write("card.wlt", c.photo[:1024].ljust(1024, b"\x00"))
        self._write("card.bmp", photo_bmp())
        self._write("card.txt", c.text)  # last: its presence is "a card on the reader"
        self.card = key

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "insert":
            self.insert(str(params.get("card", "resident")))
        elif action == "remove":
            for n in ("card.txt", "card.wlt", "card.bmp"):
                self._drop(n)
            self.card = None
        elif action == "unplug":
            self._write("unplugged", "")
        elif action == "replug":
            self._drop("unplugged")
        elif action in ("crash", "hang"):
            fn = str(params.get("function", "Read_Content"))
            if fn not in FUNCTIONS:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown function {fn!r}; known: {', '.join(FUNCTIONS)}",
                                 field="function")
            self._write("fault", f"{action} {fn}\n")
        elif action == "delay":
            self._write("delay_ms", str(int(float(params.get("seconds", 0.0)) * 1000)))
        elif action == "clear":
            self._drop("fault")
            self._drop("delay_ms")
        elif action != "state":
            raise unknown_action(self, action)
        return self.state_info()

    def state_info(self) -> dict[str, Any]:
        fault = (self.state / "fault").read_text().strip() if (self.state / "fault").exists() else None
        return {"card": self.card, "plugged": not (self.state / "unplugged").exists(), "fault": fault}

    def stop(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)


def start(workdir: Path, mapping: Path | None = None) -> AcmeReaderSimulation:
    workdir.mkdir(parents=True, exist_ok=True)
    return AcmeReaderSimulation(workdir, mapping)
