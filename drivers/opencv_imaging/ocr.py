"""OCR with the PP-OCRv4 ONNX models that ship inside ``rapidocr-onnxruntime`` (nothing is
downloaded at run time).  One engine per process, loaded on first use, used under a lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError

_lock = threading.Lock()
_engines: dict[int, Any] = {}


@dataclass
class Line:
    text: str
    confidence: float
    box: list[tuple[float, float]]


def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - an installed but broken engine (its import loads models) is not available
        return False
    return True


def engine(threads: int = 0) -> Any:
    with _lock:
        eng = _engines.get(threads)
        if eng is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except Exception as e:  # noqa: BLE001 - as in available(); reported as noDevice
                raise GtsdkError(ErrorCode.NO_DEVICE, f"OCR models not installed (rapidocr-onnxruntime): "
                                 f"{type(e).__name__}") from None
            kw: dict[str, Any] = {}
            if threads > 0:
                for part in ("det", "cls", "rec"):
                    kw[f"{part}_intra_op_num_threads"] = threads
                    kw[f"{part}_inter_op_num_threads"] = 1
            eng = RapidOCR(**kw)
            _engines[threads] = eng
        return eng


def read(img: Any, *, threads: int = 0, min_confidence: float = 0.5, turn_lines: bool = True) -> list[Line]:
    """Text lines of a BGR image, top to bottom, left to right.  With *turn_lines* the
    0/180° line classifier turns upside-down lines before recognition; without it an
    upside-down page reads badly, which is how the orientation fix tells the two apart."""
    eng = engine(threads)
    with _lock:
        result, _elapsed = eng(img, use_cls=turn_lines, text_score=min_confidence)
    lines: list[Line] = []
    for box, text, score in result or []:
        if float(score) < min_confidence or not str(text).strip():
            continue
        lines.append(Line(str(text), float(score), [(float(x), float(y)) for x, y in box]))
    lines.sort(key=lambda ln: (round(min(p[1] for p in ln.box) / 10), min(p[0] for p in ln.box)))
    return lines
