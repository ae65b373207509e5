"""Fictional documents for the virtual chip: MRZ, DG1, DG2 face image, EF.COM and a signed EF.SOD.

The MRZ data are fictional; the DG2 face is the simulated person's (see ``simulators/_person.py``)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

from gtsdk.drivers.icao_pcsc import codec, mrz

from .pki import TestPki, build_sod


def face_image(fmt: str = "jpeg", size: tuple[int, int] = (120, 150)) -> bytes:
    """The simulated person's portrait (the face the camera simulator shows), or a drawn face without one."""
    from .._person import default_photo

    photo = default_photo()
    if photo is not None:
        try:
            return _portrait(str(photo), photo.stat().st_mtime_ns, fmt, size)
        except OSError:  # unreadable photo: fall back to the drawing
            pass
    return _drawn_face(fmt, size)


@functools.lru_cache(maxsize=8)
def _portrait(photo: str, mtime: int, fmt: str, size: tuple[int, int]) -> bytes:
    """Made once per photo and format: decoding a large photo and finding the face would cost every insert."""
    from .._person import portrait

    save: dict[str, object] = {"quality": 85} if fmt == "jpeg" else {}
    return portrait(Path(photo), size, "JPEG2000" if fmt == "jpeg2000" else "JPEG", **save)


def _drawn_face(fmt: str, size: tuple[int, int]) -> bytes:
    """An obviously synthetic face."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", size, (210, 225, 240))
    d = ImageDraw.Draw(im)
    w, h = size
    d.ellipse((w * 0.2, h * 0.15, w * 0.8, h * 0.8), fill=(235, 200, 170))
    d.ellipse((w * 0.33, h * 0.38, w * 0.43, h * 0.46), fill=(40, 40, 40))
    d.ellipse((w * 0.57, h * 0.38, w * 0.67, h * 0.46), fill=(40, 40, 40))
    d.arc((w * 0.38, h * 0.5, w * 0.62, h * 0.68), 20, 160, fill=(150, 60, 60), width=3)
    buf = io.BytesIO()
    im.save(buf, "JPEG2000" if fmt == "jpeg2000" else "JPEG", **({"quality": 85} if fmt == "jpeg" else {}))
    return buf.getvalue()


#: ICAO 9303 specimen data (fictional person of the fictional state Utopia)
PASSPORT_MRZ = mrz.build_td3("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F", "320415",
                             "ZE184226B")
#: one-line 往来港澳通行证 (sample of Johann356/readinfo main.cpp, check digits verified)
CS_MRZ = "CSC531580954<2612199<9712087<2"
CD_MRZ = mrz.build_cs("CD", "T12345678", "310630", "880101")
CR_MRZ = mrz.build_cr("CR", "H12345678", "300101", "M", "900101", "1234567890", "CHAN", "TAI MAN")
CT_MRZ = mrz.build_cr("CT", "T87654321", "300101", "F", "920202", "0987654321", "LIN", "MEI")

SAMPLES = {"passport": PASSPORT_MRZ, "cs": CS_MRZ, "cd": CD_MRZ, "cr": CR_MRZ, "ct": CT_MRZ}


@dataclass
class Document:
    mrz_text: str
    files: dict[int, bytes]
    photo: bytes
    photo_format: str

    @property
    def bac_key(self) -> str:
        return str(mrz.parse(self.mrz_text).bac_key)


def make_document(mrz_text: str, pki: TestPki, photo_format: str = "jpeg", photo: bytes | None = None,
                  tamper_dg1: bool = False) -> Document:
    img = photo or face_image(photo_format)
    dg1 = codec.build_dg1(mrz_text)
    dg2 = codec.build_dg2(img, photo_format, 120, 150)
    sod = build_sod(pki, {1: dg1, 2: dg2})
    if tamper_dg1:  # changed after signing: passive authentication must notice
        dg1 = codec.build_dg1(mrz_text.replace("<", "X", 1))
    files = {codec.EF_COM: codec.build_com([1, 2]), 0x0101: dg1, 0x0102: dg2, codec.EF_SOD: sod}
    return Document(mrz_text, files, img, photo_format)
