"""Decoding of caller-supplied images with documented failures (no crash on bad input).

| input | code |
|---|---|
| empty bytes | ``invalidData`` |
| undecodable / corrupt bytes | ``invalidData`` |
| over ``MAX_BYTES`` bytes, over ``MAX_SIDE`` px on a side or over ``MAX_PIXELS`` pixels | ``payloadTooLarge`` |
| fewer than ``MIN_SIDE`` pixels on a side | ``unsupportedData`` |
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt

from gtsdk.errors import ErrorCode, GtsdkError

U8Image = npt.NDArray[np.uint8]

MAX_BYTES = 16 * 1024 * 1024
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
MIN_SIDE = 32


def decode(data: bytes, field: str = "image") -> U8Image:
    """Decode JPEG/PNG/BMP bytes into a BGR uint8 array (OpenCV order)."""
    import cv2

    if not data:
        raise GtsdkError(ErrorCode.INVALID_DATA, "empty image", field=field)
    if len(data) > MAX_BYTES:
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"image larger than {MAX_BYTES} bytes", field=field)
    # read the header first so a decompression bomb is refused before decoding
    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow's bomb warning: our own size check follows
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError:  # never change Pillow's process-wide guard: other modules rely on it
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, "image announces too many pixels", field=field) from None
    except Exception:  # noqa: BLE001 - PIL raises many types for garbage; all mean "not an image"
        raise GtsdkError(ErrorCode.INVALID_DATA, "image cannot be decoded", field=field) from None
    check_size(w, h, field)
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None or arr.ndim != 3:
        raise GtsdkError(ErrorCode.INVALID_DATA, "image cannot be decoded", field=field)
    out: U8Image = np.ascontiguousarray(arr)
    return out


def check_size(w: int, h: int, field: str = "image") -> None:
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"image {w}x{h} exceeds {MAX_SIDE} px / {MAX_PIXELS} pixels",
                         field=field)
    if w < MIN_SIDE or h < MIN_SIDE:
        raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"image {w}x{h} smaller than {MIN_SIDE} px", field=field)


def encode(img: U8Image, fmt: str = "jpeg", quality: int = 92) -> bytes:
    import cv2

    if fmt == "png":
        ok, buf = cv2.imencode(".png", img)
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise GtsdkError(ErrorCode.INTERNAL_ERROR, "image encoding failed")
    return bytes(buf.tobytes())
