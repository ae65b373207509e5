"""Renders a person or an attack as a binocular frame pair (left/RGB + right/NIR) from one face photo.

Geometry (a typical kiosk binocular module): focal length F px, baseline B mm, face at Z0 mm.  The face's
depth comes from the FaceMesh 3-D shape of the photo (z in pixels, 1 px = Z0/F mm at the face), splatted into
a dense depth map; the right view is the left view warped by the disparity F·B/Z.  Attacks replace the depth
by a plane (flat print, phone screen, tilted at random) or a cylinder (bent print), and the NIR view by what
a print (reflects NIR, no pupil glint) or a screen (emits no NIR) shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from gtsdk.vision.pipeline import FaceEngine

F = 600.0  # px
B = 40.0  # mm
Z0 = 500.0  # mm
Z_BG = 1500.0  # mm
W, H = 640, 480
MM_PER_PX = Z0 / F

RIGHT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE_RING = [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]

SPECIES = ("flat_print", "bent_print", "screen", "replay_blink")


@dataclass
class Subject:
    """A face photo composed into a 640×480 frame, with its mesh."""

    frame: Any  # BGR
    lm: Any  # (468, 3) px


def compose(photo: Any, engine: FaceEngine, face_px: float = 180.0, rng: np.random.Generator | None = None) -> Subject:
    faces = engine.faces(photo)
    if not faces:
        raise ValueError("no face in the source photo")
    f = max(faces, key=lambda x: x.detection.width)
    s = face_px / f.detection.width * (rng.uniform(0.9, 1.1) if rng is not None else 1.0)
    c = (f.detection.box[:2] + f.detection.box[2:]) / 2
    jitter = rng.uniform(-30, 30, 2) if rng is not None else np.zeros(2)
    a = np.array([[s, 0, W / 2 + jitter[0] - s * c[0]], [0, s, H / 2 + jitter[1] - s * c[1]]])
    frame = np.asarray(cv2.warpAffine(photo, a, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT),
                       dtype=np.uint8)
    faces = engine.faces(frame)
    if not faces:
        raise ValueError("no face after composing")
    f = max(faces, key=lambda x: x.detection.width)
    return Subject(frame, f.landmarks.astype(np.float64))


def relief_map(lm: Any) -> tuple[Any, Any]:
    """Dense face relief (z px, negative = closer) and a soft face mask from the mesh points."""
    acc = np.zeros((H, W), np.float32)
    wts = np.zeros((H, W), np.float32)
    for x, y, z in lm:
        xi, yi = round(x), round(y)
        if 0 <= xi < W and 0 <= yi < H:
            acc[yi, xi] += z
            wts[yi, xi] += 1
    acc = np.asarray(cv2.GaussianBlur(acc, (0, 0), 6), dtype=np.float32)
    wts = np.asarray(cv2.GaussianBlur(wts, (0, 0), 6), dtype=np.float32)
    z = np.where(wts > 1e-6, acc / np.maximum(wts, 1e-6), 0).astype(np.float32)
    mask = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(lm[FACE_OVAL, :2].astype(np.int32)), 255)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 8)
    # beyond the oval the head curves away: keep the edge depth there
    z = z * soft + (1 - soft) * float(np.percentile(lm[:, 2], 95))
    return z, soft


def close_eyes(frame: Any, lm: Any, amount: float) -> Any:
    """Close the eyelids (amount 0 = open … 1 = closed) by stretching the lid skin over the eye opening."""
    if amount <= 0:
        return frame
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    mapy = ys.copy()
    for ring in (RIGHT_EYE_RING, LEFT_EYE_RING):
        pts = lm[ring, :2]
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        yc, a = (y0 + y1) / 2, max(2.0, (y1 - y0) * 0.75 + 1)
        ew = x1 - x0
        r = a + 0.3 * ew
        xa, xb = int(max(0, x0 - 0.15 * ew)), int(min(W, x1 + 0.15 * ew))
        ya, yb = int(max(0, yc - r)), int(min(H, yc + r + 1))
        gx = xs[ya:yb, xa:xb]
        gy = ys[ya:yb, xa:xb]
        t = np.clip((gx - (x0 - 0.15 * ew)) / (1.3 * ew), 0, 1)
        wx = np.sin(np.pi * t) ** 0.25  # lids meet in the middle first
        am = amount * wx
        d = gy - yc
        ad = np.abs(d)
        closed = a + (r - a) * ad / r
        src = (1 - am) * ad + am * closed
        mapy[ya:yb, xa:xb] = np.where(ad < r, yc + np.sign(d) * src, gy)
    return cv2.remap(frame, xs, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def turn(frame: Any, z: Any, deg: float) -> Any:
    """Approximate head yaw by shifting pixels by sin(yaw)·relief (positive: nose to image right)."""
    if deg == 0:
        return frame
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    zrel = z - float(np.median(z))
    mapx = xs + math.sin(math.radians(deg)) * zrel
    return cv2.remap(frame, mapx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def turned(lm: Any, z: Any, deg: float) -> Any:
    """Where :func:`turn` moves the points *lm* (the inverse of its pixel shift, two fixed-point steps)."""
    if deg == 0:
        return lm
    zrel = z - float(np.median(z))
    k = math.sin(math.radians(deg))
    out = lm.copy()
    for _ in range(2):
        xi = np.clip(np.round(out[:, 0]).astype(int), 0, W - 1)
        yi = np.clip(np.round(lm[:, 1]).astype(int), 0, H - 1)
        out[:, 0] = lm[:, 0] - k * zrel[yi, xi]
    return out


def warp_right(frame: Any, depth_mm: Any) -> Any:
    disp = (F * B / depth_mm).astype(np.float32)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    # the right camera sees scene point x at x - d: sample the left view at x + d (one fixed-point step)
    d1 = cv2.remap(disp, xs + disp, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.remap(frame, xs + d1, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_nir(frame: Any, gain: float = 1.25, offset: float = 20.0) -> Any:
    b, g, r = [frame[:, :, i].astype(np.float32) for i in range(3)]
    nir = (0.15 * b + 0.3 * g + 0.55 * r) * gain + offset
    return np.clip(nir, 0, 255).astype(np.uint8)


#: mean NIR level an auto-exposed module gives a face (of 255): leaves room for the illuminator's pupil glint
NIR_FACE_LEVEL = 140.0


def nir_gain(sub: Subject, gain: float = 1.25, offset: float = 20.0) -> float:
    """:func:`to_nir`'s gain for this person, lowered like a sensor's auto exposure when a brightly lit photo
    would saturate the face (a saturated face has no room for the glint that liveness looks for)."""
    x0, y0 = np.maximum(sub.lm[:, :2].min(axis=0), 0).astype(int)
    x1, y1 = sub.lm[:, :2].max(axis=0).astype(int)
    face = sub.frame[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    if face.size == 0:
        return gain
    raw = float((0.15 * face[:, :, 0] + 0.3 * face[:, :, 1] + 0.55 * face[:, :, 2]).mean())
    return min(gain, max(0.5, (NIR_FACE_LEVEL - offset) / max(raw, 1.0)))


def add_glints(nir: Any, lm: Any, shift: Any) -> Any:
    out = nir.copy()
    for ring in (RIGHT_EYE_RING, LEFT_EYE_RING):
        cx, cy = lm[ring, :2].mean(axis=0)
        x = round(cx - shift(cx, cy))
        cv2.circle(out, (x, round(cy)), 2, 255, -1)
    return out


def noise(img: Any, rng: np.random.Generator, sigma: float = 2.0) -> Any:
    n = rng.normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)


def _script(i: int) -> tuple[float, float]:
    """(eyes closed amount, yaw degrees) of frame i: still, a blink, a turn left and back, a turn right."""
    k = i % 24
    eyes = {8: 0.5, 9: 1.0, 10: 1.0, 11: 0.5}.get(k, 0.0)
    yaw = {14: -12.0, 15: -24.0, 16: -24.0, 17: -12.0, 19: 12.0, 20: 24.0, 21: 24.0, 22: 12.0}.get(k, 0.0)
    return eyes, yaw


def live_clip(sub: Subject, rng: np.random.Generator, nir: bool = True,
              frames: int = 24) -> tuple[list[Any], list[Any]]:
    """A live person: still, a blink, a turn to the left and back, a turn to the right."""
    z, _ = relief_map(sub.lm)
    base_depth = Z0 + z * MM_PER_PX
    gain = nir_gain(sub)
    tilt = rng.uniform(-0.05, 0.05)
    base_depth = base_depth + tilt * (np.arange(W, dtype=np.float32)[None, :] - W / 2) * MM_PER_PX
    left, right = [], []
    for i in range(frames):
        eyes, yaw = _script(i)
        img = close_eyes(sub.frame, sub.lm, eyes)
        img = turn(img, z, yaw)
        lv = noise(img, rng)
        rv = warp_right(img, base_depth)
        if nir:
            def shift(cx: float, cy: float) -> float:
                return float(F * B / base_depth[int(cy), int(cx)])

            # the glints sit on the pupils where the turned head has them; half-open eyes still show them, so
            # a blink hides them for 2 of the 24 frames (fewer than half of the driver's 5-frame window)
            lm = turned(sub.lm, z, yaw)
            rv = add_glints(to_nir(rv, gain), lm, shift) if eyes < 1.0 else to_nir(rv, gain)
            rv = cv2.cvtColor(noise(rv, rng), cv2.COLOR_GRAY2BGR)
        else:
            rv = noise(rv, rng)
        left.append(lv)
        right.append(rv)
    return left, right


def attack_clip(sub: Subject, species: str, rng: np.random.Generator, nir: bool = True,
                frames: int = 24) -> tuple[list[Any], list[Any]]:
    xs = (np.arange(W, dtype=np.float32)[None, :] - W / 2) * MM_PER_PX
    ys = (np.arange(H, dtype=np.float32)[:, None] - H / 2) * MM_PER_PX
    zp = rng.uniform(380, 520)
    if species == "bent_print":
        r = rng.uniform(70, 160)
        xx = np.clip(np.abs(xs), 0, r * 0.98)
        depth = zp + (r - np.sqrt(r * r - xx * xx)) + 0 * ys
        if rng.random() < 0.5:  # bent along the other axis
            yy = np.clip(np.abs(ys), 0, r * 0.98)
            depth = zp + (r - np.sqrt(r * r - yy * yy)) + 0 * xs
    else:
        ax, ay = math.tan(math.radians(rng.uniform(-20, 20))), math.tan(math.radians(rng.uniform(-15, 15)))
        depth = zp + ax * xs + ay * ys
    depth = depth.astype(np.float32)
    # the photo seen by the camera at the print's distance is scaled by Z0/zp; keep it simple and use it as is
    left, right = [], []
    z, _ = relief_map(sub.lm)
    for i in range(frames):
        eyes, yaw = _script(i) if species == "replay_blink" else (0.0, 0.0)
        img = turn(close_eyes(sub.frame, sub.lm, eyes), z, yaw)
        if species in ("screen", "replay_blink"):
            img = np.clip(img.astype(np.float32) * 1.05 + 8, 0, 255).astype(np.uint8)  # backlit panel
        lv = noise(img, rng)
        rv = warp_right(img, depth)
        if nir:
            if species in ("screen", "replay_blink"):
                dark = np.full((H, W), 12, np.uint8)  # LCD/OLED: no NIR emitted, the panel looks black
                rv = cv2.cvtColor(noise(dark, rng, 3.0), cv2.COLOR_GRAY2BGR)
            else:
                # paper reflects 850 nm strongly while most inks lose contrast: a washed-out grey picture
                g = cv2.cvtColor(rv, cv2.COLOR_BGR2GRAY).astype(np.float32)
                washed = np.clip(0.45 * g + 95, 0, 255).astype(np.uint8)
                rv = cv2.cvtColor(noise(washed, rng), cv2.COLOR_GRAY2BGR)
        else:
            rv = noise(rv, rng)
        left.append(lv)
        right.append(rv)
    return left, right
