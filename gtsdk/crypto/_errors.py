"""The one error every parse, verification or decryption failure becomes."""

from __future__ import annotations

from gtsdk.errors import ErrorCode, GtsdkError

REJECTED = "cryptographic data rejected"


def rejected() -> GtsdkError:
    """``invalidData`` with a fixed detail: it never says where or why processing failed."""
    return GtsdkError(ErrorCode.INVALID_DATA, REJECTED)


def bad_argument(detail: str) -> GtsdkError:
    """A caller passed an argument of the wrong shape (key size, nonce size, ...)."""
    return GtsdkError(ErrorCode.INVALID_DATA, detail)
