"""Password-protected PKCS#8 (``ENCRYPTED PRIVATE KEY``): PBES2 with PBKDF2 (RFC 8018).

Read: PRF hmacWithSM3 (``1.2.156.10197.1.401.2``, what GmSSL 3 writes), hmacWithSHA256 or
hmacWithSHA1 (the RFC 8018 default when the PRF is absent); cipher SM4-CBC
(``1.2.156.10197.1.104.2``), AES-128-CBC or AES-256-CBC.  Written: ``prf="sm3"`` gives the GmSSL
form (PBKDF2-HMAC-SM3 + SM4-CBC), which OpenSSL 3.0 cannot read ("unsupported prf");
``prf="sha256"`` gives PBKDF2-HMAC-SHA256 + SM4-CBC, which both OpenSSL and GmSSL-style readers
that accept SHA-256 can use.  A wrong password, like any malformed input, is ``invalidData``.
"""

from __future__ import annotations

import os
from typing import Literal

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from gtsdk.crypto import _der, sm4
from gtsdk.crypto._errors import bad_argument, rejected

OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SM3 = "1.2.156.10197.1.401.2"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_HMAC_SHA1 = "1.2.840.113549.2.7"
OID_SM4_CBC = "1.2.156.10197.1.104.2"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"

_PRFS: dict[str, type[hashes.HashAlgorithm]] = {
    OID_HMAC_SM3: hashes.SM3,
    OID_HMAC_SHA256: hashes.SHA256,
    OID_HMAC_SHA1: hashes.SHA1,
}
_CIPHERS = {OID_SM4_CBC: 16, OID_AES128_CBC: 16, OID_AES256_CBC: 32}
MAX_ITERATIONS = 10_000_000


def _password(pw: bytes | str) -> bytes:
    return pw.encode("utf-8") if isinstance(pw, str) else bytes(pw)


def decrypt(der: bytes, password: bytes | str) -> bytes:
    """``EncryptedPrivateKeyInfo`` DER → the inner ``PrivateKeyInfo`` DER."""
    try:
        top = _der.children(_der.parse(der, _der.SEQUENCE), 2)
        alg = _der.children(_der.expect(top[0], _der.SEQUENCE), 2)
        if _der.as_oid(alg[0]) != OID_PBES2:
            raise _der.DerError("not PBES2")
        kdf, enc = _der.children(_der.expect(alg[1], _der.SEQUENCE), 2)
        kdf_items = _der.children(_der.expect(kdf, _der.SEQUENCE), 2)
        if _der.as_oid(kdf_items[0]) != OID_PBKDF2:
            raise _der.DerError("not PBKDF2")
        p = _der.children(_der.expect(kdf_items[1], _der.SEQUENCE), min_n=2, max_n=4)
        salt = _der.as_octets(p[0])
        iterations = _der.as_int(p[1])
        rest = p[2:]
        key_len: int | None = None
        if rest and rest[0].tag == _der.INTEGER:
            key_len = _der.as_int(rest[0])
            rest = rest[1:]
        prf = OID_HMAC_SHA1
        if rest:
            prf_items = _der.children(_der.expect(rest[0], _der.SEQUENCE), min_n=1, max_n=2)
            prf = _der.as_oid(prf_items[0])
            if len(prf_items) == 2:
                _der.as_null(prf_items[1])
        enc_items = _der.children(_der.expect(enc, _der.SEQUENCE), 2)
        cipher_oid = _der.as_oid(enc_items[0])
        iv = _der.as_octets(enc_items[1])
        body = _der.as_octets(top[1])
    except _der.DerError:
        raise rejected() from None
    if prf not in _PRFS or cipher_oid not in _CIPHERS or not 1 <= iterations <= MAX_ITERATIONS:
        raise rejected()
    size = _CIPHERS[cipher_oid]
    if (key_len is not None and key_len != size) or len(iv) != 16 or not body or len(body) % 16:
        raise rejected()
    key = PBKDF2HMAC(_PRFS[prf](), size, salt, iterations).derive(_password(password))
    if cipher_oid == OID_SM4_CBC:
        return sm4.cbc_decrypt(key, iv, body)
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(body) + dec.finalize()
    u = padding.PKCS7(128).unpadder()
    try:
        return u.update(padded) + u.finalize()
    except ValueError:
        raise rejected() from None


def encrypt(
    inner: bytes, password: bytes | str, *, prf: Literal["sm3", "sha256"] = "sm3", iterations: int = 65536
) -> bytes:
    """``PrivateKeyInfo`` DER → ``EncryptedPrivateKeyInfo`` DER (PBES2, PBKDF2, SM4-CBC)."""
    pw = _password(password)
    if not pw:
        raise bad_argument("empty password")
    if not 1000 <= iterations <= MAX_ITERATIONS:
        raise bad_argument("iterations must be between 1,000 and 10,000,000")
    salt, iv = os.urandom(16), os.urandom(16)
    prf_oid = OID_HMAC_SM3 if prf == "sm3" else OID_HMAC_SHA256
    key = PBKDF2HMAC(_PRFS[prf_oid](), 16, salt, iterations).derive(pw)
    prf_alg = _der.seq(_der.oid(prf_oid)) if prf == "sm3" else _der.seq(_der.oid(prf_oid), _der.null())
    kdf = _der.seq(
        _der.oid(OID_PBKDF2),
        _der.seq(_der.octets(salt), _der.integer(iterations), _der.integer(16), prf_alg),
    )
    enc = _der.seq(_der.oid(OID_SM4_CBC), _der.octets(iv))
    return _der.seq(_der.seq(_der.oid(OID_PBES2), _der.seq(kdf, enc)), _der.octets(sm4.cbc_encrypt(key, iv, inner)))
