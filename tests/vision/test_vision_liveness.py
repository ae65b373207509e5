"""Liveness building blocks: challenge (EAR blink, head turn), NIR presence, combination rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import _vision_fixtures as _vf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.vision import liveness as lv
from gtsdk.vision.pipeline import LEFT_EYE, NOSE_TIP, RIGHT_EYE

engine = _vf.engine
model_dir = _vf.model_dir
pairs = _vf.pairs


@pytest.fixture(scope="module")
def face(engine: Any, pairs: Path) -> Any:
    import cv2

    return engine.single_face(cv2.imread(str(pairs / "img1.jpg")))


def _eyes(face: Any, k: float) -> Any:
    """Scale the lids' vertical distance from the eye centre line by k (k < 1: closing)."""
    f = copy.deepcopy(face)
    for eye in (RIGHT_EYE, LEFT_EYE):
        ids = list(eye)
        cy = f.landmarks[[ids[0], ids[3]], 1].mean()
        for i in (ids[1], ids[2], ids[4], ids[5]):
            f.landmarks[i, 1] = cy + (f.landmarks[i, 1] - cy) * k
    return f


def _nose(face: Any, dx_iod: float) -> Any:
    f = copy.deepcopy(face)
    iod = float(np.linalg.norm(f.landmarks[list(LEFT_EYE), :2].mean(0) - f.landmarks[list(RIGHT_EYE), :2].mean(0)))
    f.landmarks[NOSE_TIP, 0] += dx_iod * iod
    return f


def test_blink_is_a_dip_and_reopening(face: Any) -> None:
    ch = lv.Challenge("blink")
    seq = [1.0, 1.0, 1.0, 0.5, 0.1, 0.1, 1.0]
    results = [ch.update(_eyes(face, k)) for k in seq]
    assert results[-1] and not any(results[:-1])  # passes only once the eyes reopen
    still = lv.Challenge("blink")
    assert not any(still.update(_eyes(face, 1.0)) for _ in range(10))
    closed = lv.Challenge("blink")  # eyes that close and never reopen are not a blink
    assert not any(closed.update(_eyes(face, k)) for k in (1.0, 1.0, 0.1, 0.1, 0.1))
    assert closed.result().name == "challenge" and not closed.result().passed


def test_head_turn_direction(face: Any) -> None:
    right = lv.Challenge("turn_right")
    assert not right.update(face)
    assert right.update(_nose(face, 0.3))
    left = lv.Challenge("turn_left")
    left.update(face)
    assert not left.update(_nose(face, 0.3))  # the wrong way
    assert left.update(_nose(face, -0.3))
    with pytest.raises(ValueError):
        lv.Challenge("smile")


def test_nir_without_face_scores_zero(face: Any) -> None:
    dark = np.full((480, 640), 10, np.uint8)
    p, g = lv.nir_check(dark, face, None)
    assert p.score == 0.0 and not p.passed and g.score == 0.0


def test_nir_face_far_from_prediction_fails(face: Any) -> None:
    import cv2

    moved = copy.deepcopy(face)
    w = face.detection.width
    moved.detection.box = moved.detection.box + np.array([2 * w, 0, 2 * w, 0], np.float32)
    gray = np.full((int(face.detection.box[3] + 10), int(face.detection.box[2] + 3 * w), ), 120, np.uint8)
    cv2.circle(gray, (100, 100), 3, 255, -1)
    p, _ = lv.nir_check(gray, face, moved)
    assert not p.passed and "away from" in p.detail


def test_combine_rule() -> None:
    a = lv.CheckResult("stereo_relief", 1.0, 0.5)
    b = lv.CheckResult("nir_presence", 0.25, 0.5)
    assert lv.combine([a]) == (True, 1.0)
    ok, score = lv.combine([a, b])
    assert not ok and score == 0.25
    assert lv.combine([]) == (False, 0.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dx=st.floats(-2000, 2000), dy=st.floats(-2000, 2000), scale=st.floats(0.01, 3.0), seed=st.integers(0, 2**16),
       gray=st.booleans())
def test_checks_never_raise_on_odd_geometry(face: Any, dx: float, dy: float, scale: float, seed: int,
                                             gray: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (240, 320) if gray else (240, 320, 3)
    left = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    right = rng.integers(0, 256, shape, dtype=np.uint8)
    moved = copy.deepcopy(face)
    moved.landmarks[:, :2] = moved.landmarks[:, :2] * scale + np.array([dx, dy], np.float32)
    moved.detection.box = moved.detection.box * scale + np.array([dx, dy, dx, dy], np.float32)
    moved.detection.keypoints = moved.detection.keypoints * scale + np.array([dx, dy], np.float32)
    second = lv.second_view(face, [moved.detection])
    r = lv.stereo_relief(left, right if right.ndim == 3 else np.dstack([right] * 3), face, second)
    assert np.isfinite(r.score)
    p, g = lv.nir_check(right, face, second)
    assert 0.0 <= p.score <= 1.0 and 0.0 <= g.score <= 1.0
