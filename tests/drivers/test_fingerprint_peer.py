"""The fingerprint simulator driven by pyfingerprint 1.5 (a client we did not write), and our
driver's session through the same scenario: verify password, read an image, convert, search
(docs/test-peers.md §6; clause 8.4 d)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gtsdk.drivers.zhiantec import ZhiantecDriver, ZhiantecSettings
from gtsdk.drivers.zhiantec import codec as C
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.fingerprint import FingerprintSimulation, start

pyfp = pytest.importorskip("pyfingerprint.pyfingerprint")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[FingerprintSimulation]:
    s = start(tmp_path)
    s.control("enroll", {"person": "bob", "page": 3})
    s.control("enroll", {"person": "alice", "page": 7})
    yield s
    s.stop()


@pytest.fixture
def client(sim: FingerprintSimulation) -> Iterator[object]:
    f = pyfp.PyFingerprint(str(sim.link), 57600, 0xFFFFFFFF, 0x00000000)
    yield f
    del f


def test_pyfingerprint_verify_image_convert_search(sim: FingerprintSimulation, client: object, tmp_path: Path) -> None:
    f = client
    assert f.verifyPassword() is True  # type: ignore[attr-defined]
    assert f.getStorageCapacity() == 1000  # type: ignore[attr-defined]
    assert f.getTemplateCount() == 2  # type: ignore[attr-defined]
    assert f.readImage() is False  # type: ignore[attr-defined]  # no finger yet
    sim.control("place_finger", {"person": "alice"})
    assert f.readImage() is True  # type: ignore[attr-defined]
    dest = tmp_path / "finger.png"
    f.downloadImage(str(dest))  # type: ignore[attr-defined]  # UpImage: 36864 bytes in data packets
    from PIL import Image

    img = np.asarray(Image.open(dest))
    assert img.shape == (288, 256) and img.std() > 30  # a ridge pattern, not a blank
    f.convertImage(0x01)  # type: ignore[attr-defined]
    page, score = f.searchTemplate()  # type: ignore[attr-defined]
    assert page == 7 and score >= 50
    sim.control("place_finger", {"person": "nobody-enrolled"})
    assert f.readImage() is True  # type: ignore[attr-defined]
    f.convertImage(0x01)  # type: ignore[attr-defined]
    assert f.searchTemplate() == (-1, -1)  # type: ignore[attr-defined]


def test_pyfingerprint_enroll_store_and_characteristics(sim: FingerprintSimulation, client: object) -> None:
    f = client
    assert f.verifyPassword()  # type: ignore[attr-defined]
    sim.control("place_finger", {"person": "carol"})
    assert f.readImage()  # type: ignore[attr-defined]
    f.convertImage(0x01)  # type: ignore[attr-defined]
    assert f.readImage()  # type: ignore[attr-defined]
    f.convertImage(0x02)  # type: ignore[attr-defined]
    assert f.compareCharacteristics() >= 50  # type: ignore[attr-defined]
    f.createTemplate()  # type: ignore[attr-defined]  # RegModel
    pos = f.storeTemplate()  # type: ignore[attr-defined]  # first free page from ReadIndexTable
    assert pos == 0 and f.getTemplateCount() == 3  # type: ignore[attr-defined]
    chars = f.downloadCharacteristics(0x01)  # type: ignore[attr-defined]  # UpChar
    assert len(chars) == C.CHAR_SIZE
    assert f.uploadCharacteristics(0x02, chars) is True  # type: ignore[attr-defined]  # DownChar + read back
    assert f.loadTemplate(3, 0x02) is True  # type: ignore[attr-defined]
    assert f.compareCharacteristics() < 50  # type: ignore[attr-defined]  # carol vs bob
    assert f.deleteTemplate(3) is True  # type: ignore[attr-defined]
    assert f.getTemplateCount() == 2  # type: ignore[attr-defined]
    assert f.clearDatabase() is True  # type: ignore[attr-defined]
    assert f.getTemplateCount() == 0  # type: ignore[attr-defined]


def test_pyfingerprint_wrong_password(sim: FingerprintSimulation) -> None:
    sim.control("set_password", {"value": 0x1234})
    f = pyfp.PyFingerprint(str(sim.link), 57600, 0xFFFFFFFF, 0x00000000)
    assert f.verifyPassword() is False
    with pytest.raises(Exception, match=r"verif|0x21|password"):
        f.getTemplateCount()
    del f


def test_our_session_passes_the_same_scenario(sim: FingerprintSimulation) -> None:
    drv = ZhiantecDriver(ZhiantecSettings(port=str(sim.link)))
    drv.connect()  # VfyPwd + ReadSysPara
    try:
        s = drv.session
        assert s.capacity == 1000 and s.packet_size == 128
        assert s.template_count() == 2
        assert s.gen_img() == C.Confirm.NO_FINGER
        sim.control("place_finger", {"person": "alice"})
        assert s.gen_img() == C.Confirm.OK
        img = s.up_image()
        assert img.shape == (288, 256) and img.std() > 30
        s.img2tz(1)
        hit = s.search(1)
        assert hit is not None and hit[0] == 7 and hit[1] >= 50
        # enrol the second finger of alice, store it, find it
        sim.control("place_finger", {"person": "alice", "finger": 1})
        assert s.gen_img() == C.Confirm.OK
        s.img2tz(1)
        assert s.gen_img() == C.Confirm.OK
        s.img2tz(2)
        s.reg_model()
        s.store(1, 20)
        tpl = s.up_char(1)
        assert len(tpl) == C.CHAR_SIZE
        s.down_char(2, tpl)
        assert s.up_char(2) == tpl
        s.load_char(2, 20)
        assert s.match() >= 50
        s.delete(20)
        with pytest.raises(GtsdkError) as e:
            s.load_char(2, 20)
        assert e.value.code == ErrorCode.INVALID_DATA and e.value.data["confirmation"] == 0x0C
        s.empty()
        assert s.template_count() == 0
    finally:
        drv.disconnect()


def test_our_driver_image_matches_what_pyfingerprint_saw(sim: FingerprintSimulation, client: object,
                                                          tmp_path: Path) -> None:
    """The same image buffer read by both clients decodes to the same pixels."""
    from PIL import Image

    f = client
    sim.control("place_finger", {"person": "dave"})
    assert f.verifyPassword() and f.readImage()  # type: ignore[attr-defined]
    f.downloadImage(str(tmp_path / "a.png"))  # type: ignore[attr-defined]
    theirs = np.asarray(Image.open(tmp_path / "a.png"))
    drv = ZhiantecDriver(ZhiantecSettings(port=str(sim.link)))
    drv.connect()
    try:
        ours = drv.session.up_image()  # UpImage again: same image buffer
    finally:
        drv.disconnect()
    assert (ours == theirs).all()
    ours_png = C.image_png(ours)
    assert (np.asarray(Image.open(io.BytesIO(ours_png))) == theirs).all()
