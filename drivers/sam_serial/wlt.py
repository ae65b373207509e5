"""Hook for a licensed WLT photo decoder (the WLT format is proprietary; no open decoder exists).

The setting ``wlt_decoder`` names a shared library and a function,
``/opt/vendor/libwlt2bmp.so:unpack``, called through ctypes as::

    int fn(const unsigned char *wlt /* 1024 bytes */, unsigned char *out, int flag)

``out`` is a buffer of ``wlt_output_size`` bytes (38862 = a 102x126 24-bit BMP with
padded rows, docs/protocols.md 1.7); the call succeeded when it returns ``wlt_success``.
Whatever comes back is re-encoded to PNG when Pillow can read it, else passed on.
"""

from __future__ import annotations

import ctypes
import io
import threading
from collections.abc import Callable

from gtsdk.errors import ErrorCode, GtsdkError

WltDecoder = Callable[[bytes], bytes]
_lock = threading.Lock()


def load(spec: str, *, output_size: int = 38862, success: int = 1, flag: int = 0) -> WltDecoder:
    """Load ``path.so:function`` (``configError`` when it cannot be loaded)."""
    path, _, fname = spec.rpartition(":")
    if not path or not fname:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "wlt_decoder must be '<library path>:<function>'",
                         field="wltDecoder")
    try:
        lib = ctypes.CDLL(path)
        fn = getattr(lib, fname)
    except (OSError, AttributeError) as e:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"cannot load WLT decoder: {type(e).__name__}",
                         field="wltDecoder") from None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int

    def decode(wlt: bytes) -> bytes:
        out = ctypes.create_string_buffer(output_size)
        with _lock:  # vendor libraries are rarely thread-safe
            rc = fn(bytes(wlt), out, flag)
        if rc != success:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"WLT decoder returned {rc}")
        return to_png(out.raw)

    return decode


def to_png(image: bytes) -> bytes:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(image)) as im:
            buf = io.BytesIO()
            im.save(buf, "PNG")
            return buf.getvalue()
    except Exception:  # noqa: BLE001 - untrusted bytes may fail Pillow any way; handed on as they came
        return image
