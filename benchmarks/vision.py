"""Face matching accuracy, liveness error rates and latency (run: python -m benchmarks.vision).

* FMR / FNMR (ISO/IEC 19795-1) on ``<repo>/../shared/data/faces/pairs`` (master.csv, 300 labelled pairs) at the
  default threshold, as is and with one side degraded to an ID-card-like photo (102×126 px, JPEG q60);
  the same pairs through dlib (dlib-bin HOG + sp5 + ResNet) as the baseline.
* Liveness APCER per attack species and BPCER (ISO/IEC 30107-3) on the camera simulator's presentations,
  through the real ``uvc_pair`` driver.
* Latency per 640×480 frame, one thread: detect + landmarks + embedding (+ second view + liveness),
  next to dlib on the same frames (ratio).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PAIRS = (REPO / ".." / "shared" / "data" / "faces" / "pairs").resolve()
FRM = None


def _frm_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def load(path: Path, max_side: int = 1000) -> Any:
    img = cv2.imread(str(path))
    assert img is not None, path
    s = max_side / max(img.shape[:2])
    if s < 1:
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return img


def degrade(img: Any, box: Any = None) -> Any:
    """An ID-card-like photo: 102×126 px (the resident ID card photo size), JPEG quality 60.

    Cropped around the face (``box`` x0, y0, x1, y1 from the original frame) like a passport-style portrait."""
    h, w = img.shape[:2]
    if box is not None:
        cx, cy, fw = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
        cw = fw * 1.9
        ch = cw * 126 / 102
        x0, y0 = int(max(0, cx - cw / 2)), int(max(0, cy - ch * 0.45))
        img = img[y0:min(h, int(y0 + ch)), x0:min(w, int(x0 + cw))]
        h, w = img.shape[:2]
    target = 102 / 126
    if w / h > target:
        nw = int(h * target)
        img = img[:, (w - nw) // 2:(w - nw) // 2 + nw]
    else:
        nh = int(w / target)
        img = img[(h - nh) // 2:(h - nh) // 2 + nh]
    small = cv2.resize(img, (102, 126), interpolation=cv2.INTER_AREA)
    _, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 60])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def pairs() -> list[tuple[str, str, bool]]:
    with (PAIRS / "master.csv").open() as f:
        return [(r["file_x"], r["file_y"], r["Decision"] == "Yes") for r in csv.DictReader(f)]


def rates(dists: list[tuple[float, bool]], thr: float) -> dict[str, float]:
    gen = [d for d, same in dists if same]
    imp = [d for d, same in dists if not same]
    fnmr = sum(d > thr for d in gen) / max(1, len(gen))
    fmr = sum(d <= thr for d in imp) / max(1, len(imp))
    acc = (sum(d <= thr for d in gen) + sum(d > thr for d in imp)) / max(1, len(dists))
    return {"FMR": fmr, "FNMR": fnmr, "accuracy": acc, "genuine": len(gen), "impostor": len(imp),
            "genuine_median": statistics.median(gen) if gen else float("nan"),
            "min_impostor": min(imp) if imp else float("nan")}


class Ours:
    def __init__(self, model_dir: Path) -> None:
        from gtsdk.vision.pipeline import FaceEngine

        self.eng = FaceEngine(model_dir=model_dir)

    def embed(self, img: Any) -> Any:
        faces = self.eng.faces(img)
        if not faces:
            return None
        f = max(faces, key=lambda x: x.detection.width)
        return self.eng.embed(img, f)


class Dlib:
    def __init__(self) -> None:
        import dlib

        d = _frm_dir()
        self.det = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self.rec = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        self.dlib = dlib

    def embed(self, img: Any, upsample: int = 1) -> Any:
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        dets = self.det(rgb, upsample)
        if not dets and rgb.shape[0] < 300:
            dets = self.det(rgb, 2)
        if not dets:
            return None
        r = max(dets, key=lambda x: x.width())
        return np.array(self.rec.compute_face_descriptor(rgb, self.sp(rgb, r)), dtype=np.float32)


def face_boxes(model_dir: Path) -> dict[str, Any]:
    """Largest face box per image, used to crop the ID-like copies identically for both pipelines."""
    from gtsdk.vision.pipeline import FaceEngine

    eng = FaceEngine(model_dir=model_dir)
    out = {}
    for f in sorted(PAIRS.glob("*.jpg")):
        faces = eng.faces(load(f))
        out[f.name] = max(faces, key=lambda x: x.detection.width).detection.box if faces else None
    return out


BOXES: dict[str, Any] = {}


def accuracy(engine: Any, name: str, degrade_second: bool) -> dict[str, Any]:
    cache: dict[tuple[str, bool], Any] = {}

    def emb(f: str, deg: bool) -> Any:
        key = (f, deg)
        if key not in cache:
            img = load(PAIRS / f)
            cache[key] = engine.embed(degrade(img, BOXES.get(f)) if deg else img)
        return cache[key]

    dists: list[tuple[float, bool]] = []
    failures = 0
    for a, b, same in pairs():
        ea, eb = emb(a, False), emb(b, degrade_second)
        if ea is None or eb is None:
            failures += 1
            dists.append((float("inf"), same))  # a failure to acquire counts as a non-match
            continue
        dists.append((float(np.linalg.norm(ea - eb)), same))
    return {**rates(dists, 0.6), "failed_to_acquire": failures, "name": name}


def latency(model_dir: Path, n: int = 30, rounds: int = 3) -> dict[str, float]:
    from gtsdk.vision.pipeline import FaceEngine

    eng = FaceEngine(model_dir=model_dir)
    files = sorted(PAIRS.glob("*.jpg"))[:n]
    frames = []
    for f in files:
        img = load(f)
        h, w = img.shape[:2]
        s = min(640 / w, 480 / h)
        canvas = np.zeros((480, 640, 3), np.uint8)
        r = cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        canvas[(480 - r.shape[0]) // 2:(480 - r.shape[0]) // 2 + r.shape[0],
               (640 - r.shape[1]) // 2:(640 - r.shape[1]) // 2 + r.shape[1]] = r
        frames.append(canvas)
    from gtsdk.vision import liveness

    dl = Dlib()
    ref = None
    t_ours: list[float] = []
    t_live: list[float] = []
    t_dlib: list[float] = []
    # interleaved per frame so that both pipelines see the same machine load (the CPU may be shared)
    for _ in range(rounds):
        for fr in frames:
            t0 = time.perf_counter()
            faces = eng.faces(fr, max_faces=1)
            if faces:
                e = eng.embed(fr, faces[0])
                ref = e if ref is None else ref
                eng.compare_embeddings(e, ref)
            t_ours.append((time.perf_counter() - t0) * 1000)
            # second view + liveness checks, as the driver does per frame pair
            right = np.roll(fr, -20, axis=1)
            t0 = time.perf_counter()
            faces = eng.faces(fr, max_faces=1)
            if faces:
                e = eng.embed(fr, faces[0])
                eng.compare_embeddings(e, e)
                rf = liveness.second_view(faces[0], eng.detector(right))
                if rf is not None:
                    liveness.stereo_relief(fr, right, faces[0], rf)
                    liveness.nir_check(right, faces[0], rf)
            t_live.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            dl.embed(fr, upsample=0)
            t_dlib.append((time.perf_counter() - t0) * 1000)
    return {"ours_ms": statistics.median(t_ours), "ours_liveness_ms": statistics.median(t_live),
            "dlib_ms": statistics.median(t_dlib),
            "ratio": statistics.median(t_dlib) / statistics.median(t_ours),
            "ratio_liveness": statistics.median(t_dlib) / statistics.median(t_live), "frames": len(frames)}


def liveness_rates(workdir: Path, n: int) -> dict[str, Any]:
    from gtsdk.simulators.camera import evaluate

    return evaluate(workdir, n, photos=sorted(PAIRS.glob("*.jpg")) or None)


def fit_alignment(model_dir: Path, k: int = 8) -> list[dict[str, Any]]:
    """Refit ``crop.from_mesh`` of the embedder manifest: each of dlib's 5 points (sp5 shape predictor on the
    pair photos) as an affine-invariant weighted sum (weights sum to 1) of its k nearest FaceMesh points."""
    import dlib

    from gtsdk.vision.pipeline import FaceEngine

    eng = FaceEngine(model_dir=model_dir)
    d = _frm_dir()
    det = dlib.get_frontal_face_detector()
    sp5 = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
    xs, ys = [], []
    for f in sorted(PAIRS.glob("*.jpg")):
        img = load(f)
        faces = eng.faces(img)
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        dets = det(rgb, 1)
        if not faces or not dets:
            continue
        face = max(faces, key=lambda x: x.detection.width)
        sh = sp5(rgb, max(dets, key=lambda r: r.width()))
        xs.append(face.landmarks[:, :2].astype(np.float64))
        ys.append(np.array([[sh.part(i).x, sh.part(i).y] for i in range(5)], np.float64))
    x, y = np.array(xs), np.array(ys)
    iod = np.linalg.norm(y[:, 0] - y[:, 2], axis=1)
    out = []
    for p in range(5):
        dist = np.linalg.norm(x - y[:, p][:, None, :], axis=2) / iod[:, None]
        cand = np.argsort(dist.mean(axis=0))[:k]
        a = np.concatenate([x[:, cand, 0], x[:, cand, 1]]) / np.concatenate([iod, iod])[:, None]
        b = np.concatenate([y[:, p, 0], y[:, p, 1]]) / np.concatenate([iod, iod])
        m = np.zeros((k + 1, k + 1))
        m[:k, :k] = a.T @ a + 1e-3 * np.eye(k)
        m[:k, k] = 1
        m[k, :k] = 1
        r = np.zeros(k + 1)
        r[:k] = a.T @ b
        r[k] = 1
        w = np.linalg.solve(m, r)[:k]
        out.append({"indices": [int(i) for i in cand], "weights": [round(float(v), 5) for v in w]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", default="", help="comma list of: accuracy,latency,liveness")
    ap.add_argument("--presentations", type=int, default=20, help="presentations per species (liveness)")
    ap.add_argument("--fit-alignment", action="store_true", help="refit the mesh → dlib 5-point weights and exit")
    args = ap.parse_args(argv if argv is not None else [])  # the `python -m benchmarks` runner passes none
    skip = set(filter(None, args.skip.split(",")))
    import cv2 as _cv2

    _cv2.setNumThreads(1)
    if not PAIRS.exists():
        print(f"test data missing: {PAIRS}")
        return 1
    with tempfile.TemporaryDirectory() as td:
        model_dir = Path(td) / "models"
        t0 = time.perf_counter()
        from gtsdk.vision import models

        models.build_all(model_dir)
        print(f"model build: {time.perf_counter() - t0:.1f} s")
        if args.fit_alignment:
            import json

            print(json.dumps(fit_alignment(model_dir), indent=1))
            return 0
        if "accuracy" not in skip:
            ours, base = Ours(model_dir), Dlib()
            BOXES.update(face_boxes(model_dir))
            for deg in (False, True):
                for eng, name in ((ours, "gtsdk onnx"), (base, "dlib baseline")):
                    r = accuracy(eng, name, deg)
                    tag = "degraded 102x126 JPEG" if deg else "as is"
                    print(f"accuracy [{tag}] {name}: FMR {r['FMR']:.4f} FNMR {r['FNMR']:.4f} "
                          f"acc {r['accuracy']:.4f} genuine median {r['genuine_median']:.3f} "
                          f"min impostor {r['min_impostor']:.3f} FTA {r['failed_to_acquire']} "
                          f"({r['genuine']} genuine / {r['impostor']} impostor pairs, threshold 0.6)")
        if "latency" not in skip:
            lat = latency(model_dir)
            print(f"latency 640x480, 1 thread, median of {lat['frames']} frames x 3 rounds (interleaved): "
                  f"gtsdk {lat['ours_ms']:.1f} ms, "
                  f"with 2nd view + liveness {lat['ours_liveness_ms']:.1f} ms; dlib baseline {lat['dlib_ms']:.1f} ms; "
                  f"ratio {lat['ratio']:.1f}x ({lat['ratio_liveness']:.1f}x with liveness)")
        if "liveness" not in skip:
            lr = liveness_rates(Path(td) / "sim", args.presentations)
            for line in lr["lines"]:
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
