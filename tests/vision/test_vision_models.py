"""Model cache: manifests, checksum refusal, replaceable slots, the ``gtsdk models`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import _vision_fixtures as _vf
import pytest

from gtsdk.errors import ErrorCode, GtsdkError

engine = _vf.engine
model_dir = _vf.model_dir
pairs = _vf.pairs

REQUIRED = ("name", "slot", "file", "sha256", "licence", "source", "input", "crop", "output", "metric", "threshold")


def test_manifests_describe_each_model(model_dir: Path) -> None:
    from gtsdk.vision import models

    for name in models.BUILTIN:
        data = json.loads((model_dir / f"{name}.json").read_text())
        for key in REQUIRED:
            assert key in data, (name, key)
        assert data["sha256"] == models.sha256_file(model_dir / data["file"])
        assert data["input"]["layout"] in ("NCHW", "NHWC") and data["input"]["colour"] in ("RGB", "BGR")
        assert "_dir" not in data["extra"]
    emb = json.loads((model_dir / "dlib_resnet_v1.json").read_text())
    assert emb["metric"] == "l2" and emb["threshold"] == 0.6 and len(emb["crop"]["from_mesh"]) == 5


def _copy(model_dir: Path, name: str, dest: Path, new_name: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    data = json.loads((model_dir / f"{name}.json").read_text())
    shutil.copy(model_dir / data["file"], dest / f"{new_name}.onnx")
    data["name"], data["file"] = new_name, f"{new_name}.onnx"
    man = dest / f"{new_name}.json"
    man.write_text(json.dumps(data))
    return man


def test_checksum_mismatch_is_refused(model_dir: Path, tmp_path: Path) -> None:
    from gtsdk.vision import models

    man = _copy(model_dir, "blazeface_short", tmp_path, "tampered")
    onnx_file = tmp_path / "tampered.onnx"
    raw = bytearray(onnx_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(raw))
    m = models.resolve(str(man))
    with pytest.raises(GtsdkError) as ei:
        models.session(m)
    assert ei.value.code == ErrorCode.CONFIG_ERROR and "sha256" in ei.value.detail
    from gtsdk.vision.pipeline import FaceEngine

    with pytest.raises(GtsdkError) as ei:
        FaceEngine({"detector": str(man)}, model_dir)
    assert ei.value.code == ErrorCode.CONFIG_ERROR


def test_vendor_slot_replacement_full_range_detector(model_dir: Path, tmp_path: Path, pairs: Path) -> None:
    """A vendor drops an ONNX file + manifest somewhere and names it: here the full-range BlazeFace."""
    import cv2
    import numpy as np

    from gtsdk.vision.pipeline import FaceEngine

    man = _copy(model_dir, "blazeface_full", tmp_path / "vendor", "acme_detector")
    eng = FaceEngine({"detector": str(man)}, model_dir)
    assert eng.detector.m.name == "acme_detector" and eng.detector.size == 192
    read = cv2.imread(str(pairs / "img1.jpg"))
    assert read is not None
    img = np.asarray(read, np.uint8)
    faces = eng.faces(img)
    assert len(faces) == 1 and faces[0].presence > 0.9
    # the same face through the default detector gives nearly the same identity
    default = FaceEngine(model_dir=model_dir)
    f0 = default.single_face(img)
    d = default.compare_embeddings(default.embed(img, f0), eng.embed(img, faces[0])).distance
    assert d < 0.2


def test_bad_manifest_and_unknown_model(model_dir: Path, tmp_path: Path) -> None:
    from gtsdk.vision import models

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(GtsdkError) as ei:
        models.resolve(str(bad))
    assert ei.value.code == ErrorCode.CONFIG_ERROR
    wrong_slot = tmp_path / "slot.json"
    data = json.loads((model_dir / "facemesh.json").read_text())
    data["slot"] = "teleporter"
    wrong_slot.write_text(json.dumps(data))
    with pytest.raises(GtsdkError):
        models.resolve(str(wrong_slot))
    with pytest.raises(GtsdkError) as ei:
        models.resolve("no_such_model", tmp_path)
    assert ei.value.code == ErrorCode.CONFIG_ERROR
    with pytest.raises(GtsdkError):
        models.build("no_such_model", tmp_path)


def test_lazy_build_on_first_use(model_dir: Path, tmp_path: Path) -> None:
    from gtsdk.vision import models

    d = tmp_path / "lazy"
    m = models.resolve("blazeface_short", d)
    assert (d / "blazeface_short.onnx").exists() and m.sha256 == models.sha256_file(d / "blazeface_short.onnx")


def test_cli_build_list_verify(model_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gtsdk.cli import main

    d = tmp_path / "cli"
    r = CliRunner().invoke(main, ["models", "build", "--dir", str(d), "blazeface_short", "facemesh"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["models", "list", "--dir", str(d), "--json"])
    assert {x["name"] for x in json.loads(r.output)} == {"blazeface_short", "facemesh"}
    r = CliRunner().invoke(main, ["models", "verify", "--dir", str(d)])
    assert r.exit_code == 0 and r.output.count("ok") == 2
    f = d / "facemesh.onnx"
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    r = CliRunner().invoke(main, ["models", "verify", "--dir", str(d)])
    assert r.exit_code == 1 and "REFUSED  facemesh" in r.output
