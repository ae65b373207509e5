"""Pure conversions of the uvc_pair driver (no device I/O): source specs, photo encoding, quality metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from gtsdk.errors import ErrorCode, GtsdkError


def parse_source(spec: str | int) -> int | str:
    """A camera index (``0``, ``"1"``), a device path (``/dev/video2``), a file or an URI (``rtsp://…``)."""
    if isinstance(spec, int):
        if spec < 0:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, "camera index must be >= 0", field="source")
        return spec
    s = str(spec).strip()
    if not s:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "empty camera source", field="source")
    if s.isdigit():
        return int(s)
    return s


def encode_photo(frame: Any, fmt: str, quality: int = 92) -> bytes:
    from gtsdk.vision.image import encode

    return encode(frame, "png" if fmt == "png" else "jpeg", quality)


def quality(frame: Any, box: Any | None = None, pose: tuple[float, float] | None = None) -> dict[str, float]:
    """Sharpness (variance of the Laplacian), brightness (mean grey 0–255) of the face (or whole frame),
    face size (box width, px) and pose (yaw, pitch, degrees)."""
    import cv2

    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    roi = gray
    if box is not None:
        h, w = gray.shape[:2]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
        if x1 - x0 > 4 and y1 - y0 > 4:
            roi = gray[y0:y1, x0:x1]
    out = {
        "sharpness": round(float(cv2.Laplacian(roi, cv2.CV_64F).var()), 2),
        "brightness": round(float(np.mean(roi)), 2),
        "faceSize": round(float(box[2] - box[0]), 1) if box is not None else 0.0,
    }
    if pose is not None:
        out["yaw"], out["pitch"] = round(pose[0], 1), round(pose[1], 1)
    return out
