"""Property tests: round trips for every mode and size, tamper and garbage rejection.

Rejections must always be the one documented error: ``GtsdkError`` with code
``invalidData`` and the fixed detail ``cryptographic data rejected`` (nothing about where
processing failed).
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gtsdk.crypto import SM2PrivateKey, formats, sm3, sm4
from gtsdk.crypto._errors import REJECTED
from gtsdk.crypto.cms import open_der, seal_der
from gtsdk.crypto.envelope import dumps, loads, open_envelope, open_json, seal_json
from gtsdk.crypto.hashing import SM3
from gtsdk.errors import GtsdkError

MIB = 1 << 20
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RECIPIENT = SM2PrivateKey.generate()
SENDER = SM2PrivateKey.generate()


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def assert_rejected(fn: object, *args: object, **kw: object) -> None:
    with pytest.raises(GtsdkError) as ei:
        fn(*args, **kw)  # type: ignore[operator]
    assert ei.value.code == "invalidData"
    assert ei.value.detail == REJECTED


sizes = st.one_of(st.integers(0, 64), st.integers(0, 4096), st.integers(0, MIB))
keys = st.binary(min_size=16, max_size=16)


# ---------------------------------------------------------------------------- round trips


@FAST
@given(size=sizes, seed=st.integers(0, 2**32), key=keys, iv=st.binary(min_size=16, max_size=16))
@example(size=0, seed=0, key=b"k" * 16, iv=b"i" * 16)
@example(size=MIB, seed=1, key=b"k" * 16, iv=b"i" * 16)
def test_sm4_cbc_ctr_round_trip(size: int, seed: int, key: bytes, iv: bytes) -> None:
    data = blob(size, seed)
    ct = sm4.cbc_encrypt(key, iv, data)
    assert len(ct) == (size // 16 + 1) * 16
    assert sm4.cbc_decrypt(key, iv, ct) == data
    assert sm4.ctr_decrypt(key, iv, sm4.ctr_encrypt(key, iv, data)) == data
    whole = data[: size - size % 16]
    assert sm4.cbc_decrypt(key, iv, sm4.cbc_encrypt(key, iv, whole, pad=False), pad=False) == whole
    assert sm4.ecb_decrypt(key, sm4.ecb_encrypt(key, whole)) == whole


@FAST
@given(size=sizes, seed=st.integers(0, 2**32), key=keys, aad=st.binary(max_size=64))
@example(size=0, seed=0, key=b"k" * 16, aad=b"")
@example(size=MIB, seed=2, key=b"k" * 16, aad=b"hdr")
def test_sm4_gcm_round_trip_and_tamper(size: int, seed: int, key: bytes, aad: bytes) -> None:
    data = blob(size, seed)
    nonce = blob(12, seed + 1)
    ct = sm4.gcm_encrypt(key, nonce, data, aad)
    assert sm4.gcm_decrypt(key, nonce, ct, aad) == data
    bit = random.Random(seed).randrange(len(ct) * 8)
    bad = bytearray(ct)
    bad[bit // 8] ^= 1 << (bit % 8)
    assert_rejected(sm4.gcm_decrypt, key, nonce, bytes(bad), aad)
    assert_rejected(sm4.gcm_decrypt, key, nonce, ct, aad + b"x")
    assert_rejected(sm4.gcm_decrypt, key, nonce, ct[: random.Random(seed).randrange(len(ct))], aad)


@FAST
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=5))
def test_sm3_incremental_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    h = SM3()
    last = 0
    for c in sorted(min(c, len(data)) for c in cuts):
        h.update(data[last:c])
        last = c
    h.update(data[last:])
    assert h.digest() == sm3(data)


@FAST
@given(size=st.one_of(st.integers(1, 300), st.integers(1, 70_000)), seed=st.integers(0, 2**32))
def test_sm2_encrypt_decrypt_round_trip(size: int, seed: int) -> None:
    data = blob(size, seed)
    ct = RECIPIENT.public_key().encrypt(data)
    assert RECIPIENT.decrypt(ct) == data
    for order in ("C1C3C2", "C1C2C3"):
        for prefix in (True, False):
            raw = formats.ciphertext_der_to_raw(ct, order=order, c1_prefix=prefix)  # type: ignore[arg-type]
            assert formats.ciphertext_raw_to_der(raw, order=order, c1_prefix=prefix) == ct  # type: ignore[arg-type]


@FAST
@given(data=st.binary(max_size=2000), uid=st.binary(max_size=40))
def test_sm2_sign_verify_round_trip(data: bytes, uid: bytes) -> None:
    sig = SENDER.sign(data, uid=uid)
    pub = SENDER.public_key()
    assert pub.verify(sig, data, uid=uid)
    assert not pub.verify(sig, data + b"\0", uid=uid)
    assert not pub.verify(sig, data, uid=uid + b"\0")
    assert not RECIPIENT.public_key().verify(sig, data, uid=uid)
    assert formats.signature_raw_to_der(formats.signature_der_to_raw(sig)) == sig


@FAST
@given(size=sizes, seed=st.integers(0, 2**32), signed=st.booleans())
@example(size=0, seed=0, signed=True)
@example(size=MIB, seed=3, signed=True)
def test_envelopes_round_trip(size: int, seed: int, signed: bool) -> None:
    data = blob(size, seed)
    sk = SENDER if signed else None
    env = seal_json(data, RECIPIENT.public_key(), sign_key=sk, header={"app": "t", "n": seed})
    res = open_envelope(loads(dumps(env)), RECIPIENT, sender=SENDER.public_key() if signed else None)
    assert res.payload == data and res.header == {"app": "t", "n": seed}
    assert (res.signer == SENDER.public_key()) if signed else res.signer is None
    der = seal_der(data, RECIPIENT.public_key(), sign_key=sk)
    c = open_der(der, RECIPIENT, sender=SENDER.public_key() if signed else None)
    assert c.payload == data and c.signed == signed and c.verified == signed


# ---------------------------------------------------------------------------- single-bit flips (exhaustive)


def flips(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data) * 8):
        b = bytearray(data)
        b[i // 8] ^= 1 << (i % 8)
        out.append(bytes(b))
    return out


def test_every_bit_flip_in_sm2_ciphertext_is_rejected() -> None:
    ct = RECIPIENT.public_key().encrypt(b"0123456789abcdef")
    for bad in flips(ct):
        assert_rejected(RECIPIENT.decrypt, bad)


@pytest.mark.parametrize("signed", [True, False])
def test_every_bit_flip_in_compact_envelope_is_rejected(signed: bool) -> None:
    env = seal_json(b"id card: 110101", RECIPIENT.public_key(), sign_key=SENDER if signed else None, header={"a": 1})
    text = dumps(env)
    for bad in flips(text):
        assert_rejected(lambda b: open_json(loads(b), RECIPIENT), bad)
    # and with the sender required, stripping the signature is rejected too
    if signed:
        stripped = {k: v for k, v in env.items() if k != "sig"}
        assert_rejected(open_json, stripped, RECIPIENT, sender=SENDER.public_key())
    else:
        assert_rejected(open_json, env, RECIPIENT, sender=SENDER.public_key())


def test_every_bit_flip_in_signed_gbt35275_envelope_never_yields_other_content() -> None:
    """Signed GB/T 35275: a flip is rejected, or opens to exactly the original content.

    PKCS#7 leaves a few metadata bits unauthenticated; gtsdk accepts version 0 or 1 (three
    INTEGERs) and the GmSSL key-encryption OID .301.2 next to .301.3 (one bit apart)."""
    payload = b"fingerprint template"
    der = seal_der(payload, RECIPIENT.public_key(), sign_key=SENDER)
    accepted = 0
    for bad in flips(der):
        try:
            res = open_der(bad, RECIPIENT, sender=SENDER.public_key())
        except GtsdkError as e:
            assert e.code == "invalidData" and e.detail == REJECTED
            continue
        assert res.payload == payload and res.verified
        accepted += 1
    assert accepted <= 4


# ---------------------------------------------------------------------------- garbage and truncation


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300))
def test_garbage_ciphertext_and_keys_rejected(data: bytes) -> None:
    assert_rejected(RECIPIENT.decrypt, data)
    assert_rejected(open_der, data, RECIPIENT)
    assert_rejected(SM2PrivateKey.from_der, data)
    assert not SENDER.public_key().verify(data, b"m")


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, 10_000), signed=st.booleans())
def test_truncated_envelopes_rejected(cut: int, signed: bool) -> None:
    sk = SENDER if signed else None
    der = seal_der(b"x" * 100, RECIPIENT.public_key(), sign_key=sk)
    assert_rejected(open_der, der[: cut % len(der)], RECIPIENT)
    text = dumps(seal_json(b"x" * 100, RECIPIENT.public_key(), sign_key=sk))
    assert_rejected(lambda b: open_json(loads(b), RECIPIENT), text[: cut % len(text)])
    ct = RECIPIENT.public_key().encrypt(b"k" * 16)
    assert_rejected(RECIPIENT.decrypt, ct[: cut % len(ct)])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(
    env=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"v": st.one_of(st.just(1), json_values), "hdr": json_values, "ek": json_values,
             "iv": json_values, "ct": json_values},
            optional={"sig": json_values},
        ),
    )
)
def test_garbage_json_envelopes_rejected(env: object) -> None:
    assert_rejected(open_json, env, RECIPIENT)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(["hdr", "ek", "iv", "ct", "sig"]), junk=st.binary(max_size=200))
def test_envelope_field_replaced_by_valid_base64_garbage_rejected(field: str, junk: bytes) -> None:
    from gtsdk.crypto.envelope import b64u

    env = seal_json(b"payload", RECIPIENT.public_key(), sign_key=SENDER)
    env[field] = b64u(junk)
    assert_rejected(open_json, env, RECIPIENT)


def test_header_must_be_json_and_wrong_recipient_rejected() -> None:
    with pytest.raises(GtsdkError):
        seal_json(b"x", RECIPIENT.public_key(), header={"bad": object()})
    env = seal_json(b"x", RECIPIENT.public_key())
    assert_rejected(open_json, env, SENDER)
    assert_rejected(open_der, seal_der(b"x", RECIPIENT.public_key()), SENDER)
    assert json.loads(dumps(env))["v"] == 1


def test_keys_are_safe_to_share_between_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    msgs = [blob(100, i) for i in range(64)]

    def job(m: bytes) -> bool:
        sig = SENDER.sign(m)
        ct = RECIPIENT.public_key().encrypt(m[:16])
        return SENDER.public_key().verify(sig, m) and RECIPIENT.decrypt(ct) == m[:16]

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(job, msgs))


# ---------------------------------------------------------------------------- the DER codec itself

from gtsdk.crypto import _der  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_der_reader_raises_only_der_error(data: bytes) -> None:
    try:
        for t in _der.read_all(data):
            if t.tag == _der.INTEGER:
                _der.as_int(t, nonneg=False)
            elif t.tag == _der.OID:
                _der.as_oid(t)
            elif t.tag & 0x20:
                _der.read_all(t.value)
    except _der.DerError:
        pass


@settings(max_examples=200, deadline=None)
@given(v=st.integers(min_value=-(2**300), max_value=2**300))
def test_der_integer_round_trip_is_minimal(v: int) -> None:
    enc = _der.integer(v)
    assert _der.as_int(_der.parse(enc, _der.INTEGER), nonneg=False) == v
    assert enc == _der.integer(_der.as_int(_der.parse(enc, _der.INTEGER), nonneg=False))
    padded = bytes([enc[0], enc[1] + 1, 0xFF if v < 0 else 0x00]) + enc[2:]
    if enc[1] < 0x7F:
        with pytest.raises(_der.DerError):  # a redundant leading byte is not DER
            _der.as_int(_der.parse(padded, _der.INTEGER), nonneg=False)


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 2), second=st.integers(0, 39), rest=st.lists(st.integers(0, 2**64), max_size=8))
def test_der_oid_round_trip(first: int, second: int, rest: list[int]) -> None:
    dotted = ".".join(str(a) for a in [first, second, *rest])
    assert _der.as_oid(_der.parse(_der.oid(dotted), _der.OID)) == dotted


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 70_000))
def test_der_lengths_are_minimal(n: int) -> None:
    enc = _der.octets(b"\0" * n)
    assert _der.parse(enc, _der.OCTET_STRING).value == b"\0" * n
    if n < 0x80:
        long_form = bytes([0x04, 0x81, n]) + b"\0" * n
        with pytest.raises(_der.DerError):
            _der.parse(long_form, _der.OCTET_STRING)
