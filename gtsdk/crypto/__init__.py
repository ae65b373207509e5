"""国密 cryptography for gtsdk: SM2, SM3, SM4 and data envelopes.

Clauses 7.1.3 e), 9.3.2 a) b) and 9.3.3 b) of the standard draft: personal data is
protected with SM2/SM4 in transit and at rest, and SM3 protects integrity.

* :func:`sm3`, :func:`hmac_sm3` — hashing (``cryptography``/OpenSSL).
* :mod:`gtsdk.crypto.sm4` — SM4 ECB/CBC/CTR/GCM.
* :class:`SM2PrivateKey`, :class:`SM2PublicKey` — SM2 sign/verify/encrypt/decrypt on the
  system libcrypto (constant-time private-key operations).
* :mod:`gtsdk.crypto.formats` — DER SM2Signature/SM2Cipher and raw converters.
* :mod:`gtsdk.crypto.envelope` — the compact JSON envelope (SM4-GCM + SM2).
* :mod:`gtsdk.crypto.cms` — GB/T 35275 EnvelopedData / SignedAndEnvelopedData.

Importing this package checks that libcrypto can do SM2 and raises
``GtsdkError(configError)`` with an explanation if it cannot.
"""

from __future__ import annotations

from gtsdk.crypto.backend import get_backend
from gtsdk.crypto.hashing import SM3, hmac_sm3, hmac_sm3_verify, sm3
from gtsdk.crypto.sm2 import (
    DEFAULT_UID,
    SM2PrivateKey,
    SM2PublicKey,
    load_private_der,
    load_private_pem,
    load_public_der,
    load_public_pem,
)

get_backend()  # fail at import, with a clear configError, if libcrypto cannot do SM2

__all__ = [
    "DEFAULT_UID",
    "SM3",
    "SM2PrivateKey",
    "SM2PublicKey",
    "hmac_sm3",
    "hmac_sm3_verify",
    "load_private_der",
    "load_private_pem",
    "load_public_der",
    "load_public_pem",
    "sm3",
]
