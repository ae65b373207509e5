"""dlib ResNet .dat reader + ONNX builder: structure, exactness against dlib itself, malformed input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import _vision_fixtures as _vf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.vision.dlib_convert import DlibFormatError, parse_dlib_resnet

model_dir = _vf.model_dir


def _dat() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-recognition-models not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return _dat().read_bytes()


def test_reader_finds_the_anet_layers(dat_bytes: bytes) -> None:
    net = parse_dlib_resnet(dat_bytes)
    assert len(net.convs) == 29
    assert net.convs[0].weight.shape == (32, 3, 7, 7) and net.convs[0].stride == 2 and net.convs[0].padding == 0
    assert net.fc.shape == (256, 128)
    strides = [c.stride for c in net.convs]
    assert strides.count(2) == 5  # stem + 4 down-sampling blocks
    assert all(c.padding == (0 if c.stride == 2 else 1) for c in net.convs[1:])


def test_onnx_matches_dlib_on_a_face_chip(model_dir: Path) -> None:
    dlib = pytest.importorskip("dlib")
    import cv2

    from gtsdk.vision import models
    from gtsdk.vision.pipeline import Embedder

    m = models.resolve("dlib_resnet_v1", model_dir)
    emb = Embedder(m)
    rng = np.random.default_rng(7)
    # a smooth synthetic chip with face-like contrast (no personal data needed for exactness)
    chip = np.asarray(cv2.GaussianBlur(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8), (0, 0), 3), np.uint8)
    ours = emb(chip[:, :, ::-1].copy())  # pipeline input is BGR; the manifest says the model wants RGB
    ref = np.array(dlib.face_recognition_model_v1(str(_dat())).compute_face_descriptor(chip))
    assert np.abs(ours - ref).max() < 1e-5


def test_not_a_dlib_file() -> None:
    with pytest.raises(DlibFormatError):
        parse_dlib_resnet(b"")
    with pytest.raises(DlibFormatError):
        parse_dlib_resnet(b"\x89PNG\r\n\x1a\n" + bytes(100))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=400_000), flips=st.lists(
    st.tuples(st.integers(min_value=0, max_value=399_999), st.integers(min_value=1, max_value=255)), max_size=8))
def test_truncated_or_corrupted_input_raises_only_format_errors(dat_bytes: bytes, cut: int,
                                                                 flips: list[tuple[int, int]]) -> None:
    data = bytearray(dat_bytes[:cut])
    for pos, x in flips:
        if pos < len(data):
            data[pos] ^= x
    with pytest.raises(DlibFormatError):
        parse_dlib_resnet(bytes(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=2_000), st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=4))
def test_corrupted_headers_of_a_full_file(dat_bytes: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(dat_bytes)
    for pos, x in flips:
        data[pos] ^= x
    try:
        net = parse_dlib_resnet(bytes(data))
    except DlibFormatError:
        return
    assert len(net.convs) == 29  # a flip inside float data still parses: the checksum guards the ONNX file
