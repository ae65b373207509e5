"""Stereo calibration of a binocular module from checkerboard image pairs, and rectification.

``calibrate_stereo`` finds the inner corners of a checkerboard in each pair (``cv2.findChessboardCorners``
+ ``cornerSubPix``), calibrates each camera (``cv2.calibrateCamera``) and then the pair
(``cv2.stereoCalibrate`` with the intrinsics fixed).  The result is a JSON-ready dict for the driver's
``calibration`` setting; ``Rectifier`` turns it into ``cv2.stereoRectify`` remap tables so both views are
row-aligned and disparity = f·B/Z holds for the liveness checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gtsdk.errors import ErrorCode, GtsdkError

U8 = npt.NDArray[np.uint8]


def _gray(img: U8) -> U8:
    import cv2

    g: U8 = np.asarray(img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    return g


def _corners(img: U8, board: tuple[int, int]) -> Any:
    import cv2

    g = _gray(img)
    found, corners = cv2.findChessboardCorners(g, board, flags=cv2.CALIB_CB_ADAPTIVE_THRESH
                                               | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not found:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    return cv2.cornerSubPix(g, corners, (5, 5), (-1, -1), crit)


def calibrate_stereo(lefts: Sequence[U8], rights: Sequence[U8], board: tuple[int, int] = (9, 6),
                     square_mm: float = 25.0) -> dict[str, Any]:
    """Calibrate a camera pair from checkerboard views (``board`` = inner corners per row, per column)."""
    import cv2

    if len(lefts) != len(rights) or not lefts:
        raise GtsdkError(ErrorCode.INVALID_DATA, "need the same number (≥ 1) of left and right images")
    obj = np.zeros((board[0] * board[1], 3), np.float32)
    obj[:, :2] = np.mgrid[0:board[0], 0:board[1]].T.reshape(-1, 2) * square_mm
    objs, pl, pr = [], [], []
    size = (int(lefts[0].shape[1]), int(lefts[0].shape[0]))
    for a, b in zip(lefts, rights, strict=True):
        ca, cb = _corners(a, board), _corners(b, board)
        if ca is not None and cb is not None:
            objs.append(obj)
            pl.append(ca)
            pr.append(cb)
    if len(objs) < 3:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"checkerboard found in only {len(objs)} pairs (need ≥ 3)")
    _, k1, d1, _, _ = cv2.calibrateCamera(objs, pl, size, None, None)
    _, k2, d2, _, _ = cv2.calibrateCamera(objs, pr, size, None, None)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-6)
    rms, k1, d1, k2, d2, r, t, _, _ = cv2.stereoCalibrate(objs, pl, pr, k1, d1, k2, d2, size,
                                                          criteria=crit, flags=cv2.CALIB_FIX_INTRINSIC)
    return {"image_size": list(size), "K1": k1.tolist(), "D1": d1.ravel().tolist(), "K2": k2.tolist(),
            "D2": d2.ravel().tolist(), "R": r.tolist(), "T": t.ravel().tolist(), "rms": float(rms),
            "pairs": len(objs)}


class Rectifier:
    """Remap tables that make both views row-aligned (``cv2.stereoRectify``)."""

    def __init__(self, calib: dict[str, Any]) -> None:
        import cv2

        try:
            size = (int(calib["image_size"][0]), int(calib["image_size"][1]))
            k1, k2 = np.array(calib["K1"], np.float64), np.array(calib["K2"], np.float64)
            d1, d2 = np.array(calib["D1"], np.float64), np.array(calib["D2"], np.float64)
            r, t = np.array(calib["R"], np.float64), np.array(calib["T"], np.float64).reshape(3, 1)
        except (KeyError, TypeError, ValueError, IndexError):
            raise GtsdkError(ErrorCode.CONFIG_ERROR, "calibration needs image_size, K1, D1, K2, D2, R, T",
                             field="calibration") from None
        r1, r2, p1, p2, _, _, _ = cv2.stereoRectify(k1, d1, k2, d2, size, r, t, alpha=0)
        self.size = size
        self.focal = float(p1[0, 0])
        self.baseline_mm = float(np.linalg.norm(t))
        self.maps = (cv2.initUndistortRectifyMap(k1, d1, r1, p1, size, cv2.CV_32FC1),
                     cv2.initUndistortRectifyMap(k2, d2, r2, p2, size, cv2.CV_32FC1))

    def __call__(self, left: U8, right: U8) -> tuple[U8, U8]:
        import cv2

        if (left.shape[1], left.shape[0]) != self.size or (right.shape[1], right.shape[0]) != self.size:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, "frame size differs from the calibration", field="calibration")
        (m1x, m1y), (m2x, m2y) = self.maps
        a = np.asarray(cv2.remap(left, m1x, m1y, cv2.INTER_LINEAR), dtype=np.uint8)
        b = np.asarray(cv2.remap(right, m2x, m2y, cv2.INTER_LINEAR), dtype=np.uint8)
        return a, b
