"""Stereo calibration from synthetic checkerboard views of a known camera pair, then rectification."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="opencv missing")

K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
BASELINE = 40.0  # mm, right camera 40 mm to the right of the left one


def _board_texture(cols: int = 10, rows: int = 7, px: int = 40) -> np.ndarray:
    img = np.full(((rows + 2) * px, (cols + 2) * px), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                img[(r + 1) * px:(r + 2) * px, (c + 1) * px:(c + 2) * px] = 0
    return img


def _view(tex: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, cam_x: float, square_mm: float = 25.0,
          px: int = 40) -> np.ndarray:
    import cv2

    r, _ = cv2.Rodrigues(rvec)
    t = tvec - np.array([cam_x, 0, 0])
    # board plane (Z = 0) in mm ← texture pixels; inner corner (0,0) sits at texture (2 px, 2 px) squares
    s = square_mm / px
    board_from_tex = np.array([[s, 0, -2 * px * s], [0, s, -2 * px * s], [0, 0, 1]])
    h = K @ np.column_stack([r[:, 0], r[:, 1], t]) @ board_from_tex
    return cv2.warpPerspective(tex, h, (640, 480), borderValue=128)


def test_calibration_recovers_the_baseline_and_rectifies_rows() -> None:
    import cv2

    from gtsdk.vision.calibrate import Rectifier, calibrate_stereo

    tex = _board_texture()
    rng = np.random.default_rng(3)
    lefts, rights = [], []
    for _ in range(10):
        rvec = rng.uniform(-0.35, 0.35, 3) * np.array([1, 1, 0.3])
        tvec = np.array([rng.uniform(-140, -60), rng.uniform(-90, -40), rng.uniform(450, 650)])
        lefts.append(_view(tex, rvec, tvec, 0.0))
        rights.append(_view(tex, rvec, tvec, BASELINE))
    calib = calibrate_stereo(lefts, rights, board=(9, 6), square_mm=25.0)
    assert calib["pairs"] >= 6 and calib["rms"] < 1.0
    assert abs(np.linalg.norm(calib["T"]) - BASELINE) < 1.0
    rect = Rectifier(calib)
    a, b = rect(lefts[0], rights[0])
    found_a, ca = cv2.findChessboardCorners(a, (9, 6))
    found_b, cb = cv2.findChessboardCorners(b, (9, 6))
    assert found_a and found_b
    assert np.abs(ca[:, 0, 1] - cb[:, 0, 1]).max() < 1.0  # same rows after rectification
    assert (ca[:, 0, 0] - cb[:, 0, 0]).min() > 0  # left x > right x: positive disparity


def test_bad_calibration_inputs() -> None:
    from gtsdk.errors import ErrorCode, GtsdkError
    from gtsdk.vision.calibrate import Rectifier, calibrate_stereo

    blank = np.full((480, 640), 128, np.uint8)
    with pytest.raises(GtsdkError) as ei:
        calibrate_stereo([blank] * 3, [blank] * 3)
    assert ei.value.code == ErrorCode.INVALID_DATA
    with pytest.raises(GtsdkError) as ei:
        Rectifier({"K1": "nope"})
    assert ei.value.code == ErrorCode.CONFIG_ERROR
