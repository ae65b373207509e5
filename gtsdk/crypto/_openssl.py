"""SM2 on the system OpenSSL libcrypto (>= 3.0), through ctypes.

Why OpenSSL: its secret-scalar multiplication is a constant-time Montgomery
ladder (``ossl_ec_scalar_mul_ladder``), which none of the other measured SM2
libraries offers (see docs/crypto.md, "Backends").  Signing and verification
work on the digest ``e = SM3(ZA || M)`` (``EVP_PKEY_sign``/``EVP_PKEY_verify``
on an SM2 key, whose provider takes a 32-byte SM3 digest), so ZA is computed
once per key and user ID in Python and cached.  Encryption produces the DER
SM2Cipher of GM/T 0009 (C1C3C2); decryption checks C3 in constant time.

``GTSDK_LIBCRYPTO`` may name a specific libcrypto (e.g. a bundled one on a
platform whose OpenSSL was built without SM algorithms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import weakref
from typing import Any

from gtsdk.crypto import _der
from gtsdk.errors import ErrorCode, GtsdkError

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_sz = ctypes.c_size_t
_int = ctypes.c_int

_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_SM2 = "1.2.156.10197.1.301"


class SM2Unavailable(GtsdkError):
    """The libcrypto found cannot do SM2 (too old, or built without SM algorithms)."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.CONFIG_ERROR, detail)


def _load() -> ctypes.CDLL:
    explicit = os.environ.get("GTSDK_LIBCRYPTO", "")
    names = [explicit] if explicit else ["libcrypto.so.3", ctypes.util.find_library("crypto") or ""]
    last = ""
    for name in names:
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            last = str(e)
    raise SM2Unavailable(f"SM2 needs OpenSSL libcrypto >= 3.0 (set GTSDK_LIBCRYPTO); none could be loaded: {last}")


def _bind(lib: ctypes.CDLL) -> None:
    sig: dict[str, tuple[Any, list[Any]]] = {
        "OpenSSL_version_num": (ctypes.c_ulong, []),
        "OpenSSL_version": (_cp, [_int]),
        "ERR_clear_error": (None, []),
        "EVP_PKEY_CTX_new_from_name": (_vp, [_vp, _cp, _cp]),
        "EVP_PKEY_CTX_new_from_pkey": (_vp, [_vp, _vp, _cp]),
        "EVP_PKEY_CTX_free": (None, [_vp]),
        "EVP_PKEY_keygen_init": (_int, [_vp]),
        "EVP_PKEY_generate": (_int, [_vp, ctypes.POINTER(_vp)]),
        "EVP_PKEY_free": (None, [_vp]),
        "EVP_PKEY_is_a": (_int, [_vp, _cp]),
        "EVP_PKEY_get_octet_string_param": (_int, [_vp, _cp, _cp, _sz, ctypes.POINTER(_sz)]),
        "EVP_PKEY_get_bn_param": (_int, [_vp, _cp, ctypes.POINTER(_vp)]),
        "BN_bn2binpad": (_int, [_vp, _cp, _int]),
        "BN_clear_free": (None, [_vp]),
        "d2i_AutoPrivateKey": (_vp, [_vp, ctypes.POINTER(_cp), ctypes.c_long]),
        "d2i_PUBKEY": (_vp, [_vp, ctypes.POINTER(_cp), ctypes.c_long]),
        "EVP_PKEY_sign_init": (_int, [_vp]),
        "EVP_PKEY_sign": (_int, [_vp, _cp, ctypes.POINTER(_sz), _cp, _sz]),
        "EVP_PKEY_verify_init": (_int, [_vp]),
        "EVP_PKEY_verify": (_int, [_vp, _cp, _sz, _cp, _sz]),
        "EVP_PKEY_encrypt_init": (_int, [_vp]),
        "EVP_PKEY_encrypt": (_int, [_vp, _cp, ctypes.POINTER(_sz), _cp, _sz]),
        "EVP_PKEY_decrypt_init": (_int, [_vp]),
        "EVP_PKEY_decrypt": (_int, [_vp, _cp, ctypes.POINTER(_sz), _cp, _sz]),
    }
    for name, (res, args) in sig.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise SM2Unavailable(f"SM2 needs OpenSSL libcrypto >= 3.0; {name} is missing") from None
        fn.restype = res
        fn.argtypes = args


_POOL_MAX = 8


def _release(lib: ctypes.CDLL, ptr: int, pools: dict[str, list[int]]) -> None:
    for pool in pools.values():
        while pool:
            lib.EVP_PKEY_CTX_free(pool.pop())
    lib.EVP_PKEY_free(ptr)


class _Key:
    """An owned ``EVP_PKEY*`` plus pools of initialised operation contexts; freed with the object.

    Reusing an ``EVP_PKEY_CTX`` after ``EVP_PKEY_*_init`` saves the per-call provider set-up
    (10-15 % of an SM2 signature).  A context is used by one thread at a time: it is popped from
    the pool for the call and pushed back afterwards (``list.pop``/``append`` are atomic).
    """

    __slots__ = ("__weakref__", "pools", "private", "ptr")

    def __init__(self, lib: ctypes.CDLL, ptr: int, private: bool) -> None:
        self.ptr = ptr
        self.private = private
        self.pools: dict[str, list[int]] = {}
        weakref.finalize(self, _release, lib, ptr, self.pools)


class OpenSSLBackend:
    """The default SM2 backend (constant-time private-key operations)."""

    name = "openssl"

    def __init__(self) -> None:
        lib = _load()
        _bind(lib)
        self.lib = lib
        ver = lib.OpenSSL_version_num()
        text = (lib.OpenSSL_version(0) or b"?").decode()
        if ver < 0x30000000:
            raise SM2Unavailable(f"SM2 needs OpenSSL libcrypto >= 3.0, found {text}")
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        ok = bool(ctx) and lib.EVP_PKEY_keygen_init(ctx) == 1
        if ctx:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok:
            lib.ERR_clear_error()
            raise SM2Unavailable(f"{text} was built without SM2 (no 'SM2' key type); set GTSDK_LIBCRYPTO")
        self.version = text

    # -- keys

    def _wrap(self, ptr: int | None, private: bool) -> _Key:
        if not ptr:
            self.lib.ERR_clear_error()
            raise ValueError("key rejected by libcrypto")
        key = _Key(self.lib, ptr, private)
        if self.lib.EVP_PKEY_is_a(ptr, b"SM2") != 1:
            raise ValueError("not an SM2 key")
        return key

    def generate(self) -> object:
        lib = self.lib
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        try:
            out = _vp()
            if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, ctypes.byref(out)) != 1:
                lib.ERR_clear_error()
                raise GtsdkError(ErrorCode.INTERNAL_ERROR, "SM2 key generation failed")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        return self._wrap(out.value, True)

    def load_private(self, d: bytes) -> object:
        # PKCS#8 without the optional public key: libcrypto derives it (d*G, constant time).
        sec1 = _der.seq(_der.integer(1), _der.octets(d))
        p8 = _der.seq(_der.integer(0), _der.seq(_der.oid(_OID_EC_PUBLIC_KEY), _der.oid(_OID_SM2)), _der.octets(sec1))
        p = _cp(p8)
        return self._wrap(self.lib.d2i_AutoPrivateKey(None, ctypes.byref(p), len(p8)), True)

    def load_public(self, point: bytes) -> object:
        spki = _der.seq(_der.seq(_der.oid(_OID_EC_PUBLIC_KEY), _der.oid(_OID_SM2)), _der.bit_string(point))
        p = _cp(spki)
        return self._wrap(self.lib.d2i_PUBKEY(None, ctypes.byref(p), len(spki)), False)

    def public_point(self, handle: object) -> bytes:
        assert isinstance(handle, _Key)
        buf = ctypes.create_string_buffer(80)
        n = _sz(0)
        if self.lib.EVP_PKEY_get_octet_string_param(handle.ptr, b"pub", buf, 80, ctypes.byref(n)) != 1 or n.value != 65:
            self.lib.ERR_clear_error()
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "cannot read the SM2 public key")
        return buf.raw[:65]

    def private_scalar(self, handle: object) -> bytes:
        assert isinstance(handle, _Key) and handle.private
        bn = _vp()
        if self.lib.EVP_PKEY_get_bn_param(handle.ptr, b"priv", ctypes.byref(bn)) != 1:
            self.lib.ERR_clear_error()
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "cannot export the SM2 private key")
        try:
            buf = ctypes.create_string_buffer(32)
            if self.lib.BN_bn2binpad(bn, buf, 32) != 32:
                raise GtsdkError(ErrorCode.INTERNAL_ERROR, "cannot export the SM2 private key")
            return buf.raw
        finally:
            self.lib.BN_clear_free(bn)

    # -- operations

    def _ctx(self, handle: object, init: str) -> int:
        assert isinstance(handle, _Key)
        pool = handle.pools.setdefault(init, [])
        try:
            return pool.pop()
        except IndexError:
            pass
        lib = self.lib
        ctx: int | None = lib.EVP_PKEY_CTX_new_from_pkey(None, handle.ptr, None)
        if not ctx:
            lib.ERR_clear_error()
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "libcrypto: no context")
        if getattr(lib, init)(ctx) != 1:
            lib.EVP_PKEY_CTX_free(ctx)
            lib.ERR_clear_error()
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "libcrypto: operation not available")
        return ctx

    def _done(self, handle: object, init: str, ctx: int, ok: bool) -> None:
        """Return a context to its pool after a successful call; free it otherwise."""
        assert isinstance(handle, _Key)
        pool = handle.pools[init]
        if ok and len(pool) < _POOL_MAX:
            pool.append(ctx)
        else:
            self.lib.EVP_PKEY_CTX_free(ctx)
            self.lib.ERR_clear_error()

    def sign_digest(self, handle: object, e: bytes) -> bytes:
        op = "EVP_PKEY_sign_init"
        ctx = self._ctx(handle, op)
        buf = ctypes.create_string_buffer(80)
        n = _sz(80)
        ok = self.lib.EVP_PKEY_sign(ctx, buf, ctypes.byref(n), e, len(e)) == 1
        self._done(handle, op, ctx, ok)
        if not ok:
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "SM2 signing failed")
        return buf.raw[: n.value]

    def verify_digest(self, handle: object, e: bytes, sig_der: bytes) -> bool:
        op = "EVP_PKEY_verify_init"
        ctx = self._ctx(handle, op)
        r = self.lib.EVP_PKEY_verify(ctx, sig_der, len(sig_der), e, len(e))
        # 0 = a well-formed call whose signature does not match: the context stays usable.
        self._done(handle, op, ctx, r in (0, 1))
        return bool(r == 1)

    def encrypt(self, handle: object, plaintext: bytes) -> bytes:
        op = "EVP_PKEY_encrypt_init"
        ctx = self._ctx(handle, op)
        cap = len(plaintext) + 160
        buf = ctypes.create_string_buffer(cap)
        n = _sz(cap)
        ok = self.lib.EVP_PKEY_encrypt(ctx, buf, ctypes.byref(n), plaintext, len(plaintext)) == 1
        self._done(handle, op, ctx, ok)
        if not ok:
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, "SM2 encryption failed")
        return buf.raw[: n.value]

    def decrypt(self, handle: object, ciphertext_der: bytes) -> bytes | None:
        op = "EVP_PKEY_decrypt_init"
        ctx = self._ctx(handle, op)
        cap = len(ciphertext_der)
        buf = ctypes.create_string_buffer(cap)
        n = _sz(cap)
        ok = self.lib.EVP_PKEY_decrypt(ctx, buf, ctypes.byref(n), ciphertext_der, len(ciphertext_der)) == 1
        self._done(handle, op, ctx, ok)
        if not ok:
            return None
        out = buf.raw[: n.value]
        ctypes.memset(buf, 0, cap)
        return out
