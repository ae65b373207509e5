"""SM3 (GB/T 32905-2016) and HMAC-SM3 on ``cryptography`` (OpenSSL, C speed)."""

from __future__ import annotations

import hmac as _hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _chmac

DIGEST_SIZE = 32

_SM3 = hashes.SM3()


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of *data*."""
    h = hashes.Hash(_SM3)
    h.update(data)
    return h.finalize()


class SM3:
    """Incremental SM3: ``SM3().update(a).update(b).digest()``."""

    __slots__ = ("_h",)

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(_SM3)
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> SM3:
        self._h.update(data)
        return self

    def copy(self) -> SM3:
        c = SM3.__new__(SM3)
        c._h = self._h.copy()
        return c

    def digest(self) -> bytes:
        """The digest so far; the object stays usable."""
        return self._h.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 with SM3; OID 1.2.156.10197.1.401.2), 32 bytes."""
    h = _chmac.HMAC(key, _SM3)
    h.update(data)
    return h.finalize()


def hmac_sm3_verify(key: bytes, data: bytes, tag: bytes) -> bool:
    """Constant-time check of an HMAC-SM3 tag."""
    return _hmac.compare_digest(hmac_sm3(key, data), tag)
