"""The simulated person: one face for the camera, the ID card holder and the travel document's chip.

By default the portrait of astronaut Eileen Collins that scikit-image ships inside its wheel
(``skimage/data/astronaut.png``; a NASA photograph, "no known copyright restrictions, released into the public
domain" per ``skimage.data.astronaut``), found through the package's files with :mod:`importlib.resources` —
so a clone of the repository with nothing beside it has a person in front of its camera, and the face on the
card matches the face the camera sees.  ``GTSDK_SIM_FACE`` names another photo.
"""

from __future__ import annotations

import importlib.resources
import io
import os
from pathlib import Path
from typing import Any

#: the bundled portrait, in the scikit-image package
PACKAGE, RESOURCE = "skimage", ("data", "astronaut.png")


def bundled_photo() -> Path | None:
    """scikit-image's astronaut portrait, or None when scikit-image is not installed."""
    try:
        res = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        return None
    for part in RESOURCE:
        res = res / part
    path = Path(str(res))
    return path if path.is_file() else None


def default_photo() -> Path | None:
    """The simulated person's photo: ``GTSDK_SIM_FACE`` if set, else the bundled portrait."""
    env = os.environ.get("GTSDK_SIM_FACE")
    if env:
        p = Path(env)
        return p if p.is_file() else None
    return bundled_photo()


def missing_reason() -> str:
    env = os.environ.get("GTSDK_SIM_FACE")
    if env:
        return f"GTSDK_SIM_FACE names no readable file ({env})"
    return "no face photo for the simulated person: install scikit-image (its bundled astronaut portrait is the " \
           "default) or set GTSDK_SIM_FACE to a photo"


def _face_box(rgb: Any) -> tuple[int, int, int, int] | None:
    """Largest frontal face (x, y, w, h) by OpenCV's bundled Haar cascade, or None."""
    try:
        import cv2
        import cv2.data
        import numpy as np
    except ImportError:
        return None
    gray = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return int(x), int(y), int(w), int(h)


def portrait(photo: Path, size: tuple[int, int] = (120, 150), fmt: str = "JPEG", **save: Any) -> bytes:
    """A document-style portrait of *photo*: head and shoulders, width:height of *size*, encoded as *fmt*."""
    from PIL import Image

    with Image.open(photo) as im:
        rgb = im.convert("RGB")
    W, H = rgb.size
    aspect = size[0] / size[1]
    box = _face_box(rgb)
    if box is not None:  # face about half the width, eyes a little above the middle (ICAO-like framing)
        x, y, w, h = box
        cw = min(W, int(w * 2.0))
        ch = min(H, int(cw / aspect))
        cx, cy = x + w / 2, y + h * 0.6
        left = int(min(max(cx - cw / 2, 0), W - cw))
        top = int(min(max(cy - ch / 2, 0), H - ch))
    else:  # centred, upper part
        cw = min(W, int(H * aspect))
        ch = int(cw / aspect)
        left, top = (W - cw) // 2, 0
    crop = rgb.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, fmt, **save)
    return buf.getvalue()
