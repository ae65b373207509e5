"""Liveness checks of a binocular (RGB + NIR, or left + right) camera, each with a score and a threshold.

* ``stereo_relief`` — landmarks seen by both cameras; their horizontal disparity is fitted by a plane plus a
  quadratic surface (what a flat, tilted or bent print or a screen can produce) and the residual is projected on
  the face's own relief (FaceMesh depth).  A face leaves several pixels of relief, a print almost none.
  Principle: rectified disparity d = f·B/Z, a plane gives d affine in (x, y) (Di Martino et al.,
  arXiv:1804.06702; Larey et al., arXiv:2410.24031; Wang et al., ICB 2013).
* ``nir_presence`` — a face must be found in the NIR frame where the RGB frame predicts it, with skin
  reflectance in a calibrated band: LCD/OLED screens emit no near infrared (Zhang et al., FG 2011).
* ``nir_glint`` — the illuminator's specular glint in each pupil (absent on prints and screens).
* ``challenge`` — a randomised blink / head-turn prompt with a time limit, from the eye aspect ratio
  (Soukupová & Čech, CVWW 2016) and head yaw.
* ``pad_rgb`` — optional passive model slot (vendor ONNX, e.g. MiniFASNet family: BGR 80×80, output index 1 = live).

Scores are reported with their thresholds; the application decides (clause 9.4.1 e).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gtsdk.vision.pipeline import INTERIOR, LEFT_EYE, RIGHT_EYE, U8, Face

F64 = npt.NDArray[np.float64]

DEFAULT_THRESHOLDS = {
    "stereo_relief": 0.45,  # px of disparity relief explained by the face shape (after the quadratic fit)
    "nir_presence": 0.5,
    "nir_glint": 0.5,
    "challenge": 0.5,
    "pad_rgb": 0.5,
}


@dataclass
class CheckResult:
    name: str
    score: float
    threshold: float
    detail: str = ""
    data: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold


def _design(x: F64, y: F64) -> F64:
    """Plane + quadratic surface: what a flat, tilted or bent (cylindrical) print or screen produces."""
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)


def _residual(a: F64, v: F64) -> F64:
    coef, *_ = np.linalg.lstsq(a, v, rcond=None)
    r: F64 = v - a @ coef
    return r


def _gray(img: U8) -> npt.NDArray[np.float32]:
    if img.ndim == 2:
        return img.astype(np.float32)
    # closest to a NIR response for skin: red-weighted grey
    g: npt.NDArray[np.float32] = (0.15 * img[:, :, 0] + 0.3 * img[:, :, 1] + 0.55 * img[:, :, 2]).astype(np.float32)
    return g


def landmark_disparities(left_img: U8, right_img: U8, left: Face, right: Face | None,
                         idx: list[int]) -> tuple[F64, F64]:
    """Disparity at each landmark by normalised cross-correlation along the (rectified) row.

    The right view's own landmarks only give the coarse shift; re-detected landmarks carry errors that
    are correlated with the face shape, block matching measures the image itself.  Returns (disparity, ok)."""

    w = max(left.detection.width, 1.0)
    pts = left.landmarks[idx, :2].astype(np.float64)
    d0 = float(np.median(pts[:, 0] - right.landmarks[idx, 0].astype(np.float64))) if right is not None else 0.0
    p = max(4, int(0.08 * w))
    srch = max(4, int(0.06 * w))
    # grey only the region the matching touches (both views, same rows)
    h_full, w_full = left_img.shape[:2]
    margin = p + srch + 2
    ox = max(0, int(min(pts[:, 0].min(), pts[:, 0].min() - d0)) - margin)
    oy = max(0, int(pts[:, 1].min()) - margin)
    ex = min(w_full, int(max(pts[:, 0].max(), pts[:, 0].max() - d0)) + margin + 1)
    ey = min(h_full, int(pts[:, 1].max()) + margin + 1)
    gl, gr = _gray(left_img[oy:ey, ox:ex]), _gray(right_img[oy:ey, ox:ex])
    pts = pts - np.array([ox, oy])
    h_img, w_img = gl.shape[:2]
    disp = np.zeros(len(idx))
    ok = np.zeros(len(idx))
    xi = np.rint(pts[:, 0]).astype(np.int64)
    yi = np.rint(pts[:, 1]).astype(np.int64)
    xr = np.rint(pts[:, 0] - d0).astype(np.int64)
    inside = ((yi - p >= 0) & (yi + p + 1 <= h_img) & (xi - p >= 0) & (xi + p + 1 <= w_img)
              & (xr - srch - p >= 0) & (xr + srch + p + 1 <= w_img))
    k = np.nonzero(inside)[0]
    if k.size == 0:
        return disp, ok
    # TM_CCOEFF_NORMED of every landmark patch at every shift along its row, in a few array operations:
    # numerator = Σ (T − mean T)·W (one batched matrix product), window variance from running sums
    n, size, shifts = k.size, 2 * p + 1, 2 * srch + 1
    span = np.arange(-p, p + 1)
    rows = (yi[k, None] + span[None, :])[:, :, None]
    tpl = gl[rows, (xi[k, None] + span[None, :])[:, None, :]]
    strip = gr[rows, (xr[k] - srch - p)[:, None, None] + np.arange(size + shifts - 1)[None, None, :]]
    tc = (tpl - tpl.mean(axis=(1, 2), keepdims=True)).reshape(n, size * size, 1)
    win = np.lib.stride_tricks.sliding_window_view(strip, size, axis=2)  # (n, P, shifts, P)
    mats = np.ascontiguousarray(win.transpose(0, 2, 1, 3)).reshape(n, shifts, size * size)
    num = np.matmul(mats, tc)[:, :, 0]
    c1 = np.concatenate([np.zeros((n, 1), np.float64), np.cumsum(strip.sum(axis=1), axis=1, dtype=np.float64)], 1)
    c2 = np.concatenate([np.zeros((n, 1), np.float64),
                         np.cumsum((strip.astype(np.float64) ** 2).sum(axis=1), axis=1)], 1)
    s1, s2 = c1[:, size:] - c1[:, :-size], c2[:, size:] - c2[:, :-size]
    var_w = np.maximum(s2 - s1 * s1 / (size * size), 0.0)
    var_t = (tc[:, :, 0].astype(np.float64) ** 2).sum(axis=1)
    res = num / np.maximum(np.sqrt(var_t[:, None] * var_w), 1e-6)
    j = res.argmax(axis=1)
    r_ = np.arange(n)
    best = res[r_, j]
    tstd = np.sqrt(var_t / (size * size))
    good = (best >= 0.6) & (j > 0) & (j < shifts - 1) & (tstd >= 2.0)
    jj = np.clip(j, 1, shifts - 2)
    a, b, c = res[r_, jj - 1], res[r_, jj], res[r_, jj + 1]
    den = a - 2 * b + c
    sub = np.where(den != 0, 0.5 * (a - c) / np.where(den != 0, den, 1.0), 0.0)
    # right-view position of the point = xr − srch + j + sub
    disp[k] = np.where(good, pts[k, 0] - (xr[k] - srch + j + sub), 0.0)
    ok[k] = good.astype(np.float64)
    return disp, ok


def stereo_relief(left_img: U8, right_img: U8, left: Face, right: Face | None,
                  threshold: float | None = None) -> CheckResult:
    """Depth relief of the face from rectified disparities at interior landmarks (left x − right x)."""
    thr = DEFAULT_THRESHOLDS["stereo_relief"] if threshold is None else threshold
    idx = list(INTERIOR)
    disp, ok = landmark_disparities(left_img, right_img, left, right, idx)
    sel = ok > 0
    if sel.sum() < 20:
        return CheckResult("stereo_relief", 0.0, thr, f"only {int(sel.sum())} landmarks matched in both views")
    pl = left.landmarks[idx].astype(np.float64)[sel]
    disp = disp[sel]
    w = max(left.detection.width, 1.0)
    cx, cy = pl[:, 0].mean(), pl[:, 1].mean()
    x, y = (pl[:, 0] - cx) / w, (pl[:, 1] - cy) / w
    relief = -pl[:, 2] / w  # FaceMesh z: smaller is closer → larger disparity
    a = _design(x, y)
    rd, rt = _residual(a, disp), _residual(a, relief)
    denom = float(rt @ rt)
    beta = float(rt @ rd) / denom if denom > 0 else 0.0
    spread = float(np.percentile(rt, 95) - np.percentile(rt, 5))
    score = beta * spread
    rms = float(np.sqrt(np.mean(rd ** 2)))
    return CheckResult("stereo_relief", round(score, 4), thr,
                       f"disparity {float(np.median(disp)):.1f} px, {int(sel.sum())} points, residual rms {rms:.2f} px",
                       {"disparity": float(np.median(disp)), "points": float(sel.sum()), "residual_rms": rms})


def second_view(left: Face, dets: list[Any]) -> Face | None:
    """The face in the second (right/NIR) view from its detection alone.

    The detection nearest the left face's row is taken; its keypoints (eyes, nose, mouth) give the coarse
    disparity and the left landmarks shifted by it stand in for the second view's landmarks (the views are
    rectified, so a point stays on its row).  Saves running the landmark model twice per frame pair."""
    if not dets:
        return None
    cy = float(left.detection.box[1] + left.detection.box[3]) / 2
    det = min(dets, key=lambda d: abs(float(d.box[1] + d.box[3]) / 2 - cy))
    d0 = float(np.median(left.detection.keypoints[:4, 0] - det.keypoints[:4, 0]))
    lm = left.landmarks.copy()
    lm[:, 0] -= d0
    return Face(det, lm, 1.0)


def _eye_centre(face: Face, eye: tuple[int, ...]) -> F64:
    c: F64 = face.landmarks[list(eye), :2].astype(np.float64).mean(axis=0)
    return c


def nir_check(nir: U8, rgb_face: Face, nir_face: Face | None, *, max_shift: float = 0.6,
              band: tuple[float, float] = (35.0, 235.0), threshold: float | None = None,
              glint_threshold: float | None = None) -> tuple[CheckResult, CheckResult]:
    """NIR presence/reflectance and pupil glint.  ``nir`` is the NIR frame (grey or BGR)."""
    thr = DEFAULT_THRESHOLDS["nir_presence"] if threshold is None else threshold
    gthr = DEFAULT_THRESHOLDS["nir_glint"] if glint_threshold is None else glint_threshold
    if nir_face is None:
        return (CheckResult("nir_presence", 0.0, thr, "no face in the NIR frame"),
                CheckResult("nir_glint", 0.0, gthr, "no face in the NIR frame"))
    gray = nir if nir.ndim == 2 else nir[:, :, 1]  # a NIR camera's BGR output has equal channels
    rb, nb = rgb_face.detection.box, nir_face.detection.box
    w = max(rgb_face.detection.width, 1.0)
    dx = abs(float((nb[0] + nb[2]) - (rb[0] + rb[2])) / 2) / w
    dy = abs(float((nb[1] + nb[3]) - (rb[1] + rb[3])) / 2) / w
    size_ratio = nir_face.detection.width / w
    placed = dx <= max_shift and dy <= 0.25 and 0.7 <= size_ratio <= 1.4
    h_img, w_img = gray.shape[:2]
    x0, y0 = int(max(0, nb[0])), int(max(0, nb[1]))
    x1, y1 = int(min(w_img, nb[2])), int(min(h_img, nb[3]))
    roi = gray[y0:y1, x0:x1]
    mean = float(roi.mean()) if roi.size else 0.0
    lo, hi = band
    reflect = 1.0 if lo <= mean <= hi else 0.0
    presence = float(nir_face.detection.score) * float(nir_face.presence) * reflect * (1.0 if placed else 0.0)
    pres = CheckResult("nir_presence", round(presence, 4), thr,
                       f"face {'at' if placed else 'away from'} the predicted place, NIR level {mean:.0f}",
                       {"shift": dx, "level": mean})
    # glint: brightest pixel near each pupil against the eye region's median
    iod = float(np.linalg.norm(_eye_centre(nir_face, LEFT_EYE) - _eye_centre(nir_face, RIGHT_EYE))) or 1.0
    r = max(2, int(iod * 0.12))
    import cv2

    contrasts = []
    k = max(3, int(iod * 0.06) | 1)
    for eye in (RIGHT_EYE, LEFT_EYE):
        ex, ey = _eye_centre(nir_face, eye)
        win = np.ascontiguousarray(gray[max(0, int(ey) - r):int(ey) + r + 1, max(0, int(ex) - r):int(ex) + r + 1],
                                   dtype=np.uint8)
        if win.size == 0:
            contrasts.append(0.0)
            continue
        # white top-hat keeps only bright spots smaller than the kernel: the glint, not the sclera
        hat = cv2.morphologyEx(win, cv2.MORPH_TOPHAT, np.ones((k, k), np.uint8))
        contrasts.append(float(hat.max()) / 255.0)
    glint = min(1.0, min(contrasts) / 0.7)  # threshold 0.5 ⇔ a spot ≥ 35 % of full scale above its surround
    return pres, CheckResult("nir_glint", round(glint, 4), gthr, f"pupil glint contrast {min(contrasts):.2f}",
                             {"contrast": min(contrasts)})


class Challenge:
    """A blink or head-turn prompt evaluated over frames (feed :meth:`update` with each frame's face)."""

    KINDS = ("blink", "turn_left", "turn_right")

    def __init__(self, kind: str, threshold: float | None = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.threshold = DEFAULT_THRESHOLDS["challenge"] if threshold is None else threshold
        self.ears: list[float] = []
        self.yaws: list[float] = []
        self.best = 0.0

    def update(self, face: Face) -> bool:
        self.ears.append(face.ear())
        self.yaws.append(face.pose()[0])
        if self.kind == "blink":
            base = float(np.percentile(self.ears, 80))
            low = min(self.ears[-3:]) if len(self.ears) >= 2 else base
            reopened = self.ears[-1] > 0.8 * base
            drop = 1.0 - low / base if base > 0 else 0.0
            # a blink is a dip below ~60 % of the open-eye EAR followed by re-opening
            if reopened:
                self.best = max(self.best, min(1.0, drop / 0.7))
        else:
            sign = -1.0 if self.kind == "turn_left" else 1.0
            delta = sign * (self.yaws[-1] - self.yaws[0])
            self.best = max(self.best, min(1.0, delta / 30.0))  # 15° turn = threshold 0.5
        return self.best >= self.threshold

    def result(self) -> CheckResult:
        return CheckResult("challenge", round(self.best, 4), self.threshold,
                           f"{self.kind} over {len(self.ears)} frames")


def pad_rgb(session: Any, manifest: Any, img: U8, face: Face) -> CheckResult:
    """Run a passive anti-spoof model slot: crop the face box × ``crop.scale``, resize, index ``output.live``."""
    import cv2

    size = manifest.input.get("size", [80, 80])
    scale = float(manifest.crop.get("scale", 2.7))
    b = face.detection.box.astype(np.float64)
    c = (b[:2] + b[2:]) / 2
    side = max(b[2] - b[0], b[3] - b[1]) * scale
    s = size[0] / side
    a = np.array([[s, 0, size[0] / 2 - s * c[0]], [0, s, size[1] / 2 - s * c[1]]])
    crop = np.asarray(cv2.warpAffine(img, a, (int(size[0]), int(size[1]))), dtype=np.uint8)
    from gtsdk.vision.pipeline import _prep

    out = np.asarray(session.run(None, {session.get_inputs()[0].name: _prep(crop, manifest)})[0]).reshape(-1)
    if manifest.output.get("softmax", False):
        e = np.exp(out - out.max())
        out = e / e.sum()
    live = float(out[int(manifest.output.get("live", 1))])
    return CheckResult("pad_rgb", round(live, 4), float(manifest.threshold or 0.5), f"model {manifest.name}")


def combine(checks: list[CheckResult]) -> tuple[bool, float]:
    """Suggested live when every check passes; combined score = min over checks of score/(2·threshold), ≤ 1."""
    if not checks:
        return False, 0.0
    norm = [min(1.0, c.score / (2 * c.threshold)) if c.threshold > 0 else float(c.passed) for c in checks]
    return all(c.passed for c in checks), round(max(0.0, min(norm)), 4)
