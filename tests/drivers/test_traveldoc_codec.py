"""BAC, secure messaging, TLV/LDS and SOD: ICAO 9303-11 Appendix D worked example, round trips,
hostile input, and the openssl CLI as an independent CMS verifier of our SOD."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.icao_pcsc import codec, sod
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulators.travel_doc.card import IcaoChip
from gtsdk.simulators.travel_doc.documents import PASSPORT_MRZ, face_image, make_document
from gtsdk.simulators.travel_doc.pki import build_sod, make_pki

H = bytes.fromhex
# ICAO Doc 9303-11 Appendix D (D.2-D.4) worked example
MRZ_INFO = "L898902C<369080619406236"
RND_IC, RND_IFD = H("4608F91988702212"), H("781723860C06C226")
K_IFD = H("0B795240CB7049B01C19B33E32804F0B")
CMD_DATA = H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7")
RESP = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")


def _parity(k: bytes) -> bytes:
    return bytes(b & 0xFE | (bin(b >> 1).count("1") + 1) % 2 for b in k)


def test_appendix_d_key_derivation() -> None:
    k_enc, k_mac = codec.bac_keys(MRZ_INFO)
    assert _parity(k_enc) == H("AB94FDECF2674FDFB9B391F85D7F76F2")
    assert _parity(k_mac) == H("7962D9ECE03D1ACD4C76089DCE131543")


def test_appendix_d_mutual_authentication_and_session_keys() -> None:
    bac = codec.BacSession(*codec.bac_keys(MRZ_INFO), rnd_ifd=RND_IFD, k_ifd=K_IFD)
    assert bac.authenticate_data(RND_IC) == CMD_DATA
    sm = bac.finish(RESP)
    assert _parity(sm.ks_enc) == H("979EC13B1CBFE9DCD01AB0FED307EAE5")
    assert _parity(sm.ks_mac) == H("F1CB1F1FB5ADF208806B89DC579DC1F8")
    assert sm.ssc == 0x887022120C06C226
    # D.4: SELECT EF.COM protected, and the card's answer verified with SSC+2
    assert sm.protect(0x00, 0xA4, 0x02, 0x0C, H("011E")) == H("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
    assert sm.unprotect(H("990290008E08FA855A5D4C50A8ED")) == (b"", 0x9000)


def test_bad_bac_answer_is_authentication_failed() -> None:
    bac = codec.BacSession(*codec.bac_keys(MRZ_INFO), rnd_ifd=RND_IFD, k_ifd=K_IFD)
    bac.authenticate_data(RND_IC)
    with pytest.raises(GtsdkError) as e:
        bac.finish(RESP[:-1] + b"\x00")
    assert e.value.code == ErrorCode.AUTHENTICATION_FAILED


def test_sm_mac_failure_is_invalid_data() -> None:
    bac = codec.BacSession(*codec.bac_keys(MRZ_INFO), rnd_ifd=RND_IFD, k_ifd=K_IFD)
    bac.authenticate_data(RND_IC)
    sm = bac.finish(RESP)
    sm.protect(0x00, 0xA4, 0x02, 0x0C, H("011E"))
    with pytest.raises(GtsdkError) as e:
        sm.unprotect(H("990290008E08FA855A5D4C50A8EE"))
    assert e.value.code == ErrorCode.INVALID_DATA


def _session() -> tuple[IcaoChip, codec.SecureMessaging]:
    doc = make_document(PASSPORT_MRZ, make_pki())
    chip = IcaoChip(doc.bac_key, doc.files)
    assert chip.handle(H("00A4040C07") + codec.LDS1_AID) == H("9000")
    rnd = chip.handle(H("0084000008"))[:8]
    bac = codec.BacSession(*codec.bac_keys(doc.bac_key))
    r = chip.handle(H("0082000028") + bac.authenticate_data(rnd) + b"\x28")
    assert r[-2:] == H("9000")
    return chip, bac.finish(r[:-2])


@given(st.binary(max_size=300), st.integers(1, 0xDF))
@settings(max_examples=25, deadline=None)
def test_sm_round_trip_against_the_independent_chip(payload: bytes, le: int) -> None:
    chip, sm = _session()
    chip.files[0x0101] = payload
    assert sm.unprotect(chip.handle(sm.protect(0, 0xA4, 2, 0x0C, H("0101")))[:-2]) == (b"", 0x9000)
    data, sw = sm.unprotect(chip.handle(sm.protect(0, 0xB0, 0, 0, le=le))[:-2])
    assert sw == 0x9000 and data == payload[:le]


@given(st.binary(max_size=80))
def test_random_sm_responses_only_raise_invalid_data(blob: bytes) -> None:
    sm = codec.SecureMessaging(bytes(16), bytes(16), 0)
    try:
        sm.unprotect(blob)
    except GtsdkError as e:
        assert e.code == ErrorCode.INVALID_DATA


@given(st.binary(max_size=200))
def test_random_lds_bytes_only_raise_invalid_data(blob: bytes) -> None:
    for fn in (codec.parse_com, codec.parse_dg1, codec.parse_dg2, codec.tlv_length, sod.parse):
        try:
            fn(blob)
        except GtsdkError as e:
            assert e.code == ErrorCode.INVALID_DATA


@pytest.mark.parametrize("fmt", ["jpeg", "jpeg2000"])
def test_dg2_round_trip(fmt: str) -> None:
    img = face_image(fmt)
    face = codec.parse_dg2(codec.build_dg2(img, fmt, 120, 150))
    assert (face.data, face.format, face.width, face.height) == (img, fmt, 120, 150)


def test_com_and_dg1() -> None:
    assert codec.parse_com(codec.build_com([1, 2, 11])) == [1, 2, 11]
    assert codec.parse_dg1(codec.build_dg1(PASSPORT_MRZ)) == PASSPORT_MRZ.replace("\n", "")
    assert codec.tlv_length(codec.build_dg1(PASSPORT_MRZ)[:4]) == len(codec.build_dg1(PASSPORT_MRZ))


def test_sod_verifies_and_detects_tampering() -> None:
    pki, other = make_pki(), make_pki()
    groups = {1: codec.build_dg1(PASSPORT_MRZ), 2: codec.build_dg2(b"\xff\xd8\xff\xe0", "jpeg", 1, 1)}
    s = sod.parse(build_sod(pki, groups))
    ok = sod.verify(s, groups, [pki.csca])
    assert (ok.hashes_ok, ok.signature_ok, ok.chain_ok) == (True, True, True)
    bad = sod.verify(s, {1: groups[1] + b"x", 2: groups[2]}, [other.csca])
    assert (bad.hashes_ok, bad.signature_ok, bad.chain_ok, bad.failed_groups) == (False, True, False, [1])
    s.signature = s.signature[:-2] + bytes([s.signature[-2] ^ 1, s.signature[-1]])
    assert sod.verify(s, groups).signature_ok is False


def test_openssl_cms_accepts_our_sod(tmp_path: Path) -> None:
    """The openssl CLI, an independent CMS implementation, verifies the simulator's SOD against the CSCA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    pki = make_pki()
    groups = {1: codec.build_dg1(PASSPORT_MRZ)}
    raw = build_sod(pki, groups)
    _, content_info, _ = codec.read_tlv(raw)
    (tmp_path / "sod.der").write_bytes(content_info)
    pki.write_csca(tmp_path / "csca.pem")
    r = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sod.der"),
                        "-CAfile", str(tmp_path / "csca.pem"), "-purpose", "any", "-out", str(tmp_path / "lso.der")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "lso.der").read_bytes() == sod.parse(raw).econtent
