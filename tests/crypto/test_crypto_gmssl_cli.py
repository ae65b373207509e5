"""Password-protected keys, and GB/T 35275 / key interop with the GmSSL 3.1 command line.

GmSSL is not packaged by Debian.  The GmSSL tests run when ``GTSDK_GMSSL_CLI`` names a GmSSL 3.1
``gmssl`` binary (see docs/crypto.md for building one from the source bundled in the
``easy-gmssl`` sdist) and are skipped otherwise.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gtsdk.crypto import SM2PrivateKey, cms, load_private_pem, pkcs8
from gtsdk.errors import GtsdkError

GMSSL = os.environ.get("GTSDK_GMSSL_CLI") or ""
needs_gmssl = pytest.mark.skipif(not (GMSSL and os.access(GMSSL, os.X_OK)), reason="GTSDK_GMSSL_CLI not set")
OPENSSL = shutil.which("openssl")


def gm(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    lib = Path(GMSSL).resolve().parent.parent / "lib"
    env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
    return subprocess.run([GMSSL, *args], input=data, capture_output=True, env=env, timeout=60)


def pem_body(text: bytes, label: str) -> bytes:
    m = re.search(rb"-----BEGIN " + label.encode() + rb"-----(.*?)-----END " + label.encode() + rb"-----", text, re.S)
    assert m is not None
    return base64.b64decode(b"".join(m.group(1).split()))


def pem(label: str, der: bytes) -> bytes:
    return f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(der) + f"-----END {label}-----\n".encode()


# ---------------------------------------------------------------------------- encrypted PKCS#8


def test_encrypted_pkcs8_round_trip_and_wrong_password() -> None:
    key = SM2PrivateKey.generate()
    for prf in ("sm3", "sha256"):
        text = key.to_pem(b"correct horse", prf=prf)  # type: ignore[arg-type]
        assert b"ENCRYPTED PRIVATE KEY" in text
        assert load_private_pem(text, "correct horse").public_key() == key.public_key()
        with pytest.raises(GtsdkError) as ei:
            load_private_pem(text, "wrong")
        assert ei.value.code == "invalidData"
        with pytest.raises(GtsdkError):
            load_private_pem(text)  # no password
    with pytest.raises(GtsdkError):
        pkcs8.decrypt(b"\x30\x00", b"x")


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_openssl_reads_sha256_form_and_writes_one_gtsdk_reads(tmp_path: Path) -> None:
    assert OPENSSL is not None
    key = SM2PrivateKey.generate()
    (tmp_path / "e.pem").write_bytes(key.to_pem("pw", prf="sha256"))
    out = subprocess.run([OPENSSL, "pkey", "-in", str(tmp_path / "e.pem"), "-passin", "pass:pw"],
                         capture_output=True, check=True, timeout=60).stdout
    assert load_private_pem(out).public_key() == key.public_key()
    (tmp_path / "k.pem").write_bytes(key.to_pem())
    for cipher in ("-aes-256-cbc", "-sm4-cbc"):
        enc = subprocess.run([OPENSSL, "pkcs8", "-topk8", "-v2", cipher[1:], "-in", str(tmp_path / "k.pem"),
                              "-passout", "pass:pw"], capture_output=True, check=True, timeout=60).stdout
        assert load_private_pem(enc, b"pw").public_key() == key.public_key()


# ---------------------------------------------------------------------------- GmSSL CLI


@needs_gmssl
def test_gmssl_keys_and_signatures(tmp_path: Path) -> None:
    r = gm("sm2keygen", "-pass", "P", "-out", str(tmp_path / "k.pem"), "-pubout", str(tmp_path / "p.pem"))
    assert r.returncode == 0, r.stderr
    key = load_private_pem((tmp_path / "k.pem").read_bytes(), "P")  # PBKDF2-HMAC-SM3 + SM4-CBC
    (tmp_path / "m").write_bytes(b"kiosk record")
    assert gm("sm2sign", "-key", str(tmp_path / "k.pem"), "-pass", "P", "-in", str(tmp_path / "m"),
              "-out", str(tmp_path / "s")).returncode == 0
    assert key.public_key().verify((tmp_path / "s").read_bytes(), b"kiosk record")
    mine = SM2PrivateKey.generate()
    (tmp_path / "mine.pem").write_bytes(mine.to_pem("Q"))
    (tmp_path / "mine.pub").write_bytes(mine.public_key().to_pem())
    r = gm("sm2sign", "-key", str(tmp_path / "mine.pem"), "-pass", "Q", "-in", str(tmp_path / "m"),
           "-out", str(tmp_path / "s2"))
    assert r.returncode == 0, r.stderr  # GmSSL reads gtsdk's encrypted key
    assert mine.public_key().verify((tmp_path / "s2").read_bytes(), b"kiosk record")
    (tmp_path / "s3").write_bytes(mine.sign(b"kiosk record"))
    r = gm("sm2verify", "-pubkey", str(tmp_path / "mine.pub"), "-in", str(tmp_path / "m"),
           "-sig", str(tmp_path / "s3"))
    assert r.returncode == 0, r.stderr


@needs_gmssl
def test_gmssl_enveloped_data_both_ways(tmp_path: Path) -> None:
    assert gm("sm2keygen", "-pass", "P", "-out", str(tmp_path / "k.pem"), "-pubout", str(tmp_path / "p.pem")
              ).returncode == 0
    r = gm("certgen", "-C", "CN", "-ST", "BJ", "-L", "BJ", "-O", "t", "-OU", "t", "-CN", "rcpt", "-days", "30",
           "-key", str(tmp_path / "k.pem"), "-pass", "P", "-out", str(tmp_path / "c.pem"),
           "-key_usage", "keyEncipherment")
    assert r.returncode == 0, r.stderr
    key = load_private_pem((tmp_path / "k.pem").read_bytes(), "P")
    cert = pem_body((tmp_path / "c.pem").read_bytes(), "CERTIFICATE")
    # GmSSL -> gtsdk (GmSSL writes key-encryption OID .301.2)
    (tmp_path / "m").write_bytes(b"record from gmssl")
    assert gm("cmsencrypt", "-rcptcert", str(tmp_path / "c.pem"), "-in", str(tmp_path / "m"),
              "-out", str(tmp_path / "env.pem")).returncode == 0
    res = cms.open_der(pem_body((tmp_path / "env.pem").read_bytes(), "CMS"), key, recipient_cert=cert)
    assert res.payload == b"record from gmssl"
    # gtsdk -> GmSSL: only the compat form; the GM/T 0006 OID .301.3 is refused by GmSSL 3.1
    for compat, ok in (("gmssl", True), ("standard", False)):
        der = cms.seal_der(b"record from gtsdk", key.public_key(), recipient_certs=[cert], compat=compat)  # type: ignore[arg-type]
        (tmp_path / "g.pem").write_bytes(pem("CMS", der))
        r = gm("cmsdecrypt", "-key", str(tmp_path / "k.pem"), "-pass", "P", "-cert", str(tmp_path / "c.pem"),
               "-in", str(tmp_path / "g.pem"))
        assert (r.returncode == 0 and r.stdout == b"record from gtsdk") == ok, r.stderr
    # GmSSL's parser reads our SignedAndEnvelopedData in compat form without complaint
    der = cms.seal_der(b"signed", key.public_key(), sign_key=SM2PrivateKey.generate(), recipient_certs=[cert],
                       compat="gmssl")
    (tmp_path / "s.pem").write_bytes(pem("CMS", der))
    r = gm("cmsparse", "-in", str(tmp_path / "s.pem"))
    assert r.returncode == 0 and b"signedAndEnvelopedData" in r.stdout and b"Unknown OID" not in r.stderr
