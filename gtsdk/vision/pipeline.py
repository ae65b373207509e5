"""detect → landmarks → align → embed → compare, all onnxruntime + OpenCV + numpy.

Frames are BGR uint8 arrays (OpenCV order); each model's manifest says which
colour order, layout and normalisation it wants.  Nothing here decides: the
comparison returns distance, similarity, threshold and a *suggested* match
(clause 9.4.1 e: the application makes the decision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.vision import models as mdl

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

# FaceMesh indices (MediaPipe canonical face mesh): eyes for EAR (Soukupová & Čech, CVWW 2016)
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
NOSE_TIP = 1
#: interior landmarks (brows, eyes, nose, lips) that are the same physical points in both views
INTERIOR = tuple(sorted({
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380, 159, 386,  # eyes
    168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 129, 358, 48, 278,  # nose
    61, 291, 0, 17, 13, 14, 37, 267, 84, 314,  # lips
    50, 280, 101, 330, 205, 425, 117, 346,  # cheeks (inside the outline)
}))


def _prep(img_bgr: U8, m: mdl.Manifest) -> F32:
    inp = m.input
    x = img_bgr if inp.get("colour", "RGB") == "BGR" else img_bgr[:, :, ::-1]
    mean = np.asarray(inp.get("mean", [0, 0, 0]), dtype=np.float32)
    std = np.asarray(inp.get("std", [1, 1, 1]), dtype=np.float32)
    t = (x.astype(np.float32) - mean) / std
    if inp.get("layout", "NCHW") == "NCHW":
        t = t.transpose(2, 0, 1)
    out: F32 = np.ascontiguousarray(t[None], dtype=np.float32)
    return out


def _sigmoid(x: F32) -> F32:
    out: F32 = (1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))).astype(np.float32)
    return out


@dataclass
class Detection:
    box: F32  # x0, y0, x1, y1 in frame pixels
    keypoints: F32  # (6, 2): right eye, left eye, nose tip, mouth, right ear, left ear
    score: float

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])


@dataclass
class Face:
    detection: Detection
    landmarks: F32  # (468, 3): x, y in frame pixels, z in the same pixel scale (smaller = closer)
    presence: float
    extras: dict[str, Any] = field(default_factory=dict)

    def points5(self, spec: dict[str, Any]) -> F64:
        """The embedder's 5 alignment points as weighted mesh points (manifest ``crop.from_mesh``)."""
        pts = []
        for entry in spec["from_mesh"]:
            idx = np.asarray(entry["indices"], dtype=np.int64)
            w = np.asarray(entry["weights"], dtype=np.float64)
            pts.append((self.landmarks[idx, :2].astype(np.float64) * w[:, None]).sum(axis=0))
        return np.asarray(pts, dtype=np.float64)

    def ear(self) -> float:
        """Mean eye aspect ratio of both eyes."""
        vals: list[float] = []
        for eye in (RIGHT_EYE, LEFT_EYE):
            p = self.landmarks[list(eye), :2].astype(np.float64)
            v = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
            h = 2.0 * np.linalg.norm(p[0] - p[3])
            vals.append(float(v / h) if h > 0 else 0.0)
        return float(np.mean(vals))

    def pose(self) -> tuple[float, float]:
        """Approximate (yaw, pitch) in degrees from 2-D landmark geometry (positive yaw: nose to image right)."""
        lm = self.landmarks[:, :2].astype(np.float64)
        eye_r = lm[list(RIGHT_EYE)].mean(axis=0)
        eye_l = lm[list(LEFT_EYE)].mean(axis=0)
        iod = float(np.linalg.norm(eye_l - eye_r)) or 1.0
        ux = (eye_l - eye_r) / iod
        uy = np.array([-ux[1], ux[0]])
        mid = (eye_l + eye_r) / 2
        nose = lm[NOSE_TIP] - mid
        # at frontal pose the nose tip lies ~0.0 iod sideways and ~0.75 iod below the eye line
        yaw = math.degrees(math.asin(max(-1.0, min(1.0, float(nose @ ux) / iod * 1.6))))
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, (float(nose @ uy) / iod - 0.75) * 1.6))))
        return yaw, pitch


class Detector:
    def __init__(self, m: mdl.Manifest, threads: int = 1) -> None:
        if m.output.get("format") != "blazeface":
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"detector output format {m.output.get('format')!r} unsupported")
        self.m = m
        self.sess = mdl.session(m, threads)
        self.size = int(m.input["size"][0])
        self.min_score = float(m.threshold)
        self.iou = float(m.extra.get("nms_iou", 0.3))
        centers = []
        for stride, per_cell in m.extra["anchors"]:
            g = math.ceil(self.size / stride)
            ys, xs = np.mgrid[0:g, 0:g]
            c = np.stack([(xs + 0.5) / g, (ys + 0.5) / g], axis=-1).reshape(-1, 1, 2)
            centers.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
        self.anchors = np.concatenate(centers).astype(np.float32)
        self.in_name = m.input.get("name") or self.sess.get_inputs()[0].name

    def __call__(self, img: U8) -> list[Detection]:
        import cv2

        h, w = img.shape[:2]
        s = self.size / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        canvas = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        ox, oy = (self.size - nw) // 2, (self.size - nh) // 2
        canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        outs = self.sess.run(None, {self.in_name: _prep(canvas, self.m)})
        raw = outs[int(self.m.output.get("boxes", 0))][0]
        scores = _sigmoid(outs[int(self.m.output.get("scores", 1))][0, :, 0])
        keep = np.nonzero(scores >= self.min_score)[0]
        if keep.size == 0:
            return []
        raw = raw[keep] / self.size
        a = self.anchors[keep]
        cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
        bw, bh = raw[:, 2], raw[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
        # canvas-normalised → frame pixels
        boxes = (boxes * self.size - np.array([ox, oy, ox, oy])) / s
        kps = (kps * self.size - np.array([ox, oy])) / s
        order = np.argsort(-scores[keep])
        dets: list[Detection] = []
        for i in order:
            b = boxes[i]
            if any(_iou(b, d.box) > self.iou for d in dets):
                continue
            dets.append(Detection(b.astype(np.float32), kps[i].astype(np.float32), float(scores[keep][i])))
        return dets


def _iou(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class Landmarker:
    def __init__(self, m: mdl.Manifest, threads: int = 1) -> None:
        if m.output.get("format") != "facemesh468":
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"landmarker format {m.output.get('format')!r} unsupported")
        self.m = m
        self.sess = mdl.session(m, threads)
        self.size = int(m.input["size"][0])
        self.scale = float(m.crop.get("scale", 1.5))
        self.in_name = m.input.get("name") or self.sess.get_inputs()[0].name

    def __call__(self, img: U8, det: Detection) -> Face:
        import cv2

        k0, k1 = det.keypoints[0].astype(np.float64), det.keypoints[1].astype(np.float64)
        theta = math.atan2(k1[1] - k0[1], k1[0] - k0[0])
        c = (det.box[:2].astype(np.float64) + det.box[2:].astype(np.float64)) / 2
        side = max(float(det.box[2] - det.box[0]), float(det.box[3] - det.box[1])) * self.scale
        u = side / self.size
        cos, sin = math.cos(theta) * u, math.sin(theta) * u
        # crop (u, v) → frame: c + R(theta) · ((u, v) - size/2) · side/size
        a = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
        a[:, 2] = c - a[:, :2] @ np.array([self.size / 2, self.size / 2])
        crop = np.asarray(cv2.warpAffine(img, a, (self.size, self.size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_CONSTANT), dtype=np.uint8)
        outs = self.sess.run(None, {self.in_name: _prep(crop, self.m)})
        pts = outs[int(self.m.output.get("landmarks", 0))].reshape(-1, 3).astype(np.float64)
        presence = float(_sigmoid(np.asarray(outs[int(self.m.output.get("presence", 1))], np.float32).reshape(-1))[0])
        xy = pts[:, :2] @ a[:, :2].T + a[:, 2]
        lm = np.concatenate([xy, pts[:, 2:3] * u], axis=1).astype(np.float32)
        return Face(det, lm, presence)


def similarity_transform(src: F64, dst: F64) -> F64:
    """Least-squares similarity (Umeyama 1991) mapping src points onto dst; 2×3 matrix."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0 ** 2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    r = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / var) if var > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    out: F64 = np.hstack([scale * r, t[:, None]])
    return out


def align(img: U8, pts5: F64, crop: dict[str, Any]) -> U8:
    """Face chip as dlib ``get_face_chip_details(shape, size, padding)`` + ``extract_image_chip``."""
    import cv2

    size = int(crop["size"])
    pad = float(crop["padding"])
    tmpl = (np.asarray(crop["template"], dtype=np.float64) + pad) / (2 * pad + 1) * size
    a = similarity_transform(tmpl, pts5)  # chip → frame
    scale = float(math.hypot(a[0, 0], a[1, 0]))
    src = img
    # like dlib, shrink with an image pyramid first when the chip is much smaller than the face
    while scale > 2.0 and min(src.shape[:2]) > 2 * size:
        src = np.asarray(cv2.pyrDown(src), dtype=np.uint8)  # output pixel i is centred on input pixel 2i
        a = a / 2.0
        scale /= 2.0
    chip: U8 = np.asarray(cv2.warpAffine(src, a, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_CONSTANT), dtype=np.uint8)
    return chip


class Embedder:
    def __init__(self, m: mdl.Manifest, threads: int = 1) -> None:
        self.m = m
        self.sess = mdl.session(m, threads)
        self.in_name = m.input.get("name") or self.sess.get_inputs()[0].name

    def __call__(self, chip: U8) -> F32:
        out = self.sess.run(None, {self.in_name: _prep(chip, self.m)})[0]
        emb: F32 = np.asarray(out, dtype=np.float32).reshape(-1)
        return emb


@dataclass
class Comparison:
    distance: float
    similarity: float
    threshold: float
    suggested_match: bool
    model: str


def compare(a: F32, b: F32, metric: str, threshold: float, model: str = "") -> Comparison:
    """Distance and a similarity in [0, 1] that is 0.5 at the threshold (l2: 1 - d / 2t; cosine: 1 - d)."""
    if metric == "cosine":
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        d = 1.0 - float(a @ b) / (na * nb) if na and nb else 2.0
        sim = max(0.0, min(1.0, 1.0 - d / (2 * threshold)))
    else:
        d = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
        sim = max(0.0, min(1.0, 1.0 - d / (2 * threshold)))
    return Comparison(d, sim, threshold, d <= threshold, model)


class FaceEngine:
    """The configured slots plus the operations built on them; lazily builds missing built-in models."""

    def __init__(self, slots: dict[str, str] | None = None, model_dir: Path | None = None, threads: int = 1) -> None:
        conf = dict(mdl.DEFAULTS)
        conf.update(slots or {})
        self.model_dir = model_dir
        self.detector = Detector(mdl.resolve(conf["detector"], model_dir), threads)
        self.landmarker = Landmarker(mdl.resolve(conf["landmarker"], model_dir), threads)
        self.embedder = Embedder(mdl.resolve(conf["embedder"], model_dir), threads)
        self.crop = dict(self.embedder.m.crop)
        self.crop.setdefault("from_mesh", DEFAULT_FROM_MESH)
        self.threshold = float(self.embedder.m.threshold)
        self.metric = self.embedder.m.metric or "l2"

    def faces(self, img: U8, *, max_faces: int = 4) -> list[Face]:
        import cv2

        dets = self.detector(img)
        for frac in (0.2, 0.4) if not dets and max(img.shape[:2]) < 400 else ():
            # tight crops (ID-card photos) leave the detector no margin: retry on a padded copy
            p = int(max(img.shape[:2]) * frac)
            dets = self.detector(np.asarray(cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT), dtype=np.uint8))
            for d in dets:
                d.box -= p
                d.keypoints -= p
            if dets:
                break
        out = []
        for det in dets[:max_faces]:
            f = self.landmarker(img, det)
            if f.presence >= float(self.landmarker.m.threshold):
                out.append(f)
        return out

    def single_face(self, img: U8, field: str = "image", live: bool = False) -> Face:
        """Exactly one face or a documented error (live: noMedia / userError; given image: invalidData)."""
        faces = self.faces(img)
        if not faces:
            if live:
                raise GtsdkError(ErrorCode.NO_MEDIA, "no face in view")
            raise GtsdkError(ErrorCode.INVALID_DATA, "no face found in the image", field=field)
        if len(faces) > 1:
            big = sorted(faces, key=lambda f: -f.detection.width)
            # a much smaller background face is tolerated; two similar faces are ambiguous
            if big[1].detection.width > 0.6 * big[0].detection.width:
                if live:
                    raise GtsdkError(ErrorCode.USER_ERROR, "more than one face in view")
                raise GtsdkError(ErrorCode.INVALID_DATA, "more than one face in the image", field=field)
            return big[0]
        return faces[0]

    def embed(self, img: U8, face: Face) -> F32:
        return self.embedder(align(img, face.points5(self.crop), self.crop))

    def compare_embeddings(self, a: F32, b: F32, threshold: float | None = None) -> Comparison:
        return compare(a, b, self.metric, threshold or self.threshold, self.embedder.m.name)


#: mesh → dlib sp5 points; replaced by the fitted weights in the embedder manifest (``crop.from_mesh``)
DEFAULT_FROM_MESH: list[dict[str, list[float]]] = [
    {"indices": [263], "weights": [1.0]},
    {"indices": [362], "weights": [1.0]},
    {"indices": [33], "weights": [1.0]},
    {"indices": [133], "weights": [1.0]},
    {"indices": [2], "weights": [1.0]},
]
