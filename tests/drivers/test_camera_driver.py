"""uvc_pair driver end to end: the simulator renders the binocular streams, the real driver reads them
through OpenCV VideoCapture (8.4 e: 设备初始化、照片获取、人脸比对; 5: 活体检测, 人证一致)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _vision_fixtures as _vf
import numpy as np
import pytest

from gtsdk.driver import OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulated import simulated_terminal

model_dir = _vf.model_dir
pairs = _vf.pairs


def ctx() -> OpContext:
    return OpContext("t", 60.0)


@pytest.fixture(scope="module")
def sim(model_dir: Path, pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from gtsdk.simulators.camera import start

    s = start(tmp_path_factory.mktemp("camsim"), photo=pairs / "img1.jpg", model_dir=model_dir, seed=1)
    yield s
    s.stop()


@pytest.fixture()
def drv(sim: Any) -> Iterator[Any]:
    from gtsdk.drivers.uvc_pair import UvcPairDriver, UvcPairSettings

    sim.control("plug", {})
    if sim.scenario != "live":
        sim.control("scenario", {"name": "live"})
    events: list[tuple[str, dict[str, Any]]] = []
    states: list[Any] = []
    d = UvcPairDriver(UvcPairSettings(**sim.settings, seed=5, challenge_seconds=2.0),
                      emit=lambda e, p: events.append((e, p)),
                      set_state=lambda s, r: states.append(s))
    d.events, d.states = events, states  # type: ignore[attr-defined]  # kept on the driver for the tests
    d.connect()
    yield d
    d.disconnect()


def test_capture_returns_a_photo_with_quality(drv: Any) -> None:
    import cv2

    from gtsdk.modules.camera import CaptureRequest, ImageFormat, View

    ph = drv.capture(CaptureRequest(require_face=True), ctx())
    img = cv2.imdecode(np.frombuffer(ph.image, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (480, 640, 3) and ph.width == 640 and ph.format == ImageFormat.JPEG
    assert ph.quality["faceSize"] > 120 and ph.quality["sharpness"] > 0 and "yaw" in ph.quality
    assert drv.events and drv.events[-1][0] == "faceDetected"
    nir = drv.capture(CaptureRequest(view=View.NIR, format=ImageFormat.PNG), ctx())
    assert nir.image.startswith(b"\x89PNG")


def test_face_compare_live_against_references(drv: Any, pairs: Path) -> None:
    from gtsdk.modules.camera import FaceCompareRequest

    same = drv.face_compare(FaceCompareRequest(reference=(pairs / "img1.jpg").read_bytes()), ctx())
    other = drv.face_compare(FaceCompareRequest(reference=(pairs / "img3.jpg").read_bytes()), ctx())
    assert same.suggested_match and same.distance < same.threshold == 0.6
    assert not other.suggested_match and other.distance > 0.6
    given = drv.face_compare(FaceCompareRequest(reference=(pairs / "img20.jpg").read_bytes(),
                                                probe=(pairs / "img21.jpg").read_bytes(), threshold=0.3), ctx())
    assert given.threshold == 0.3 and given.suggested_match is (given.distance <= 0.3)
    with pytest.raises(GtsdkError) as ei:
        drv.face_compare(FaceCompareRequest(reference=b"not an image"), ctx())
    assert ei.value.code == ErrorCode.INVALID_DATA and ei.value.field == "reference"


def test_live_person_passes_and_attacks_fail(drv: Any, sim: Any) -> None:
    from gtsdk.modules.camera import LivenessRequest

    live = drv.liveness(LivenessRequest(), ctx())
    by = {c.name: c for c in live.checks}
    assert live.suggested_live and set(by) == {"stereo_relief", "nir_presence", "nir_glint"}
    assert all(c.passed and c.score >= c.threshold for c in live.checks)
    sim.control("scenario", {"name": "flat_print"})
    drv.connect()
    flat = drv.liveness(LivenessRequest(), ctx())
    fby = {c.name: c for c in flat.checks}
    assert not flat.suggested_live and not fby["stereo_relief"].passed
    assert fby["nir_presence"].passed  # paper reflects NIR: the stereo check is what catches a print
    sim.control("scenario", {"name": "screen"})
    drv.connect()
    screen = drv.liveness(LivenessRequest(), ctx())
    sby = {c.name: c for c in screen.checks}
    assert not screen.suggested_live and not sby["nir_presence"].passed
    assert "no face" in sby["nir_presence"].detail


def test_challenge_turn_passes_for_a_person_not_for_a_print(drv: Any, sim: Any) -> None:
    from gtsdk.modules.camera import LivenessRequest

    r = drv.liveness(LivenessRequest(checks=["challenge"]), ctx())
    assert [c.name for c in r.checks] == ["challenge"] and r.suggested_live
    assert drv.events[-1][0] == "livenessChallenge" and drv.events[-1][1]["kind"] in ("turn_left", "turn_right")
    sim.control("scenario", {"name": "bent_print"})
    drv.connect()
    r = drv.liveness(LivenessRequest(checks=["challenge"]), ctx())
    assert not r.suggested_live and r.checks[0].score < r.checks[0].threshold


def test_replayed_motion_passes_the_challenge_but_not_nir(drv: Any, sim: Any) -> None:
    from gtsdk.modules.camera import LivenessRequest

    sim.control("scenario", {"name": "replay_blink"})
    drv.connect()
    r = drv.liveness(LivenessRequest(challenge=True), ctx())
    by = {c.name: c for c in r.checks}
    assert not r.suggested_live and not by["nir_presence"].passed and "challenge" in by


def test_no_face_and_two_faces(drv: Any, sim: Any, pairs: Path) -> None:
    from gtsdk.modules.camera import CaptureRequest, FaceCompareRequest, LivenessRequest

    sim.control("scenario", {"name": "empty"})
    drv.connect()
    with pytest.raises(GtsdkError) as ei:
        drv.capture(CaptureRequest(require_face=True), ctx())
    assert ei.value.code == ErrorCode.NO_MEDIA
    assert drv.capture(CaptureRequest(), ctx()).quality["faceSize"] == 0.0
    with pytest.raises(GtsdkError) as ei:
        drv.liveness(LivenessRequest(), ctx())
    assert ei.value.code == ErrorCode.NO_MEDIA
    sim.control("scenario", {"name": "two_faces"})
    drv.connect()
    with pytest.raises(GtsdkError) as ei:
        drv.face_compare(FaceCompareRequest(reference=(pairs / "img1.jpg").read_bytes()), ctx())
    assert ei.value.code == ErrorCode.USER_ERROR


def test_unknown_check_is_refused(drv: Any) -> None:
    from gtsdk.modules.camera import LivenessRequest

    with pytest.raises(GtsdkError) as ei:
        drv.liveness(LivenessRequest(checks=["pad_rgb"]), ctx())
    assert ei.value.code == ErrorCode.UNSUPPORTED_DATA and ei.value.field == "checks"


def test_unplug_gives_no_device_then_recovers(drv: Any, sim: Any) -> None:
    from gtsdk.driver import DeviceState
    from gtsdk.modules.camera import CaptureRequest

    sim.control("unplug", {})
    with pytest.raises(GtsdkError) as ei:
        drv.capture(CaptureRequest(), ctx())
    assert ei.value.code == ErrorCode.NO_DEVICE and drv.states[-1] == DeviceState.NO_DEVICE
    with pytest.raises(GtsdkError) as ei:
        drv.connect()
    assert ei.value.code == ErrorCode.NO_DEVICE
    sim.control("plug", {})
    drv.connect()
    assert drv.capture(CaptureRequest(), ctx()).width == 640


def test_deadline_is_honoured(drv: Any) -> None:
    from gtsdk.modules.camera import LivenessRequest

    c = OpContext("late", 0.0)
    with pytest.raises(GtsdkError) as ei:
        drv.liveness(LivenessRequest(), c)
    assert ei.value.code == ErrorCode.TIME_OUT


def test_source_specs() -> None:
    from gtsdk.drivers.uvc_pair.codec import parse_source

    assert parse_source("0") == 0 and parse_source(2) == 2 and parse_source("/dev/video2") == "/dev/video2"
    assert parse_source("rtsp://127.0.0.1/x") == "rtsp://127.0.0.1/x"
    for bad in ("", -1):
        with pytest.raises(GtsdkError):
            parse_source(bad)


def _tiny_pad_model(dest: Path) -> Path:
    """A vendor-style passive anti-spoof slot: our own 2-class ONNX model (mean colour → softmax), just to
    prove the slot contract (crop, size, colour order, output index) end to end — not a PAD claim."""
    import hashlib
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[0.0, 0.02], [0.0, 0.01], [0.0, 0.01]], np.float32), "w")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["prob"], axis=1)]
    graph = helper.make_graph(nodes, "tiny_pad", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                [1, 3, 80, 80])],
                              [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    dest.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest / "tiny_pad.onnx"))
    manifest = {
        "name": "tiny_pad", "slot": "pad_rgb", "file": "tiny_pad.onnx",
        "sha256": hashlib.sha256((dest / "tiny_pad.onnx").read_bytes()).hexdigest(),
        "licence": "Apache-2.0", "source": "tests",
        "input": {"name": "input", "layout": "NCHW", "size": [80, 80], "colour": "BGR", "mean": [0, 0, 0],
                  "std": [1, 1, 1]},
        "crop": {"method": "box_scale", "scale": 2.7},
        "output": {"format": "probabilities", "live": 1, "softmax": False, "meaning": "index 1 = live"},
        "metric": "probability", "threshold": 0.5,
    }
    (dest / "tiny_pad.json").write_text(json.dumps(manifest))
    return dest / "tiny_pad.json"


def test_passive_model_slot(sim: Any, tmp_path: Path) -> None:
    from gtsdk.drivers.uvc_pair import UvcPairDriver, UvcPairSettings
    from gtsdk.modules.camera import LivenessRequest

    sim.control("plug", {})
    sim.control("scenario", {"name": "live"})
    man = _tiny_pad_model(tmp_path / "vendor")
    d = UvcPairDriver(UvcPairSettings(**{**sim.settings, "models": {"pad_rgb": str(man)}}))
    d.connect()
    try:
        assert "pad_rgb" in d.features()["checks"]
        r = d.liveness(LivenessRequest(checks=["pad_rgb"]), ctx())
        assert [c.name for c in r.checks] == ["pad_rgb"]
        assert 0.5 < r.checks[0].score < 1.0 and r.checks[0].threshold == 0.5 and "tiny_pad" in r.checks[0].detail
    finally:
        d.disconnect()


def test_through_the_terminal_runtime(model_dir: Path, tmp_path: Path) -> None:
    """simulated_terminal wires the real driver to the simulator; ops go through the runtime queue.  The
    simulated person (scikit-image's bundled portrait) needs nothing beside the repository."""
    from gtsdk.simulators._person import default_photo, portrait

    photo = default_photo()
    assert photo is not None and "skimage" in photo.parts, photo
    t = simulated_terminal(tmp_path, modules=["camera"]).start()
    try:
        ph = t.camera.capture(require_face=True, timeout=60)
        assert ph.width == 640
        card = portrait(photo, (306, 378), "JPEG", quality=90)  # a document-style portrait of the same person
        cmp_ = t.camera.face_compare(reference=card, timeout=60)
        assert cmp_.suggested_match
        live = t.camera.liveness(timeout=60)
        assert live.suggested_live
        t.simulations["camera"].control("scenario", {"name": "flat_print"})
        assert not t.camera.liveness(timeout=60).suggested_live
    finally:
        t.stop()


def test_calibrated_pair_is_rectified_before_the_stereo_check(sim: Any, tmp_path: Path) -> None:
    import json

    from gtsdk.drivers.uvc_pair import UvcPairDriver, UvcPairSettings
    from gtsdk.modules.camera import LivenessRequest

    sim.control("plug", {})
    sim.control("scenario", {"name": "live"})
    # the simulator's geometry: f = 600 px, principal point at the centre, right camera 40 mm to the right
    calib = {"image_size": [640, 480], "K1": [[600, 0, 320], [0, 600, 240], [0, 0, 1]], "D1": [0, 0, 0, 0, 0],
             "K2": [[600, 0, 320], [0, 600, 240], [0, 0, 1]], "D2": [0, 0, 0, 0, 0],
             "R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "T": [-40.0, 0, 0]}
    path = tmp_path / "calib.json"
    path.write_text(json.dumps(calib))
    d = UvcPairDriver(UvcPairSettings(**{**sim.settings, "calibration": str(path)}))
    d.connect()
    try:
        r = d.liveness(LivenessRequest(checks=["stereo_relief"]), ctx())
        assert r.suggested_live
    finally:
        d.disconnect()
    with pytest.raises(GtsdkError) as ei:
        UvcPairDriver(UvcPairSettings(**{**sim.settings, "calibration": str(tmp_path / "missing.json")}))
    assert ei.value.code == ErrorCode.CONFIG_ERROR


def test_health(drv: Any, sim: Any) -> None:
    from gtsdk.driver import HealthLevel

    h = drv.health(HealthLevel.EXTERNAL, ctx())
    assert h.ok and h.checks == {"frames": True, "models": True}
    sim.control("unplug", {})
    h = drv.health(HealthLevel.INTERNAL, ctx())
    assert not h.ok and h.checks == {"frames": False}
    sim.control("plug", {})
