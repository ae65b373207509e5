"""SM4 (GB/T 32907-2016) block cipher modes on ``cryptography`` (OpenSSL, C speed).

* ECB: raw blocks, for test vectors only (no padding, no IV).
* CBC: PKCS#7 padding by default (GB/T 35275 content encryption).
* CTR: 16-byte initial counter block.
* GCM: 12-byte nonce, 16-byte tag appended to the ciphertext (RFC 8998 AEAD_SM4_GCM).

Keys are 16 bytes.  Decryption failures of CBC (padding) and GCM (tag) raise one
``invalidData`` error with a fixed text.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from gtsdk.crypto._errors import bad_argument, rejected

KEY_SIZE = 16
BLOCK_SIZE = 16
GCM_NONCE_SIZE = 12
GCM_TAG_SIZE = 16


def _alg(key: bytes) -> algorithms.SM4:
    if len(key) != KEY_SIZE:
        raise bad_argument("SM4 key must be 16 bytes")
    return algorithms.SM4(key)


def _run(ctx: CipherContext, data: bytes) -> bytes:
    return ctx.update(data) + ctx.finalize()


class SM4Block:
    """A reusable single-block SM4 encryptor/decryptor (ECB); for vectors and KATs."""

    def __init__(self, key: bytes) -> None:
        c = Cipher(_alg(key), modes.ECB())
        self._enc = c.encryptor()
        self._dec = c.decryptor()

    def encrypt_block(self, block: bytes) -> bytes:
        if len(block) != BLOCK_SIZE:
            raise bad_argument("SM4 block must be 16 bytes")
        return self._enc.update(block)

    def decrypt_block(self, block: bytes) -> bytes:
        if len(block) != BLOCK_SIZE:
            raise bad_argument("SM4 block must be 16 bytes")
        return self._dec.update(block)


def ecb_encrypt(key: bytes, data: bytes) -> bytes:
    if len(data) % BLOCK_SIZE:
        raise bad_argument("SM4-ECB data must be a multiple of 16 bytes")
    return _run(Cipher(_alg(key), modes.ECB()).encryptor(), data)


def ecb_decrypt(key: bytes, data: bytes) -> bytes:
    if len(data) % BLOCK_SIZE:
        raise rejected()
    return _run(Cipher(_alg(key), modes.ECB()).decryptor(), data)


def cbc_encrypt(key: bytes, iv: bytes, data: bytes, *, pad: bool = True) -> bytes:
    if len(iv) != BLOCK_SIZE:
        raise bad_argument("SM4-CBC IV must be 16 bytes")
    if pad:
        p = padding.PKCS7(128).padder()
        data = p.update(data) + p.finalize()
    elif len(data) % BLOCK_SIZE:
        raise bad_argument("SM4-CBC data must be a multiple of 16 bytes without padding")
    return _run(Cipher(_alg(key), modes.CBC(iv)).encryptor(), data)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes, *, pad: bool = True) -> bytes:
    if len(iv) != BLOCK_SIZE:
        raise bad_argument("SM4-CBC IV must be 16 bytes")
    alg = _alg(key)
    if len(data) % BLOCK_SIZE or (pad and not data):
        raise rejected()
    out = _run(Cipher(alg, modes.CBC(iv)).decryptor(), data)
    if not pad:
        return out
    u = padding.PKCS7(128).unpadder()
    try:
        return u.update(out) + u.finalize()
    except ValueError:
        raise rejected() from None


def ctr_encrypt(key: bytes, counter: bytes, data: bytes) -> bytes:
    """SM4-CTR; *counter* is the 16-byte initial counter block.  Decryption is the same call."""
    if len(counter) != BLOCK_SIZE:
        raise bad_argument("SM4-CTR counter block must be 16 bytes")
    return _run(Cipher(_alg(key), modes.CTR(counter)).encryptor(), data)


ctr_decrypt = ctr_encrypt


def gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM; returns ciphertext || 16-byte tag."""
    if len(nonce) != GCM_NONCE_SIZE:
        raise bad_argument("SM4-GCM nonce must be 12 bytes")
    enc = Cipher(_alg(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    ct = enc.update(data) + enc.finalize()
    return ct + enc.tag


def gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """Inverse of :func:`gcm_encrypt`; any change to nonce, data, tag or AAD is rejected."""
    if len(nonce) != GCM_NONCE_SIZE:
        raise bad_argument("SM4-GCM nonce must be 12 bytes")
    alg = _alg(key)
    if len(data) < GCM_TAG_SIZE:
        raise rejected()
    dec = Cipher(alg, modes.GCM(nonce, data[-GCM_TAG_SIZE:])).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    try:
        return dec.update(data[:-GCM_TAG_SIZE]) + dec.finalize()
    except InvalidTag:
        raise rejected() from None
