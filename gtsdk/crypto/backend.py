"""The SM2 backend interface.

Everything that touches a private scalar goes through a backend so the
implementation can be swapped (system OpenSSL by default; a hardware device
implementing GM/T 0018 SDF or GM/T 0016 SKF could be another).  Backends work
on canonical byte forms only:

* private scalar ``d``: 32 bytes big-endian, 1 <= d <= n-2;
* public key: 65 bytes ``04 || x || y``;
* digest ``e``: 32 bytes (``SM3(ZA || M)``, computed by the caller with a cached ZA);
* signature: DER ``SM2Signature``; ciphertext: DER ``SM2Cipher`` (GM/T 0009, C1C3C2).

Key handles are opaque objects owned by the backend.
"""

from __future__ import annotations

from typing import Protocol


class SM2Backend(Protocol):
    name: str

    def generate(self) -> object:
        """A fresh private key handle (random from the backend's CSPRNG)."""

    def load_private(self, d: bytes) -> object:
        """Private key handle from the 32-byte scalar (already range-checked)."""

    def load_public(self, point: bytes) -> object:
        """Public key handle from ``04||x||y`` (already checked to be on the curve)."""

    def public_point(self, handle: object) -> bytes:
        """``04||x||y`` of a private or public key handle."""

    def private_scalar(self, handle: object) -> bytes:
        """The 32-byte scalar of a private key handle (only for export)."""

    def sign_digest(self, handle: object, e: bytes) -> bytes:
        """DER signature of the 32-byte digest ``e``."""

    def verify_digest(self, handle: object, e: bytes, sig_der: bytes) -> bool:
        """True if *sig_der* is a valid signature of ``e``."""

    def encrypt(self, handle: object, plaintext: bytes) -> bytes:
        """DER SM2Cipher of *plaintext* (at least one byte)."""

    def decrypt(self, handle: object, ciphertext_der: bytes) -> bytes | None:
        """Plaintext, or None when the ciphertext is not valid for this key."""


_current: SM2Backend | None = None


def get_backend() -> SM2Backend:
    """The process-wide SM2 backend (the system OpenSSL one unless replaced)."""
    global _current
    if _current is None:
        from gtsdk.crypto._openssl import OpenSSLBackend

        _current = OpenSSLBackend()
    return _current


def set_backend(backend: SM2Backend) -> None:
    """Replace the SM2 backend for keys created afterwards."""
    global _current
    _current = backend
