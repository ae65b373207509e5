"""Encryption at rest (gtsdk.crypto.storage), the backend seam and the import-time SM2 check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.crypto import SM2PrivateKey, storage
from gtsdk.crypto._errors import REJECTED
from gtsdk.crypto.backend import get_backend, set_backend
from gtsdk.errors import GtsdkError

KEK = SM2PrivateKey.generate()


def rejected(fn: object, *a: object) -> None:
    with pytest.raises(GtsdkError) as ei:
        fn(*a)  # type: ignore[operator]
    assert ei.value.code == "invalidData" and ei.value.detail == REJECTED


def test_data_key_records_bound_to_context() -> None:
    dk = storage.DataKey.new(KEK.public_key())
    rec = dk.encrypt(b"110101199003077777", context=b"row:42")
    assert b"1101011990" not in rec
    again = storage.DataKey.unseal(dk.sealed, KEK)
    assert again.key_id == dk.key_id
    assert again.decrypt(rec, context=b"row:42") == b"110101199003077777"
    rejected(again.decrypt, rec, b"row:43")  # a record moved to another row is detected
    rejected(storage.DataKey.unseal, dk.sealed, SM2PrivateKey.generate())
    other = storage.DataKey.new(KEK.public_key())
    rejected(other.decrypt, rec, b"row:42")


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=4096), bit=st.integers(min_value=0))
def test_files_round_trip_and_any_flip_rejected(data: bytes, bit: int) -> None:
    blob = storage.seal_bytes(data, KEK.public_key())
    assert storage.open_bytes(blob, KEK) == data
    b = bytearray(blob)
    i = bit % (len(b) * 8)
    b[i // 8] ^= 1 << (i % 8)
    rejected(storage.open_bytes, bytes(b), KEK)
    rejected(storage.open_bytes, blob[: bit % len(blob)], KEK)


def test_seal_file_atomic_private(tmp_path: Path) -> None:
    p = tmp_path / "face.bin"
    storage.seal_file(p, b"\x89PNG face", KEK.public_key())
    assert p.stat().st_mode & 0o777 == 0o600
    assert storage.open_file(p, KEK) == b"\x89PNG face"
    assert [x.name for x in tmp_path.iterdir()] == ["face.bin"]


def test_custom_backend_is_used() -> None:
    """The backend seam: a wrapper backend sees every private-key operation."""
    real = get_backend()
    calls: list[str] = []

    class Counting:
        name = "counting"

        def __getattr__(self, attr: str) -> object:
            fn = getattr(real, attr)
            if callable(fn):
                def wrapped(*a: object) -> object:
                    calls.append(attr)
                    return fn(*a)
                return wrapped
            return fn

    set_backend(Counting())  # type: ignore[arg-type]
    try:
        k = SM2PrivateKey.generate()
        sig = k.sign(b"m")
        assert k.public_key().verify(sig, b"m")
        assert k.decrypt(k.public_key().encrypt(b"x")) == b"x"
    finally:
        set_backend(real)
    assert {"generate", "sign_digest", "verify_digest", "encrypt", "decrypt"} <= set(calls)


@pytest.mark.parametrize("lib", ["/nonexistent/libcrypto.so.3", "libz.so.1"])
def test_import_fails_clearly_without_sm2_capable_libcrypto(lib: str) -> None:
    env = dict(os.environ, GTSDK_LIBCRYPTO=lib)
    code = "import gtsdk.crypto"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "configError" in res.stderr and "libcrypto" in res.stderr


def test_pooled_contexts_stay_correct_after_failures() -> None:
    """Operation contexts are reused per key; a failed call must not poison later ones."""
    k = SM2PrivateKey.generate()
    pub = k.public_key()
    sig = k.sign(b"m")
    ct = pub.encrypt(b"secret")
    bad = bytearray(ct)
    bad[-1] ^= 1
    for _ in range(3):
        assert not pub.verify(sig, b"other")
        assert pub.verify(sig, b"m")
        with pytest.raises(GtsdkError):
            k.decrypt(bytes(bad))
        assert k.decrypt(ct) == b"secret"
    assert all(len(p) <= 8 for p in k._handle.pools.values())  # type: ignore[attr-defined]
