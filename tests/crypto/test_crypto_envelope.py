"""Envelopes (compact JSON profile and GB/T 35275 DER) and the ``gtsdk crypto`` CLI.

The CLI is checked against the ``openssl`` command line: keys it writes are read by
``openssl pkey``, its signatures verify with ``openssl pkeyutl -verify -pkeyopt distid:…``
and OpenSSL's signatures verify with ``gtsdk crypto verify``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gtsdk.cli.crypto import command
from gtsdk.crypto import SM2PrivateKey, _der, cms, formats, load_private_pem, sm3
from gtsdk.crypto.envelope import b64u_decode, dumps, loads, open_envelope, open_json, seal_json
from gtsdk.errors import GtsdkError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def run(*args: str, data: bytes = b"") -> tuple[int, bytes, str]:
    res = CliRunner().invoke(command, list(args), input=data, catch_exceptions=False)
    return res.exit_code, res.stdout_bytes, res.stderr


# ---------------------------------------------------------------------------- compact profile


def test_compact_envelope_layout() -> None:
    rcpt, sender = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    env = seal_json(b"\x00" * 10, rcpt.public_key(), sign_key=sender, header={"kiosk": "0001"})
    assert set(env) == {"v", "hdr", "ek", "iv", "ct", "sig"} and env["v"] == 1
    hdr = json.loads(b64u_decode(env["hdr"]))
    assert hdr["alg"] == "SM2-SM4GCM-SM3" and hdr["h"] == {"kiosk": "0001"}
    assert b64u_decode(hdr["spk"]) == sender.public_key().point
    assert len(b64u_decode(env["iv"])) == 12
    assert len(b64u_decode(env["ct"])) == 10 + 16
    assert rcpt.decrypt(b64u_decode(env["ek"])).__len__() == 16
    for v in env.values():
        assert "=" not in str(v)  # base64url without padding


def test_compact_envelope_fresh_key_and_nonce_every_time() -> None:
    rcpt = SM2PrivateKey.generate()
    a = seal_json(b"same", rcpt.public_key())
    b = seal_json(b"same", rcpt.public_key())
    assert a["iv"] != b["iv"] and a["ct"] != b["ct"] and a["ek"] != b["ek"]


def test_compact_envelope_wrong_sender_and_resigned_envelope_rejected() -> None:
    rcpt, sender, mallory = (SM2PrivateKey.generate() for _ in range(3))
    env = seal_json(b"photo", rcpt.public_key(), sign_key=sender)
    with pytest.raises(GtsdkError):
        open_json(env, rcpt, sender=mallory.public_key())
    forged = seal_json(b"photo", rcpt.public_key(), sign_key=mallory)
    with pytest.raises(GtsdkError):
        open_json(forged, rcpt, sender=sender.public_key())
    assert open_envelope(forged, rcpt).signer == mallory.public_key()  # caller sees who signed


def test_loads_rejects_duplicate_keys_and_non_objects() -> None:
    for text in (b'{"v":1,"v":1}', b"[]", b"\xff", b"{"):
        with pytest.raises(GtsdkError):
            loads(text)


# ---------------------------------------------------------------------------- GB/T 35275


def _parse_top(der: bytes) -> tuple[str, list[_der.Tlv]]:
    top = _der.children(_der.parse(der, _der.SEQUENCE), 2)
    body = _der.children(_der.children(top[1], 1)[0])
    return _der.as_oid(top[0]), body


def test_enveloped_data_structure_and_oids() -> None:
    rcpt = SM2PrivateKey.generate()
    der = cms.seal_der(b"hello", rcpt.public_key())
    ctype, body = _parse_top(der)
    assert ctype == cms.OID_ENVELOPED_DATA
    ri = _der.children(_der.children(body[1])[0])
    assert _der.as_oid(_der.children(ri[2])[0]) == cms.OID_SM2_ENCRYPT  # emits .301.3
    eci = _der.children(body[2])
    assert _der.as_oid(eci[0]) == cms.OID_DATA
    assert _der.as_oid(_der.children(eci[1])[0]) == cms.OID_SM4_CBC
    assert eci[2].tag == 0x80 and len(eci[2].value) == 16


def test_gmssl_compat_emits_301_2_and_all_key_oids_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    rcpt = SM2PrivateKey.generate()
    der = cms.seal_der(b"hello", rcpt.public_key(), compat="gmssl")
    assert _der.oid(cms.OID_SM2_GMSSL_ENCRYPT) in der and _der.oid(cms.OID_SM2_ENCRYPT) not in der
    assert cms.open_der(der, rcpt).payload == b"hello"
    with monkeypatch.context() as m:  # a writer that labels the key with the bare SM2 OID (.301)
        m.setattr(cms, "OID_SM2_ENCRYPT", cms.OID_SM2)
        bare = cms.seal_der(b"hello", rcpt.public_key())
    assert _der.oid(cms.OID_SM2_ENCRYPT) not in bare
    assert cms.open_der(bare, rcpt).payload == b"hello"
    with monkeypatch.context() as m:  # any other OID is refused
        m.setattr(cms, "OID_SM2_ENCRYPT", "1.2.840.113549.1.1.1")
        rsa = cms.seal_der(b"hello", rcpt.public_key())
    with pytest.raises(GtsdkError):
        cms.open_der(rsa, rcpt)


def test_multiple_recipients() -> None:
    a, b, c = (SM2PrivateKey.generate() for _ in range(3))
    der = cms.seal_der(b"to both", [a.public_key(), b.public_key()])
    assert cms.open_der(der, a).payload == b"to both"
    assert cms.open_der(der, b).payload == b"to both"
    with pytest.raises(GtsdkError):
        cms.open_der(der, c)


@needs_openssl
def test_certificates_name_recipient_and_signer(tmp_path: Path) -> None:
    rcpt, signer = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    certs = {}
    for name, key in (("r", rcpt), ("s", signer)):
        (tmp_path / f"{name}.pem").write_bytes(key.to_pem())
        subprocess.run(
            [OPENSSL, "req", "-x509", "-new", "-key", str(tmp_path / f"{name}.pem"), "-subj", f"/CN={name}",
             "-sm3", "-sigopt", "distid:1234567812345678", "-days", "1", "-outform", "DER",
             "-out", str(tmp_path / f"{name}.der")],
            check=True, capture_output=True, timeout=60,
        )
        certs[name] = (tmp_path / f"{name}.der").read_bytes()
    assert cms.certificate_public_key(certs["r"]) == rcpt.public_key()
    der = cms.seal_der(b"with certs", rcpt.public_key(), sign_key=signer, recipient_certs=[certs["r"]],
                       signer_cert=certs["s"])
    assert cms.certificate_identifier(certs["r"]) in der
    res = cms.open_der(der, rcpt, recipient_cert=certs["r"])
    assert res.payload == b"with certs" and res.verified and res.signer == signer.public_key()
    assert cms.open_der(der, rcpt, recipient_cert=certs["r"], sender=signer.public_key()).verified
    # the CLI takes certificates wherever it takes a public key
    pem = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-in", str(tmp_path / "s.der")],
                         check=True, capture_output=True, timeout=60).stdout
    (tmp_path / "s.crt").write_bytes(pem)
    (tmp_path / "sig").write_bytes(signer.sign(b"doc"))
    assert run("verify", "--pub", str(tmp_path / "s.crt"), "--sig", str(tmp_path / "sig"), data=b"doc")[0] == 0
    with pytest.raises(GtsdkError):  # the RecipientInfo names the certificate, not the bare key
        cms.open_der(der, rcpt)


def test_signed_and_enveloped_signature_covers_content_with_za() -> None:
    rcpt, signer = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    der = cms.seal_der(b"record", rcpt.public_key(), sign_key=signer)
    ctype, body = _parse_top(der)
    assert ctype == cms.OID_SIGNED_AND_ENVELOPED_DATA
    si = _der.children(_der.children(body[-1])[0])
    assert _der.as_oid(_der.children(si[2])[0]) == cms.OID_SM3
    assert _der.as_oid(_der.children(si[3])[0]) == cms.OID_SM2_SIGN
    assert signer.public_key().verify(_der.as_octets(si[4]), b"record")
    unsigned = cms.open_der(der, rcpt)
    assert unsigned.signed and not unsigned.verified
    with pytest.raises(GtsdkError):
        cms.open_der(der, rcpt, sender=rcpt.public_key())
    with pytest.raises(GtsdkError):  # an unsigned envelope cannot satisfy a required sender
        cms.open_der(cms.seal_der(b"record", rcpt.public_key()), rcpt, sender=signer.public_key())


# ---------------------------------------------------------------------------- CLI


def test_cli_keygen_sign_verify_seal_open(tmp_path: Path) -> None:
    k, p = tmp_path / "k.pem", tmp_path / "p.pem"
    code, _, _ = run("keygen", "--out", str(k), "--pub", str(p))
    assert code == 0 and k.stat().st_mode & 0o777 == 0o600
    assert run("keygen", "--out", str(k))[0] != 0  # refuses to overwrite
    code, sig, _ = run("sign", "--key", str(k), data=b"msg")
    assert code == 0
    (tmp_path / "s.der").write_bytes(sig)
    assert run("verify", "--pub", str(p), "--sig", str(tmp_path / "s.der"), data=b"msg")[0] == 0
    assert run("verify", "--pub", str(p), "--sig", str(tmp_path / "s.der"), data=b"msG")[0] == 1
    assert run("verify", "--pub", str(p), "--sig", str(tmp_path / "s.der"), "--id", "other", data=b"msg")[0] == 1
    for fmt in ("der", "json"):
        code, env, _ = run("seal", "--to", str(p), "--sign-key", str(k), "--format", fmt, data=b"secret")
        assert code == 0
        (tmp_path / "e").write_bytes(env)
        code, out, _ = run("open", "--key", str(k), "--from", str(p), str(tmp_path / "e"))
        assert (code, out) == (0, b"secret")
    code, out, err = run("open", "--key", str(k), data=b"\x30\x03garbage")
    assert code != 0 and "invalidData" in err
    assert run("sm3", data=b"abc")[1].strip() == sm3(b"abc").hex().encode()


@needs_openssl
def test_cli_interop_with_openssl(tmp_path: Path) -> None:
    assert OPENSSL is not None
    k, p, m = tmp_path / "k.pem", tmp_path / "p.pem", tmp_path / "m"
    m.write_bytes(b"interop " * 100)
    assert run("keygen", "--out", str(k), "--pub", str(p))[0] == 0
    subprocess.run([OPENSSL, "pkey", "-in", str(k), "-noout"], check=True, timeout=60)
    (tmp_path / "s.der").write_bytes(run("sign", "--key", str(k), str(m))[1])
    subprocess.run([OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(p), "-rawin", "-digest", "sm3",
                    "-pkeyopt", "distid:1234567812345678", "-in", str(m), "-sigfile", str(tmp_path / "s.der")],
                   check=True, capture_output=True, timeout=60)
    osig = subprocess.run([OPENSSL, "pkeyutl", "-sign", "-inkey", str(k), "-rawin", "-digest", "sm3",
                           "-pkeyopt", "distid:1234567812345678", "-in", str(m)],
                          check=True, capture_output=True, timeout=60).stdout
    (tmp_path / "o.der").write_bytes(osig)
    assert run("verify", "--pub", str(p), "--sig", str(tmp_path / "o.der"), str(m))[0] == 0
    # The content key inside a gtsdk envelope is a plain DER SM2Cipher: openssl decrypts it.
    code, env, _ = run("seal", "--to", str(p), "--format", "der", str(m))
    assert code == 0
    _, body = _parse_top(env)
    ek = _der.as_octets(_der.children(_der.children(body[1])[0])[3])
    (tmp_path / "ek").write_bytes(ek)
    cek = subprocess.run([OPENSSL, "pkeyutl", "-decrypt", "-inkey", str(k), "-in", str(tmp_path / "ek")],
                         check=True, capture_output=True, timeout=60).stdout
    eci = _der.children(body[2])
    iv = _der.as_octets(_der.children(eci[1])[1])
    plain = subprocess.run([OPENSSL, "enc", "-d", "-sm4-cbc", "-K", cek.hex(), "-iv", iv.hex()],
                           input=eci[2].value, check=True, capture_output=True, timeout=60).stdout
    assert plain == m.read_bytes()


def test_key_loading_errors_are_clean() -> None:
    for bad in (b"", b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(b"\x30\x00") + b"\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(GtsdkError) as ei:
            load_private_pem(bad)
        assert ei.value.code == "invalidData"
    with pytest.raises(GtsdkError):
        SM2PrivateKey.from_bytes(b"\x00" * 32)  # d = 0 is out of range
    with pytest.raises(GtsdkError):
        SM2PrivateKey.from_bytes((formats.N - 1).to_bytes(32, "big"))  # d must be <= n-2
    assert dumps({"a": 1}) == b'{"a":1}'


# ---------------------------------------------------------------------------- Sealer / Opener


def test_sealer_reuses_key_within_bounds_and_rotates() -> None:
    from gtsdk.crypto.envelope import Opener, Sealer

    rcpt, sender = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    sl = Sealer(rcpt.public_key(), sign_key=sender, max_uses=3)
    envs = [sl.seal(f"record {i}".encode(), header={"i": i}) for i in range(7)]
    eks = [e["ek"] for e in envs]
    assert eks[0] == eks[1] == eks[2] != eks[3] == eks[4] == eks[5] != eks[6]
    assert len({e["iv"] for e in envs}) == 7  # a fresh nonce every time
    op = Opener(rcpt, cache_size=1)
    for i, e in enumerate(envs):
        res = op.open(e, sender=sender.public_key())
        assert res.payload == f"record {i}".encode() and res.header == {"i": i}
        assert open_json(e, rcpt, sender=sender.public_key()) == res.payload  # same wire format
    # the cache does not weaken checks: a flipped ciphertext bit under a cached key is rejected
    bad = dict(envs[6])
    raw = bytearray(b64u_decode(bad["ct"]))
    raw[0] ^= 1
    bad["ct"] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(GtsdkError):
        op.open(bad, sender=sender.public_key())
    with pytest.raises(GtsdkError):
        Opener(sender).open(envs[0])


def test_sealer_rotates_after_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    from gtsdk.crypto import envelope

    rcpt = SM2PrivateKey.generate()
    now = [1000.0]
    monkeypatch.setattr(envelope.time, "monotonic", lambda: now[0])
    sl = envelope.Sealer(rcpt.public_key(), max_age=10)
    a = sl.seal(b"a")
    now[0] += 5
    b = sl.seal(b"b")
    now[0] += 6
    c = sl.seal(b"c")
    assert a["ek"] == b["ek"] != c["ek"]


@pytest.mark.parametrize("signed", [False, True])
def test_gbt35275_structures_parse_in_asn1crypto(signed: bool) -> None:
    """An independent ASN.1 library (asn1crypto, PKCS#7/CMS schemas) reads our DER and re-encodes it
    byte for byte, i.e. the structure is the PKCS#7 one and the encoding is canonical DER."""
    acms = pytest.importorskip("asn1crypto.cms")
    rcpt, signer = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    der = cms.seal_der(b"hello", rcpt.public_key(), sign_key=signer if signed else None)
    top = _der.children(_der.parse(der, _der.SEQUENCE), 2)
    body = _der.children(top[1], 1)[0].raw
    cls = acms.SignedAndEnvelopedData if signed else acms.EnvelopedData
    parsed = cls.load(body)
    native = parsed.native
    ri = native["recipient_infos"][0]
    assert ri["key_encryption_algorithm"]["algorithm"] == cms.OID_SM2_ENCRYPT
    assert rcpt.decrypt(ri["encrypted_key"])
    eci = native["encrypted_content_info"]
    assert eci["content_type"] == cms.OID_DATA
    assert eci["content_encryption_algorithm"]["algorithm"] == cms.OID_SM4_CBC
    if signed:
        si = native["signer_infos"][0]
        assert signer.public_key().verify(si["signature"], b"hello")
    assert parsed.dump(force=True) == body


def test_cli_encrypted_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_KEY_PASS", "s3cret")
    k, p = tmp_path / "k.pem", tmp_path / "p.pem"
    assert run("keygen", "--out", str(k), "--pub", str(p), "--pass-env", "KIOSK_KEY_PASS")[0] == 0
    assert b"ENCRYPTED PRIVATE KEY" in k.read_bytes()
    code, _, err = run("sign", "--key", str(k), data=b"m")
    assert code != 0 and "password" in err
    code, sig, _ = run("sign", "--key", str(k), "--pass-env", "KIOSK_KEY_PASS", data=b"m")
    assert code == 0
    (tmp_path / "s").write_bytes(sig)
    assert run("verify", "--pub", str(p), "--sig", str(tmp_path / "s"), data=b"m")[0] == 0
    code, env, _ = run("seal", "--to", str(p), "--sign-key", str(k), "--pass-env", "KIOSK_KEY_PASS", data=b"x")
    (tmp_path / "e").write_bytes(env)
    code, out, _ = run("open", "--key", str(k), "--pass-env", "KIOSK_KEY_PASS", "--from", str(p), str(tmp_path / "e"))
    assert (code, out) == (0, b"x")
    monkeypatch.setenv("KIOSK_KEY_PASS", "wrong")
    assert run("open", "--key", str(k), "--pass-env", "KIOSK_KEY_PASS", str(tmp_path / "e"))[0] != 0
