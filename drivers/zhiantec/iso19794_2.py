"""ISO/IEC 19794-2:2005 finger minutiae records, built on the host from the module's image.

The module's own template (UpChar) is a proprietary format that no public document describes, so
the interoperable template is computed here from the uploaded 256×288 image: binarise, thin
(Zhang–Suen), crossing-number minutiae, orientation from the structure tensor.

Record layout (ISO/IEC 19794-2:2005 §7; cross-checked with robertvazan/fingerprintio-java
``Iso19794p2v2005Template``/``Minutia``)::

    "FMR\\0" " 20\\0" | length u32 | capture equipment u16 | width u16 | height u16 | xres u16 | yres u16
    | views u8 | reserved u8
    view: position u8 | view(4 bits) impression(4 bits) | quality u8 | count u8
          count × (type(2) x(14) u16 | reserved(2) y(14) u16 | angle u8 (360/256°) | quality u8)
          | extended data length u16
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from gtsdk.errors import ErrorCode, GtsdkError

MAGIC = b"FMR\x00 20\x00"
ENDING, BIFURCATION, OTHER = 1, 2, 0


@dataclass(frozen=True)
class Minutia:
    x: int
    y: int
    angle: float  # degrees, counter-clockwise from the x axis
    kind: int  # ENDING / BIFURCATION / OTHER
    quality: int = 60


def _box(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (edge-padded), via an integral image."""
    p = np.pad(a.astype(np.float64), r + 1, mode="edge")
    c = p.cumsum(0).cumsum(1)
    k = 2 * r + 1
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    out: np.ndarray = s[: a.shape[0], : a.shape[1]] / (k * k)
    return out


def thin(b: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of a boolean image (vectorised)."""
    img = np.pad(b.astype(np.uint8), 1)
    for _ in range(60):
        changed = False
        for step in (0, 1):
            p2 = img[:-2, 1:-1]
            p3 = img[:-2, 2:]
            p4 = img[1:-1, 2:]
            p5 = img[2:, 2:]
            p6 = img[2:, 1:-1]
            p7 = img[2:, :-2]
            p8 = img[1:-1, :-2]
            p9 = img[:-2, :-2]
            c = img[1:-1, 1:-1]
            nb = [p2, p3, p4, p5, p6, p7, p8, p9]
            bsum = sum(x.astype(np.int16) for x in nb)
            seq = [*nb, p2]
            trans = sum(((seq[i] == 0) & (seq[i + 1] == 1)).astype(np.int16) for i in range(8))
            cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0) if step == 0 else (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            rm = (c == 1) & (bsum >= 2) & (bsum <= 6) & (trans == 1) & cond
            if rm.any():
                changed = True
                img[1:-1, 1:-1][rm] = 0
        if not changed:
            break
    out: np.ndarray = img[1:-1, 1:-1].astype(bool)
    return out


def foreground(img: np.ndarray) -> np.ndarray:
    """Where the finger is: high local contrast (ridges) in 16×16 neighbourhoods."""
    f = img.astype(np.float64)
    var = _box(f * f, 8) - _box(f, 8) ** 2
    mask: np.ndarray = var > 150.0
    return mask


def quality(img: np.ndarray) -> int:
    """0..100: share of the sensor covered by clear ridges times ridge contrast (a coarse NFIQ-like score)."""
    f = img.astype(np.float64)
    mask = foreground(img)
    if not mask.any():
        return 0
    std = float(np.sqrt(max(0.0, (_box(f * f, 4) - _box(f, 4) ** 2)[mask].mean())))
    coverage = float(mask.mean())
    return int(max(0, min(100, round(100 * min(1.0, coverage / 0.6) * min(1.0, std / 60.0)))))


def extract(img: np.ndarray, max_minutiae: int = 60) -> list[Minutia]:
    """Minutiae of a grey image (dark ridges on a light background)."""
    f = img.astype(np.float64)
    mask = foreground(img)
    # erode the mask so the finger's outline does not produce ridge endings
    inner = _box(mask.astype(np.float64), 10) > 0.999
    smooth = _box(f, 1)
    ridges = (smooth < _box(f, 6)) & mask
    skel = thin(ridges)
    s = np.pad(skel.astype(np.int16), 1)
    ring = [s[:-2, 1:-1], s[:-2, 2:], s[1:-1, 2:], s[2:, 2:], s[2:, 1:-1], s[2:, :-2], s[1:-1, :-2], s[:-2, :-2]]
    cn = sum(np.abs(ring[i] - ring[(i + 1) % 8]) for i in range(8)) // 2
    # orientation (ridge direction) from the smoothed structure tensor
    gy, gx = np.gradient(smooth)
    gxx, gyy, gxy = _box(gx * gx, 7), _box(gy * gy, 7), _box(gx * gy, 7)
    ridge_dir = 0.5 * np.arctan2(2 * gxy, gxx - gyy) + np.pi / 2
    coh = np.sqrt((gxx - gyy) ** 2 + 4 * gxy ** 2) / (gxx + gyy + 1e-9)
    cand: list[tuple[int, int, int]] = []
    for kind, value in ((ENDING, 1), (BIFURCATION, 3)):
        ys, xs = np.nonzero(skel & inner & (cn == value))
        cand += [(int(x), int(y), kind) for x, y in zip(xs, ys, strict=True)]
    # spurious pairs (breaks, bridges, spurs) lie close together: drop both
    keep = [True] * len(cand)
    for i in range(len(cand)):
        for j in range(i + 1, len(cand)):
            if abs(cand[i][0] - cand[j][0]) < 7 and abs(cand[i][1] - cand[j][1]) < 7:
                keep[i] = keep[j] = False
    out: list[Minutia] = []
    h, w = skel.shape
    for (x, y, kind), k in zip(cand, keep, strict=True):
        if not k:
            continue
        theta = float(ridge_dir[y, x])
        # resolve the 180° ambiguity: point away from the ridge's centre of mass (endings)
        y0, y1, x0, x1 = max(0, y - 6), min(h, y + 7), max(0, x - 6), min(w, x + 7)
        py, px = np.nonzero(skel[y0:y1, x0:x1])
        if len(px):
            mx, my = float(px.mean() + x0 - x), float(py.mean() + y0 - y)
            # image y grows downwards; angles are counter-clockwise
            if math.cos(theta) * mx - math.sin(theta) * my > 0:
                theta += math.pi
        q = int(max(1, min(100, round(100 * float(coh[y, x])))))
        out.append(Minutia(x, y, math.degrees(theta) % 360.0, kind, q))
    out.sort(key=lambda m: -m.quality)
    return out[:max_minutiae]


def encode(minutiae: list[Minutia], *, width: int, height: int, resolution_ppcm: int = 197, quality: int = 0,
           finger_position: int = 0, impression: int = 0) -> bytes:
    """One-view ISO/IEC 19794-2:2005 record (no extended data)."""
    ms = minutiae[:255]
    body = bytearray()
    for m in ms:
        if not (0 <= m.x < width and 0 <= m.y < height):
            raise GtsdkError(ErrorCode.INVALID_DATA, "minutia outside the image")
        body += struct.pack(">HHBB", (m.kind << 14) | m.x, m.y, round(m.angle / 360.0 * 256) % 256,
                            max(0, min(100, m.quality)))
    view = struct.pack(">BBBB", finger_position, impression & 0x0F, max(0, min(100, quality)), len(ms)) + body
    view += b"\x00\x00"
    total = 24 + len(view)
    head = MAGIC + struct.pack(">IHHHHHBB", total, 0, width, height, resolution_ppcm, resolution_ppcm, 1, 0)
    return head + view


@dataclass(frozen=True)
class Record:
    width: int
    height: int
    resolution: tuple[int, int]
    quality: int
    minutiae: list[Minutia]


def decode(data: bytes) -> Record:
    """Parse a one-view record (``invalidData`` on anything malformed)."""
    try:
        if data[:8] != MAGIC:
            raise ValueError("not an ISO/IEC 19794-2:2005 record")
        total, _equip, w, h, xr, yr, views, _ = struct.unpack(">IHHHHHBB", data[8:24])
        if total != len(data) or views < 1:
            raise ValueError("record length or view count inconsistent")
        _pos, _imp, q, n = struct.unpack(">BBBB", data[24:28])
        ms: list[Minutia] = []
        off = 28
        for _ in range(n):
            xv, yv, a, mq = struct.unpack(">HHBB", data[off:off + 6])
            ms.append(Minutia(xv & 0x3FFF, yv & 0x3FFF, a * 360.0 / 256, xv >> 14, mq))
            off += 6
        (ext,) = struct.unpack(">H", data[off:off + 2])
        if off + 2 + ext > len(data):
            raise ValueError("extended data runs past the record")
        return Record(w, h, (xr, yr), q, ms)
    except (struct.error, ValueError) as e:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"ISO/IEC 19794-2 record: {e}") from None
