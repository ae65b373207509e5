"""gtsdk against real peers: the OpenSSL 3 command line and the pure-Python ``gmssl`` package.

OpenSSL's ``pkeyutl``/``dgst`` use an EMPTY SM2 ID unless ``-pkeyopt distid:…`` is given
(reference §2.2), so every signature command states the ID.  ``gmssl`` (duanhongyi) talks
raw C1C2C3 without the 04 byte and raw r‖s: the explicit converters bridge it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gtsdk.crypto import (
    DEFAULT_UID,
    SM2PrivateKey,
    SM2PublicKey,
    formats,
    hmac_sm3,
    load_private_der,
    load_private_pem,
    load_public_pem,
    sm3,
    sm4,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def ossl(*args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=check, timeout=60)


# ---------------------------------------------------------------------------- keys


@needs_openssl
def test_openssl_generated_key_reads_and_writes_identically(tmp_path: Path) -> None:
    k = tmp_path / "k.pem"
    ossl("genpkey", "-algorithm", "SM2", "-out", str(k))
    key = load_private_pem(k.read_bytes())
    assert key.to_pem() == k.read_bytes()  # same PKCS#8 layout as OpenSSL
    pub_pem = ossl("pkey", "-in", str(k), "-pubout").stdout
    assert key.public_key().to_pem() == pub_pem
    assert load_public_pem(pub_pem) == key.public_key()


@needs_openssl
def test_gtsdk_key_round_trips_through_openssl_pkey(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.to_pem())
    out = ossl("pkey", "-in", str(tmp_path / "k.pem")).stdout
    assert load_private_pem(out).public_key() == key.public_key()
    der = ossl("pkey", "-in", str(tmp_path / "k.pem"), "-outform", "DER").stdout
    # "pkey -outform DER" writes the traditional SEC1 ECPrivateKey (with the curve OID): read it too.
    assert load_private_der(der).public_key() == key.public_key()
    text = ossl("pkey", "-in", str(tmp_path / "k.pem"), "-text", "-noout").stdout.decode()
    assert "SM2" in text
    pub = ossl("pkey", "-in", str(tmp_path / "k.pem"), "-pubout", "-outform", "DER").stdout
    assert SM2PublicKey.from_der(pub) == key.public_key()
    assert pub == key.public_key().to_der()


@needs_openssl
def test_sec1_ec_private_key_from_openssl(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.to_pem())
    res = ossl("ec", "-in", str(tmp_path / "k.pem"), check=False)
    assert res.returncode == 0, res.stderr
    assert b"-----BEGIN SM2 PRIVATE KEY-----" in res.stdout or b"-----BEGIN EC PRIVATE KEY-----" in res.stdout
    assert load_private_pem(res.stdout).public_key() == key.public_key()


# ---------------------------------------------------------------------------- signatures


@needs_openssl
@pytest.mark.parametrize("uid", [DEFAULT_UID, b"ALICE123@YAHOO.COM"])
def test_gtsdk_signature_verifies_in_openssl(tmp_path: Path, uid: bytes) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(key.public_key().to_pem())
    msg = os.urandom(300)
    (tmp_path / "m").write_bytes(msg)
    (tmp_path / "sig").write_bytes(key.sign(msg, uid=uid))
    args = ["pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin", "-digest", "sm3"]
    ok = ossl(*args, "-pkeyopt", f"distid:{uid.decode()}", "-in", str(tmp_path / "m"),
              "-sigfile", str(tmp_path / "sig"), check=False)
    assert ok.returncode == 0, ok.stderr
    # The same signature under OpenSSL's default (empty) ID must fail: the ID really is bound.
    bad = ossl(*args, "-in", str(tmp_path / "m"), "-sigfile", str(tmp_path / "sig"), check=False)
    assert bad.returncode != 0


@needs_openssl
def test_openssl_signature_verifies_in_gtsdk(tmp_path: Path) -> None:
    k = tmp_path / "k.pem"
    ossl("genpkey", "-algorithm", "SM2", "-out", str(k))
    pub = load_private_pem(k.read_bytes()).public_key()
    msg = b"kiosk audit head " * 7
    (tmp_path / "m").write_bytes(msg)
    sig = ossl("pkeyutl", "-sign", "-inkey", str(k), "-rawin", "-digest", "sm3",
               "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / "m")).stdout
    assert pub.verify(sig, msg)
    assert not pub.verify(sig, msg + b"!")
    # dgst -sigopt works too; with no ID at all OpenSSL signs under the empty ID.
    sig2 = ossl("dgst", "-sm3", "-sign", str(k), "-sigopt", "distid:1234567812345678", str(tmp_path / "m")).stdout
    assert pub.verify(sig2, msg)
    sig3 = ossl("pkeyutl", "-sign", "-inkey", str(k), "-rawin", "-digest", "sm3", "-in", str(tmp_path / "m")).stdout
    assert pub.verify(sig3, msg, uid=b"") and not pub.verify(sig3, msg)


# ---------------------------------------------------------------------------- encryption


@needs_openssl
@pytest.mark.parametrize("size", [1, 16, 255, 4096])
def test_openssl_encrypts_gtsdk_decrypts(tmp_path: Path, size: int) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(key.public_key().to_pem())
    msg = os.urandom(size)
    ct = ossl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "pub.pem"), data=msg).stdout
    formats.parse_ciphertext(ct)  # OpenSSL emits strict DER SM2Cipher
    assert key.decrypt(ct) == msg


@needs_openssl
@pytest.mark.parametrize("size", [1, 16, 255, 4096])
def test_gtsdk_encrypts_openssl_decrypts(tmp_path: Path, size: int) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.to_pem())
    msg = os.urandom(size)
    (tmp_path / "ct").write_bytes(key.public_key().encrypt(msg))
    out = ossl("pkeyutl", "-decrypt", "-inkey", str(tmp_path / "k.pem"), "-in", str(tmp_path / "ct")).stdout
    assert out == msg


# ---------------------------------------------------------------------------- SM3 / SM4 / HMAC


@needs_openssl
def test_sm3_and_hmac_match_openssl() -> None:
    data = os.urandom(100_000)
    out = ossl("dgst", "-sm3", "-binary", data=data).stdout
    assert out == sm3(data)
    key = os.urandom(24)
    mac = ossl("mac", "-digest", "SM3", "-macopt", f"hexkey:{key.hex()}", "-binary", "HMAC", data=data, check=False)
    if mac.returncode != 0:
        pytest.skip("openssl mac unavailable")
    assert mac.stdout == hmac_sm3(key, data)


@needs_openssl
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 70_000])
def test_sm4_cbc_and_ctr_match_openssl_enc(size: int) -> None:
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(size)
    cbc = ossl("enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), data=data).stdout
    assert cbc == sm4.cbc_encrypt(key, iv, data)
    assert sm4.cbc_decrypt(key, iv, cbc) == data
    ctr = ossl("enc", "-sm4-ctr", "-K", key.hex(), "-iv", iv.hex(), data=data).stdout
    assert ctr == sm4.ctr_encrypt(key, iv, data)
    if size % 16 == 0 and size:
        ecb = ossl("enc", "-sm4-ecb", "-nopad", "-K", key.hex(), data=data).stdout
        assert ecb == sm4.ecb_encrypt(key, data)


# ---------------------------------------------------------------------------- gmssl (pure Python) peer

def _gmssl(name: str) -> Any:
    return pytest.importorskip(f"gmssl.{name}")  # skips only the gmssl tests when the peer is absent


def _gm_peer(key: SM2PrivateKey) -> object:
    # gmssl strips a leading "04" with lstrip("04") (reference §1, py-gmssl #66): pass x‖y hex.
    return _gmssl("sm2").CryptSM2(private_key=key.private_bytes().hex(), public_key=key.public_key().point[1:].hex(),
                              mode=0)


def _key_safe_for_gmssl() -> SM2PrivateKey:
    while True:
        k = SM2PrivateKey.generate()
        if not k.public_key().point[1:].hex().startswith("04"):
            return k


def test_gmssl_signature_interop() -> None:
    for _ in range(3):
        key = _key_safe_for_gmssl()
        peer = _gm_peer(key)
        msg = os.urandom(50)
        raw = bytes.fromhex(peer.sign_with_sm3(msg))  # type: ignore[attr-defined]
        assert key.public_key().verify(formats.signature_raw_to_der(raw), msg)
        mine = formats.signature_der_to_raw(key.sign(msg)).hex()
        assert peer.verify_with_sm3(mine, msg)  # type: ignore[attr-defined]


def test_gmssl_c1c2c3_encryption_interop() -> None:
    for size in (1, 16, 100):
        key = _key_safe_for_gmssl()
        peer = _gm_peer(key)
        msg = os.urandom(size)
        raw = peer.encrypt(msg)  # type: ignore[attr-defined]
        der = formats.ciphertext_raw_to_der(raw, order="C1C2C3", c1_prefix=False)
        assert key.decrypt(der) == msg
        back = formats.ciphertext_der_to_raw(key.public_key().encrypt(msg), order="C1C2C3", c1_prefix=False)
        assert peer.decrypt(back) == msg  # type: ignore[attr-defined]
        # Reading gmssl's blob with the wrong order is caught by C3 (gtsdk never guesses the order).
        wrong = formats.ciphertext_raw_to_der(raw, order="C1C3C2", c1_prefix=False)
        with pytest.raises(Exception) as ei:
            key.decrypt(wrong)
        assert getattr(ei.value, "code", None) == "invalidData"


def test_gmssl_sm3_and_sm4_cbc_agree() -> None:
    gm_sm3, gm_sm4 = _gmssl("sm3"), _gmssl("sm4")
    data = os.urandom(333)
    assert bytes.fromhex(gm_sm3.sm3_hash(list(data))) == sm3(data)
    key, iv = os.urandom(16), os.urandom(16)
    c = gm_sm4.CryptSM4()
    c.set_key(key, gm_sm4.SM4_ENCRYPT)
    assert bytes(c.crypt_cbc(iv, data)) == sm4.cbc_encrypt(key, iv, data)


@needs_openssl
def test_ecparam_generated_key_with_parameters_block(tmp_path: Path) -> None:
    k = tmp_path / "k.pem"
    ossl("ecparam", "-name", "SM2", "-genkey", "-out", str(k))
    key = load_private_pem(k.read_bytes())  # the "SM2 PARAMETERS" block before the key is skipped
    pub = ossl("pkey", "-in", str(k), "-pubout").stdout
    assert load_public_pem(pub) == key.public_key()
