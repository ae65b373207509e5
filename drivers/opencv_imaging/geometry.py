"""Image operations on BGR arrays (OpenCV 4.x; no I/O): document detection, perspective
crop, deskew, rotation, enhancement for printing and redaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .codec import order_corners, quad_size

WORK_SIDE = 1000  # detection and skew estimation run on a copy scaled to this longer side


def _small(img: Any, side: int = WORK_SIDE) -> tuple[Any, float]:
    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s
    return img, 1.0


def gray(img: Any) -> Any:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


@dataclass
class Detection:
    corners: Any | None  # 4x2 float32 (tl, tr, br, bl) in input pixels
    area_ratio: float
    skew_degrees: float


def detect_document(img: Any) -> Detection:
    """The largest convex quadrilateral that stands out from its background (a sheet or a
    card on the scanner glass or in a camera picture)."""
    small, s = _small(img)
    g = cv2.GaussianBlur(gray(small), (5, 5), 0)
    h, w = g.shape
    best: tuple[float, Any] | None = None
    # two edge maps: Canny for contrasty scenes, Otsu for a bright sheet on a dark ground
    _t, otsu = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    edges = cv2.dilate(cv2.Canny(g, 50, 150), np.ones((3, 3), np.uint8))
    for src in (otsu, edges):
        contours, _ = cv2.findContours(src, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
            area = cv2.contourArea(c)
            if area < 0.1 * w * h or area > 0.985 * w * h:
                continue
            peri = cv2.arcLength(c, True)
            approx = None
            for eps in (0.02, 0.03, 0.05):
                a = cv2.approxPolyDP(c, eps * peri, True)
                if len(a) == 4 and cv2.isContourConvex(a):
                    approx = a
                    break
            if approx is None:
                continue
            if best is None or area > best[0]:
                best = (area, approx.reshape(4, 2).astype(np.float32))
    if best is None:
        return Detection(None, 0.0, 0.0)
    q = order_corners(best[1]) / s
    tl, tr = q[0], q[1]
    skew = float(np.degrees(np.arctan2(tr[1] - tl[1], tr[0] - tl[0])))
    return Detection(q, best[0] / (w * h), skew)


def warp(img: Any, corners: Any) -> Any:
    """Perspective-corrected crop of the quadrilateral *corners* (any order)."""
    q = order_corners(corners)
    w, h = quad_size(q)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def skew_angle(img: Any, limit: float = 15.0) -> float:
    """Skew of text lines in degrees (clockwise positive), by maximising the variance of
    the row profile of the ink over candidate angles (projection-profile method)."""
    small, _ = _small(img, 800)
    g = gray(small)
    _t, ink = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if cv2.countNonZero(ink) < 50:
        return 0.0
    h, w = ink.shape
    centre = (w / 2, h / 2)

    def score(a: float) -> float:
        m = cv2.getRotationMatrix2D(centre, a, 1.0)
        r = cv2.warpAffine(ink, m, (w, h), flags=cv2.INTER_NEAREST)
        prof = r.sum(axis=1, dtype=np.float64)
        return float(np.var(prof))

    coarse = np.arange(-limit, limit + 0.01, 0.5)
    best = max(coarse, key=score)
    fine = np.arange(best - 0.6, best + 0.61, 0.05)
    scores = np.array([score(a) for a in fine])
    near = fine[scores >= scores.max() * 0.9995]  # a plateau of equal scores: take its middle
    best = float((near.min() + near.max()) / 2)
    # rotating by +best (counter-clockwise in OpenCV) levels the text: the skew is clockwise by best
    return float(round(best, 2)) if abs(best) > 0.05 else 0.0


def rotate_bound(img: Any, degrees_cw: float, border: tuple[int, int, int] = (255, 255, 255)) -> Any:
    """Turn clockwise by any angle, growing the canvas so nothing is cut."""
    k = round(degrees_cw) % 360
    if abs(degrees_cw - round(degrees_cw)) < 1e-6 and k % 90 == 0:
        return {0: img, 90: cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE), 180: cv2.rotate(img, cv2.ROTATE_180),
                270: cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)}[k]
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees_cw, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_CUBIC, borderValue=border)


def text_axis_vertical(img: Any) -> bool:
    """True when text lines run vertically (the page is turned by 90° or 270°)."""
    small, _ = _small(img, 800)
    _t, ink = cv2.threshold(gray(small), 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # smear along each axis: text lines merge into long runs only along their own direction
    rows = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, 25), np.uint8)).sum(axis=1, dtype=np.float64)
    cols = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((25, 1), np.uint8)).sum(axis=0, dtype=np.float64)
    return bool(np.var(cols) / max(np.mean(cols) ** 2, 1e-9) > 1.3 * np.var(rows) / max(np.mean(rows) ** 2, 1e-9))


def enhance(img: Any, mode: str) -> Any:
    if mode == "color":
        lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
        l_, a, b = cv2.split(lab)
        l_ = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(l_)
        out = cv2.cvtColor(cv2.merge((l_, a, b)), cv2.COLOR_LAB2BGR)
        # grey-world white balance
        means = out.reshape(-1, 3).mean(axis=0)
        gain = means.mean() / np.maximum(means, 1.0)
        return np.clip(out * gain, 0, 255).astype(np.uint8)
    g = gray(img)
    if mode == "grayscale":
        return cv2.normalize(g, np.empty_like(g), 0, 255, cv2.NORM_MINMAX)
    # flatten the background: divide by a heavily smoothed copy (shadows, yellowed paper)
    k = max(15, (max(g.shape) // 40) | 1)
    bg = cv2.morphologyEx(g, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    flat = cv2.divide(g, bg, scale=255)
    if mode == "bw":
        _t, bw = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        return bw
    # print: push the paper to white and the ink to black, keep anti-aliasing
    lo, hi = np.percentile(flat, 1), np.percentile(flat, 60)
    if hi - lo < 1:
        return flat
    out = np.clip((flat.astype(np.float32) - lo) * 255.0 / (hi - lo), 0, 255)
    return out.astype(np.uint8)


def redact(img: Any, rects: list[tuple[int, int, int, int]], style: str) -> Any:
    out = img.copy()
    for x, y, w, h in rects:
        roi = out[y:y + h, x:x + w]
        if roi.size == 0:
            continue
        if style == "blur":
            k = max(3, (max(w, h) // 4) | 1)
            roi[:] = cv2.GaussianBlur(roi, (k, k), 0)
            roi[:] = cv2.GaussianBlur(roi, (k, k), 0)
        elif style == "pixelate":
            cells = max(1, min(w, h) // 12)
            tiny = cv2.resize(roi, (max(1, w // cells), max(1, h // cells)), interpolation=cv2.INTER_AREA)
            roi[:] = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_NEAREST)
        else:
            roi[:] = 0
    return out
