"""Encryption at rest for personal data kept on disk (clause 9.3.2 a), storage with SM2/SM4).

A random 16-byte data key (DEK) encrypts records with SM4-GCM; the DEK itself is stored only
SM2-encrypted to a key-encryption key (the terminal's or the operator's SM2 key).  Two ways to
use it:

* :class:`DataKey` — one DEK for many records (e.g. rows of a local database).  Keep
  ``data_key.sealed`` next to the data; ``DataKey.unseal(sealed, private_key)`` recovers it.
  Records are ``"GTR1" ‖ nonce(12) ‖ ciphertext ‖ tag(16)`` with the AAD
  ``"GTR1" ‖ key id ‖ context``: pass a record identifier as *context* so records cannot be
  swapped between rows undetected.  Random nonces: stay below 2^32 records per DEK.
* :func:`seal_file` / :func:`open_file` — one self-contained file per object, with its own DEK:
  ``"GTF1" ‖ len(ek) (2 bytes) ‖ ek ‖ nonce ‖ ciphertext ‖ tag``, the header being the AAD.
  Written atomically with mode 0600.

Every failure to decrypt raises the one ``invalidData`` error.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

from gtsdk.crypto import sm4
from gtsdk.crypto._errors import rejected
from gtsdk.crypto.hashing import sm3
from gtsdk.crypto.sm2 import SM2PrivateKey, SM2PublicKey

RECORD_MAGIC = b"GTR1"
FILE_MAGIC = b"GTF1"
_OVERHEAD = 4 + sm4.GCM_NONCE_SIZE + sm4.GCM_TAG_SIZE


class DataKey:
    """An SM4 data key plus its SM2-sealed form."""

    __slots__ = ("_dek", "_kid", "sealed")

    def __init__(self, dek: bytes, sealed: bytes) -> None:
        self._dek = dek
        self.sealed = sealed
        self._kid = sm3(sealed)[:8]

    @classmethod
    def new(cls, kek: SM2PublicKey) -> DataKey:
        """A fresh data key, sealed to *kek*."""
        dek = os.urandom(sm4.KEY_SIZE)
        return cls(dek, kek.encrypt(dek))

    @classmethod
    def unseal(cls, sealed: bytes, kek: SM2PrivateKey) -> DataKey:
        """Recover a data key from its sealed form."""
        dek = kek.decrypt(sealed)
        if len(dek) != sm4.KEY_SIZE:
            raise rejected()
        return cls(dek, bytes(sealed))

    @property
    def key_id(self) -> str:
        """Hex identifier of this data key (SM3 of the sealed form, 8 bytes)."""
        return self._kid.hex()

    def encrypt(self, plaintext: bytes, context: bytes = b"") -> bytes:
        nonce = os.urandom(sm4.GCM_NONCE_SIZE)
        aad = RECORD_MAGIC + self._kid + context
        return RECORD_MAGIC + nonce + sm4.gcm_encrypt(self._dek, nonce, bytes(plaintext), aad)

    def decrypt(self, record: bytes, context: bytes = b"") -> bytes:
        if len(record) < _OVERHEAD or record[:4] != RECORD_MAGIC:
            raise rejected()
        nonce = record[4 : 4 + sm4.GCM_NONCE_SIZE]
        aad = RECORD_MAGIC + self._kid + context
        return sm4.gcm_decrypt(self._dek, nonce, record[4 + sm4.GCM_NONCE_SIZE :], aad)


def seal_bytes(data: bytes, kek: SM2PublicKey) -> bytes:
    """A self-contained encrypted object (the :func:`seal_file` format) in memory."""
    dek = os.urandom(sm4.KEY_SIZE)
    ek = kek.encrypt(dek)
    header = FILE_MAGIC + struct.pack(">H", len(ek)) + ek
    nonce = os.urandom(sm4.GCM_NONCE_SIZE)
    return header + nonce + sm4.gcm_encrypt(dek, nonce, bytes(data), header)


def open_bytes(blob: bytes, kek: SM2PrivateKey) -> bytes:
    if len(blob) < 6 or blob[:4] != FILE_MAGIC:
        raise rejected()
    (n,) = struct.unpack(">H", blob[4:6])
    end = 6 + n
    if len(blob) < end + sm4.GCM_NONCE_SIZE + sm4.GCM_TAG_SIZE:
        raise rejected()
    header = blob[:end]
    dek = kek.decrypt(blob[6:end])
    if len(dek) != sm4.KEY_SIZE:
        raise rejected()
    nonce = blob[end : end + sm4.GCM_NONCE_SIZE]
    return sm4.gcm_decrypt(dek, nonce, blob[end + sm4.GCM_NONCE_SIZE :], header)


def seal_file(path: str | os.PathLike[str], data: bytes, kek: SM2PublicKey) -> None:
    """Write *data* encrypted to *path* (atomically, mode 0600)."""
    target = Path(path)
    blob = seal_bytes(data, kek)
    fd, tmp = tempfile.mkstemp(prefix=".gtsdk-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_file(path: str | os.PathLike[str], kek: SM2PrivateKey) -> bytes:
    """Read and decrypt a file written by :func:`seal_file`."""
    return open_bytes(Path(path).read_bytes(), kek)
