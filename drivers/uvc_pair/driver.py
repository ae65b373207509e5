"""uvc_pair: a binocular camera module seen as two OpenCV ``VideoCapture`` sources.

The two sources are RGB + NIR (the usual kiosk face module: the NIR camera doubles as the second
view of a stereo pair) or left + right RGB.  Sources are camera indices, device paths
(``/dev/video2``), video/image files or URIs.  The face pipeline and the liveness checks come from
:mod:`gtsdk.vision`; every result carries scores and thresholds and the application decides
(clause 9.4.1 e).  Clause 8.4 e): 设备初始化、照片获取、人脸比对.
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gtsdk.driver import (
    DeviceState,
    DriverSettings,
    Empty,
    EventSink,
    HealthLevel,
    HealthResult,
    OpContext,
    StateSink,
    carrying_on,
)
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.camera import (
    CameraDriver,
    CaptureRequest,
    FaceCompareRequest,
    FaceComparison,
    InitRequest,
    Liveness,
    LivenessCheck,
    LivenessRequest,
    Photo,
    View,
)

from . import codec

log = logging.getLogger(__name__)

ALL_CHECKS = ("stereo_relief", "nir_presence", "nir_glint", "challenge", "pad_rgb")


class UvcPairSettings(DriverSettings):
    left: str = Field("0", description="RGB (or left) camera: index, device path, file or URI")
    right: str = Field("1", description="NIR (or right) camera: index, device path, file or URI")
    pair: Literal["rgb_nir", "stereo"] = Field("rgb_nir", description="what the second camera is")
    width: int = Field(640, ge=160, le=4096)
    height: int = Field(480, ge=120, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    loop: bool = Field(False, description="rewind file sources at their end (test clips, simulator)")
    auto_exposure_lock: bool = Field(True, description="lock exposure after opening (UVC manual mode)")
    frames: int = Field(5, ge=1, le=60, description="frame pairs examined per capture / liveness decision")
    models: dict[str, str] = Field(default_factory=dict, description="slot → built-in model name or manifest path")
    model_dir: str | None = Field(None, description="model cache (default GTSDK_HOME/models or the user cache)")
    match_threshold: float | None = Field(None, gt=0, description="default comparison threshold (model default)")
    thresholds: dict[str, float] = Field(default_factory=dict, description="liveness check → threshold")
    challenge_kinds: list[str] = Field(default_factory=lambda: ["blink", "turn_left", "turn_right"])
    challenge_seconds: float = Field(6.0, gt=0, le=60)
    nir_max_shift: float = Field(0.6, gt=0, description="NIR face offset tolerated, in face widths")
    jpeg_quality: int = Field(92, ge=30, le=100)
    seed: int | None = Field(None, description="challenge randomisation seed (tests only)")
    calibration: dict[str, Any] | str | None = Field(
        None, description="stereo calibration (gtsdk.vision.calibrate.calibrate_stereo output) or its JSON file; "
                          "None: the views are already rectified")


class _Source:
    def __init__(self, spec: str, s: UvcPairSettings) -> None:
        self.spec = codec.parse_source(spec)
        self.settings = s
        self.cap: Any = None
        self.stamp: tuple[int, int] | None = None

    @property
    def path(self) -> Path | None:
        if isinstance(self.spec, str) and "://" not in self.spec:
            return Path(self.spec)
        return None

    def present(self) -> bool:
        p = self.path
        return p is None or p.exists() or "%" in str(p)

    def open(self) -> None:
        import cv2

        self.close()
        if not self.present():
            raise GtsdkError(ErrorCode.NO_DEVICE, "camera source not present")
        cap = cv2.VideoCapture(self.spec)
        if not cap.isOpened():
            cap.release()
            raise GtsdkError(ErrorCode.NO_DEVICE, "camera source cannot be opened")
        if self.path is None or str(self.path).startswith("/dev/"):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.settings.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.settings.height)
            cap.set(cv2.CAP_PROP_FPS, self.settings.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if self.settings.auto_exposure_lock:
                cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 0.25)  # V4L2: manual exposure
        self.cap = cap
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        """Identity of a regular file source: a replaced file (new scene of a test clip) is reopened."""
        p = self.path
        if p is None or str(p).startswith("/dev/"):
            return None
        try:
            st = p.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def close(self) -> None:
        if self.cap is not None:
            with carrying_on("camera", "releasing a capture"):  # must not raise on a vanished device
                self.cap.release()
            self.cap = None

    def grab(self) -> bool:
        if self.cap is None or not self.present():
            return False
        if self.stamp is not None and self._stamp() != self.stamp:
            self.open()
        if self.cap.grab():
            return True
        if self.settings.loop and self.path is not None:
            self.open()
            return bool(self.cap.grab())
        return False

    def retrieve(self) -> Any:
        ok, frame = self.cap.retrieve()
        return frame if ok and frame is not None and frame.size else None


class UvcPairDriver(CameraDriver[UvcPairSettings]):
    name = "uvc_pair"
    version = "0.1"

    def __init__(self, settings: UvcPairSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self._engine: Any = None
        self._pad: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self._left = _Source(settings.left, settings)
        self._right = _Source(settings.right, settings)
        self._rng = random.Random(settings.seed)
        self._rectify: Any = None
        if settings.calibration is not None:
            from gtsdk.vision.calibrate import Rectifier

            cal = settings.calibration
            if isinstance(cal, str):
                import json

                try:
                    cal = json.loads(Path(cal).read_text())
                except (OSError, ValueError):
                    raise GtsdkError(ErrorCode.CONFIG_ERROR, "calibration file unreadable",
                                     field="calibration") from None
            self._rectify = Rectifier(cal)
        self._frames = 0
        self._last_face = 0.0
        for k in settings.challenge_kinds:
            if k not in ("blink", "turn_left", "turn_right"):
                raise GtsdkError(ErrorCode.CONFIG_ERROR, f"unknown challenge kind {k!r}", field="challenge_kinds")

    # ---- lifecycle ----------------------------------------------------------------
    def connect(self) -> None:
        try:
            self._left.open()
            self._right.open()
            self._read_pair()
        except GtsdkError:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        self._left.close()
        self._right.close()

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        """Both cameras deliver a frame pair; external level also runs the face models once."""
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        checks: dict[str, bool] = {}
        try:
            left, _ = self._read_pair()
            checks["frames"] = True
        except GtsdkError:
            return HealthResult(level=level, ok=False, text="cameras deliver no frames", checks={"frames": False})
        if level is HealthLevel.EXTERNAL:
            try:
                self.engine().faces(left, max_faces=1)
                checks["models"] = True
            except GtsdkError:
                checks["models"] = False
        return HealthResult(level=level, ok=all(checks.values()), text="camera pair answers", checks=checks)

    def features(self) -> dict[str, Any]:
        checks = ["stereo_relief", "challenge"]
        if self.s.pair == "rgb_nir":
            checks += ["nir_presence", "nir_glint"]
        if "pad_rgb" in self.s.models:
            checks.append("pad_rgb")
        return {"pair": self.s.pair, "checks": checks, "challengeKinds": list(self.s.challenge_kinds),
                "models": {**self._slot_names()}, "formats": ["jpeg", "png"]}

    def status_detail(self) -> dict[str, Any]:
        return {"frames": self._frames, "lastFaceSize": self._last_face, "pair": self.s.pair}

    def _slot_names(self) -> dict[str, str]:
        from gtsdk.vision.models import DEFAULTS

        return {**DEFAULTS, **self.s.models}

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                import cv2

                from gtsdk.vision.pipeline import FaceEngine

                cv2.setNumThreads(1)
                slots = {k: v for k, v in self.s.models.items() if k in ("detector", "landmarker", "embedder")}
                md = Path(self.s.model_dir) if self.s.model_dir else None
                self._engine = FaceEngine(slots, md)
                if "pad_rgb" in self.s.models:
                    from gtsdk.vision import models as mdl

                    m = mdl.resolve(self.s.models["pad_rgb"], md, lazy_build=False)
                    self._pad = (mdl.session(m), m)
            return self._engine

    # ---- frames -------------------------------------------------------------------
    def _fail(self, why: str) -> GtsdkError:
        self.disconnect()
        self.set_state(DeviceState.NO_DEVICE, why)
        return GtsdkError(ErrorCode.NO_DEVICE, why)

    def _read_pair(self) -> tuple[Any, Any]:
        # grab both first, then decode: the two exposures are as close in time as the sources allow
        if self._left.cap is None or self._right.cap is None:
            raise self._fail("camera not open")
        if not self._left.grab() or not self._right.grab():
            raise self._fail("camera stopped delivering frames")
        left, right = self._left.retrieve(), self._right.retrieve()
        if left is None or right is None:
            raise self._fail("camera delivered an empty frame")
        self._frames += 1
        return left, right

    # ---- operations ---------------------------------------------------------------
    def init(self, request: InitRequest, ctx: OpContext) -> Empty:
        if request.width or request.height:
            self.s.width = request.width or self.s.width
            self.s.height = request.height or self.s.height
            self.connect()
        self.engine()
        return Empty()

    def capture(self, request: CaptureRequest, ctx: OpContext) -> Photo:
        eng = self.engine()
        best: tuple[float, Any, Any] | None = None
        for _ in range(self.s.frames):
            ctx.check()
            left, right = self._read_pair()
            frame = left if request.view in (View.RGB, View.LEFT) else right
            faces = eng.faces(frame, max_faces=2)
            face = max(faces, key=lambda f: f.detection.width) if faces else None
            q = codec.quality(frame, face.detection.box if face else None, face.pose() if face else None)
            rank = (q["faceSize"] * 1000 if face else 0.0) + q["sharpness"]
            if best is None or rank > best[0]:
                best = (rank, frame, (face, q))
        assert best is not None
        _, frame, (face, q) = best
        if face is None and request.require_face:
            raise GtsdkError(ErrorCode.NO_MEDIA, "no face in view")
        if face is not None:
            self._last_face = q["faceSize"]
            self.emit("faceDetected", {"faceSize": q["faceSize"], "score": round(face.detection.score, 3)})
        data = codec.encode_photo(frame, request.format.value, self.s.jpeg_quality)
        return Photo(image=data, format=request.format, width=int(frame.shape[1]), height=int(frame.shape[0]),
                     quality=q)

    def _live_face(self, ctx: OpContext) -> tuple[Any, Any]:
        eng = self.engine()
        best: tuple[float, Any, Any] | None = None
        err: GtsdkError | None = None
        for _ in range(self.s.frames):
            ctx.check()
            left, _right = self._read_pair()
            try:
                face = eng.single_face(left, live=True)
            except GtsdkError as e:
                err = e
                continue
            if best is None or face.detection.width > best[0]:
                best = (face.detection.width, left, face)
        if best is None:
            raise err or GtsdkError(ErrorCode.NO_MEDIA, "no face in view")
        return best[1], best[2]

    def face_compare(self, request: FaceCompareRequest, ctx: OpContext) -> FaceComparison:
        from gtsdk.vision.image import decode

        eng = self.engine()
        ref_img = decode(request.reference, "reference")
        ref = eng.embed(ref_img, eng.single_face(ref_img, "reference"))
        ctx.check()
        if request.probe is not None:
            img = decode(request.probe, "probe")
            face = eng.single_face(img, "probe")
        else:
            img, face = self._live_face(ctx)
        probe = eng.embed(img, face)
        c = eng.compare_embeddings(ref, probe, request.threshold or self.s.match_threshold)
        return FaceComparison(distance=round(c.distance, 4), similarity=round(c.similarity, 4),
                              threshold=c.threshold, suggested_match=c.suggested_match, model=c.model)

    def liveness(self, request: LivenessRequest, ctx: OpContext) -> Liveness:
        from gtsdk.vision import liveness as lv

        available = set(self.features()["checks"])
        wanted = list(request.checks) if request.checks else [c for c in ALL_CHECKS if c in available]
        for c in wanted:
            if c not in available:
                raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"check {c!r} not available on this camera pair",
                                 field="checks")
        if request.challenge and "challenge" not in wanted:
            wanted.append("challenge")
        if not request.challenge and not request.checks and "challenge" in wanted:
            wanted.remove("challenge")
        eng = self.engine()
        thr = self.s.thresholds
        scores: dict[str, list[Any]] = {}
        passive = [c for c in wanted if c != "challenge"]
        frames = 0
        if passive:
            for _ in range(self.s.frames):
                ctx.check()
                left, right = self._read_pair()
                if self._rectify is not None:
                    left, right = self._rectify(left, right)
                face = eng.single_face(left, live=True)
                frames += 1
                rface = lv.second_view(face, eng.detector(right))
                if "stereo_relief" in wanted:
                    scores.setdefault("stereo_relief", []).append(
                        lv.stereo_relief(left, right, face, rface, thr.get("stereo_relief")))
                if "nir_presence" in wanted or "nir_glint" in wanted:
                    p, g = lv.nir_check(right, face, rface, max_shift=self.s.nir_max_shift,
                                        threshold=thr.get("nir_presence"), glint_threshold=thr.get("nir_glint"))
                    scores.setdefault("nir_presence", []).append(p)
                    scores.setdefault("nir_glint", []).append(g)
                if "pad_rgb" in wanted and self._pad is not None:
                    scores.setdefault("pad_rgb", []).append(lv.pad_rgb(self._pad[0], self._pad[1], left, face))
        results: list[Any] = []
        for name in passive:
            rs = scores.get(name, [])
            if not rs:
                continue
            med = statistics.median(r.score for r in rs)
            rep = min(rs, key=lambda r: abs(r.score - med))
            results.append(lv.CheckResult(name, round(med, 4), rep.threshold, rep.detail + f" (median of {len(rs)})"))
        if "challenge" in wanted:
            results.append(self._challenge(ctx, thr.get("challenge")))
        ok, score = lv.combine(results)
        checks = [LivenessCheck(name=r.name, score=r.score, threshold=r.threshold, passed=r.passed, detail=r.detail)
                  for r in results]
        return Liveness(suggested_live=ok, score=score, checks=checks)

    def _challenge(self, ctx: OpContext, threshold: float | None) -> Any:
        from gtsdk.vision import liveness as lv

        eng = self.engine()
        kind = self._rng.choice(self.s.challenge_kinds)
        ch = lv.Challenge(kind, threshold)
        self.emit("livenessChallenge", {"kind": kind, "seconds": self.s.challenge_seconds})
        budget = int(self.s.challenge_seconds * self.s.fps)  # frames a real camera delivers in the time limit
        end = time.monotonic() + self.s.challenge_seconds
        for _ in range(budget):
            ctx.check()
            if time.monotonic() > end:
                break
            left, _right = self._read_pair()
            faces = eng.faces(left, max_faces=2)
            if len(faces) != 1:
                continue
            if ch.update(faces[0]):
                break
        return ch.result()

