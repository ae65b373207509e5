"""Pure parts of the imaging driver: image bytes <-> arrays with size limits, corner
ordering, and the reading of a machine readable zone out of OCR text.

MRZ layouts and check digits: ICAO Doc 9303 part 3 (4.9, check digits with weights
7-3-1) and parts 4-6 (TD3 2×44, TD2 2×36, TD1 3×30).  OCR engines confuse O/0, I/1,
B/8, S/5, Z/2, G/6 and read the filler ``<`` as ``く``/``«``/``〈``; each field of the
layout is letters or digits, so the confusions are undone per field, and the check
digits say whether that worked.
"""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

import numpy as np

from gtsdk.errors import ErrorCode, GtsdkError

#: decoded-size limit (decompression bombs); a 600-dpi A4 scan is 35 MP
DEFAULT_MAX_PIXELS = 60_000_000


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, field: str = "image") -> Any:
    """JPEG/PNG/BMP/TIFF/WebP bytes → BGR uint8 array (EXIF orientation applied).

    ``invalidData`` for anything that is not an image, ``payloadTooLarge`` when the
    header announces more than *max_pixels* (checked before any pixel is decoded)."""
    import cv2
    from PIL import Image

    if not data:
        raise GtsdkError(ErrorCode.INVALID_DATA, "empty image", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, "image announces too many pixels", field=field) from None
    except Exception:  # noqa: BLE001 - untrusted bytes may fail Pillow any way; reported as invalidData
        raise GtsdkError(ErrorCode.INVALID_DATA, "not a decodable image", field=field) from None
    if w * h > max_pixels:
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"image has {w}x{h} pixels; the limit is {max_pixels}",
                         field=field)
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise GtsdkError(ErrorCode.INVALID_DATA, "not a decodable image", field=field)
    return img


def encode(img: Any, fmt: str, *, quality: int = 90) -> bytes:
    import cv2

    if fmt == "png":
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise GtsdkError(ErrorCode.INTERNAL_ERROR, "image encoding failed")
    return bytes(buf.tobytes())


def order_corners(pts: Any) -> Any:
    """Four points → float32 array ordered top-left, top-right, bottom-right, bottom-left."""
    p = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    c = p.mean(axis=0)
    ang = np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0])
    p = p[np.argsort(ang)]  # clockwise in image coordinates, starting somewhere
    start = int(np.argmin(p.sum(axis=1)))  # top-left has the smallest x+y
    return np.roll(p, -start, axis=0)


def quad_size(q: Any) -> tuple[int, int]:
    """Output width/height of a perspective crop: the longer of each pair of opposite edges."""
    tl, tr, br, bl = np.asarray(q, dtype=np.float64)
    w = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    h = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    return max(1, round(w)), max(1, round(h))


# ---- machine readable zone ---------------------------------------------------------------
_FILLER = str.maketrans({"く": "<", "«": "<", "〈": "<", "‹": "<", "＜": "<", "〔": "<", "(": "<", "{": "<",
                         "[": "<"})
_TO_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "Z": "2", "S": "5",
                           "G": "6", "B": "8", "T": "7"})
_TO_ALPHA = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "7": "T", "4": "A"})
_MRZ_LINE = re.compile(r"^[A-Z0-9<]{28,46}$")
WEIGHTS = (7, 3, 1)


def check_digit(s: str) -> str:
    total = 0
    for i, c in enumerate(s):
        v = ord(c) - 48 if c.isdigit() else (ord(c) - 55 if "A" <= c <= "Z" else 0)
        total += v * WEIGHTS[i % 3]
    return str(total % 10)


def clean_mrz_line(text: str) -> str:
    t = text.translate(_FILLER).upper().replace(" ", "")
    return re.sub(r"[^A-Z0-9<]", "<", t)


def find_mrz_lines(texts: list[str]) -> list[str]:
    """The MRZ lines among OCR lines (top to bottom order kept), as cleaned text."""
    out = []
    for t in texts:
        c = clean_mrz_line(t)
        if _MRZ_LINE.match(c) and (c.count("<") >= 2 or len(c) >= 30):
            out.append(c)
    return out


def _fit(line: str, n: int) -> str:
    """Pad a line the OCR shortened (lost fillers at the end) or cut one it lengthened."""
    if len(line) < n:
        return line + "<" * (n - len(line))
    return line[:n]


# field layouts: (start, end, kind) with kind a = letters/filler, n = digits, x = anything
_TD3_L2 = [(0, 9, "x"), (9, 10, "n"), (10, 13, "a"), (13, 19, "n"), (19, 20, "n"), (20, 21, "a"), (21, 27, "n"),
           (27, 28, "n"), (28, 42, "x"), (42, 43, "x"), (43, 44, "n")]
_TD1_L1 = [(0, 2, "a"), (2, 5, "a"), (5, 14, "x"), (14, 15, "n"), (15, 30, "x")]
_TD1_L2 = [(0, 6, "n"), (6, 7, "n"), (7, 8, "a"), (8, 14, "n"), (14, 15, "n"), (15, 18, "a"), (18, 29, "x"),
           (29, 30, "n")]


def _apply(line: str, layout: list[tuple[int, int, str]]) -> str:
    out = list(line)
    for a, b, kind in layout:
        seg = line[a:b]
        if kind == "n":
            seg = seg.translate(_TO_DIGIT)
        elif kind == "a":
            seg = seg.translate(_TO_ALPHA)
        out[a:b] = seg
    return "".join(out)


def _name_field(field: str) -> tuple[str, str]:
    sur, _, given = field.strip("<").partition("<<")
    return sur.replace("<", " ").strip(), given.replace("<", " ").strip()


def parse_mrz(lines: list[str]) -> dict[str, Any] | None:
    """Parse the MRZ found in OCR *lines*; None if there is none.  The dict has the keys of
    ``MrzResult``; ``valid`` says whether every check digit matched."""
    found = find_mrz_lines(lines)
    if not found:
        return None
    # the longest line tells the layout (OCR loses trailing fillers, rarely whole fields)
    n = max(len(ln) for ln in found)
    if n >= 40 and len(found) >= 2:
        l1, l2 = _fit(found[-2], 44).translate(_TO_ALPHA), _apply(_fit(found[-1], 44), _TD3_L2)
        return _td3(l1, l2)
    if 34 <= n <= 39 and len(found) >= 2:
        l1, l2 = _fit(found[-2], 36).translate(_TO_ALPHA), _fit(found[-1], 36)
        return _td2(l1, _apply(l2, [*_TD3_L2[:8], (28, 35, "x"), (35, 36, "n")]))
    if n <= 33 and len(found) >= 3:
        l1, l2, l3 = (_fit(x, 30) for x in found[-3:])
        return _td1(_apply(l1, _TD1_L1), _apply(l2, _TD1_L2), l3.translate(_TO_ALPHA))
    return {"format": "unknown", "lines": found, "valid": False, "error": "no complete MRZ layout"}


def _checks(pairs: list[tuple[str, str]]) -> str | None:
    for value, cd in pairs:
        if check_digit(value) != cd:
            return "check digit mismatch"
    return None


def _td3(l1: str, l2: str) -> dict[str, Any]:
    doc, dcd, nat, bir, bcd, sex, exp, ecd = l2[0:9], l2[9], l2[10:13], l2[13:19], l2[19], l2[20], l2[21:27], l2[27]
    opt, ocd, comp = l2[28:42], l2[42], l2[43]
    pairs = [(doc, dcd), (bir, bcd), (exp, ecd), (doc + dcd + bir + bcd + exp + ecd + opt + ocd, comp)]
    if ocd != "<":
        pairs.append((opt, ocd))
    err = _checks(pairs)
    sur, given = _name_field(l1[5:])
    return {"format": "TD3", "lines": [l1, l2], "valid": err is None, "error": err,
            "document_type": l1[:2].rstrip("<"), "issuing_state": l1[2:5].rstrip("<"),
            "document_number": doc.rstrip("<"), "nationality": nat.rstrip("<"), "birth_date": bir,
            "expiry_date": exp, "sex": sex if sex != "<" else None, "surname": sur, "given_names": given}


def _td2(l1: str, l2: str) -> dict[str, Any]:
    doc, dcd, nat, bir, bcd, sex, exp, ecd = l2[0:9], l2[9], l2[10:13], l2[13:19], l2[19], l2[20], l2[21:27], l2[27]
    opt, comp = l2[28:35], l2[35]
    err = _checks([(doc, dcd), (bir, bcd), (exp, ecd), (doc + dcd + bir + bcd + exp + ecd + opt, comp)])
    sur, given = _name_field(l1[5:])
    return {"format": "TD2", "lines": [l1, l2], "valid": err is None, "error": err,
            "document_type": l1[:2].rstrip("<"), "issuing_state": l1[2:5].rstrip("<"),
            "document_number": doc.rstrip("<"), "nationality": nat.rstrip("<"), "birth_date": bir,
            "expiry_date": exp, "sex": sex if sex != "<" else None, "surname": sur, "given_names": given}


def _td1(l1: str, l2: str, l3: str) -> dict[str, Any]:
    doc, dcd = l1[5:14], l1[14]
    bir, bcd, sex, exp, ecd, nat, comp = l2[0:6], l2[6], l2[7], l2[8:14], l2[14], l2[15:18], l2[29]
    err = _checks([(doc, dcd), (bir, bcd), (exp, ecd), (l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], comp)])
    sur, given = _name_field(l3)
    return {"format": "TD1", "lines": [l1, l2, l3], "valid": err is None, "error": err,
            "document_type": l1[:2].rstrip("<"), "issuing_state": l1[2:5].rstrip("<"),
            "document_number": doc.rstrip("<"), "nationality": nat.rstrip("<"), "birth_date": bir,
            "expiry_date": exp, "sex": sex if sex != "<" else None, "surname": sur, "given_names": given}
