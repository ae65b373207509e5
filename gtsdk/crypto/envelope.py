"""The compact envelope profile for the HTTPS API (clauses 7.1.3 e) and 9.3.2 a)).

A JSON object with base64url (no padding) fields::

    {
      "v":   1,
      "hdr": b64u(protected header, UTF-8 JSON),
      "ek":  b64u(DER SM2Cipher of the 16-byte SM4 content key, for the recipient),
      "iv":  b64u(12-byte GCM nonce),
      "ct":  b64u(SM4-GCM ciphertext ‖ 16-byte tag; AAD = the protected header bytes),
      "sig": b64u(DER SM2 signature)            -- only in signed envelopes
    }

The protected header is ``{"v": 1, "alg": "SM2-SM4GCM-SM3", "rcpt": <recipient key
fingerprint>, "h": <caller header>, "spk": b64u(04‖x‖y of the signer)}`` (``spk`` only when
signed).  The signature is SM2 with the default user ID over
``"gtsdk-envelope-v1" 0x00 ‖ len‖hdr ‖ len‖iv ‖ len‖ek ‖ len‖ct`` (4-byte big-endian
lengths), so every byte of the envelope is covered.  :func:`seal_json` draws a fresh content
key and nonce per envelope from the OS CSPRNG, so a GCM nonce is never reused under one key;
the opt-in :class:`Sealer` reuses a content key a bounded number of times with random nonces.

Opening checks the structure strictly, verifies the signature *before* decrypting,
then decrypts the key and the content.  Every failure raises the one
``GtsdkError(invalidData, "cryptographic data rejected")``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gtsdk.crypto import sm4
from gtsdk.crypto._errors import bad_argument, rejected
from gtsdk.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from gtsdk.errors import GtsdkError

VERSION = 1
ALG = "SM2-SM4GCM-SM3"
_SIG_DOMAIN = b"gtsdk-envelope-v1\x00"
_FIELDS = frozenset({"v", "hdr", "ek", "iv", "ct", "sig"})
_REQUIRED = frozenset({"v", "hdr", "ek", "iv", "ct"})
MAX_HEADER = 64 * 1024
MAX_EK = 1024


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: object) -> bytes:
    """Strict base64url without padding: the canonical encoding only (no stray bits, no whitespace)."""
    if not isinstance(text, str) or not text.isascii() or len(text) % 4 == 1:
        raise rejected()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise rejected() from None
    if b64u(raw) != text:
        raise rejected()
    return raw


def _signed_message(hdr: bytes, iv: bytes, ek: bytes, ct: bytes) -> bytes:
    parts = [_SIG_DOMAIN]
    for p in (hdr, iv, ek, ct):
        parts.append(struct.pack(">I", len(p)))
        parts.append(p)
    return b"".join(parts)


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError("duplicate key")
        out[k] = v
    return out


@dataclass(frozen=True)
class Opened:
    """Result of :func:`open_envelope`."""

    payload: bytes
    header: dict[str, Any] = field(default_factory=dict)
    signer: SM2PublicKey | None = None


def _seal(
    payload: bytes,
    recipient: SM2PublicKey,
    sign_key: SM2PrivateKey | None,
    header: dict[str, Any] | None,
    cek: bytes,
    ek: bytes,
) -> dict[str, Any]:
    protected: dict[str, Any] = {"v": VERSION, "alg": ALG, "rcpt": recipient.fingerprint()[:32], "h": header or {}}
    if sign_key is not None:
        protected["spk"] = b64u(sign_key.public_key().point)
    try:
        hdr = json.dumps(protected, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        raise bad_argument("envelope header must be a JSON object") from None
    if len(hdr) > MAX_HEADER:
        raise bad_argument("envelope header is too large")
    iv = os.urandom(sm4.GCM_NONCE_SIZE)
    ct = sm4.gcm_encrypt(cek, iv, bytes(payload), hdr)
    env: dict[str, Any] = {"v": VERSION, "hdr": b64u(hdr), "ek": b64u(ek), "iv": b64u(iv), "ct": b64u(ct)}
    if sign_key is not None:
        env["sig"] = b64u(sign_key.sign(_signed_message(hdr, iv, ek, ct)))
    return env


def seal_json(
    payload: bytes,
    recipient: SM2PublicKey,
    *,
    sign_key: SM2PrivateKey | None = None,
    header: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Seal *payload* for *recipient*; sign it with *sign_key* if given.  Returns the JSON-ready dict.

    Every call draws a fresh content key (and SM2-encrypts it) and a fresh nonce.
    """
    cek = os.urandom(sm4.KEY_SIZE)
    return _seal(payload, recipient, sign_key, header, cek, recipient.encrypt(cek))


class Sealer:
    """Seal many envelopes for one recipient at a higher rate (opt-in).

    The SM2 encryption of the content key is the most expensive step of sealing (two scalar
    multiplications).  A Sealer reuses one content key and its SM2 ciphertext for at most
    *max_uses* envelopes or *max_age* seconds, whichever comes first; every envelope still gets
    its own random 96-bit GCM nonce (collision probability for 4,096 uses: about 2^-73).  The
    wire format is unchanged.  Trade-off: whoever obtains one content key can read every
    envelope sealed under it, so keep the bounds small; use :func:`seal_json` when each record
    must stand alone.
    """

    def __init__(
        self,
        recipient: SM2PublicKey,
        *,
        sign_key: SM2PrivateKey | None = None,
        max_uses: int = 4096,
        max_age: float = 300.0,
    ) -> None:
        if not 1 <= max_uses <= 1 << 20:
            raise bad_argument("max_uses must be between 1 and 2^20")
        self.recipient = recipient
        self.sign_key = sign_key
        self.max_uses = max_uses
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cek = b""
        self._ek = b""
        self._uses = 0
        self._born = 0.0

    def seal(self, payload: bytes, header: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if not self._cek or self._uses >= self.max_uses or now - self._born > self.max_age:
                self._cek = os.urandom(sm4.KEY_SIZE)
                self._ek = self.recipient.encrypt(self._cek)
                self._uses, self._born = 0, now
            self._uses += 1
            cek, ek = self._cek, self._ek
        return _seal(payload, self.recipient, self.sign_key, header, cek, ek)


def open_envelope(env: object, key: SM2PrivateKey, *, sender: SM2PublicKey | None = None) -> Opened:
    """Open an envelope made by :func:`seal_json`.

    If *sender* is given the envelope must be signed by that key.  An envelope that
    carries a signature is always verified (against the signer key it names), so a
    tampered signed envelope is rejected even when *sender* is not given.
    """
    try:
        return _open(env, key, sender, key.decrypt)
    except GtsdkError:
        raise rejected() from None
    except (ValueError, TypeError, KeyError, UnicodeError, OverflowError, RecursionError):
        raise rejected() from None


def _open(
    env: object, key: SM2PrivateKey, sender: SM2PublicKey | None, unwrap: Callable[[bytes], bytes]
) -> Opened:
    if not isinstance(env, dict) or not _REQUIRED <= env.keys() <= _FIELDS:
        raise rejected()
    v = env["v"]
    if type(v) is not int or v != VERSION:
        raise rejected()
    hdr = b64u_decode(env["hdr"])
    ek = b64u_decode(env["ek"])
    iv = b64u_decode(env["iv"])
    ct = b64u_decode(env["ct"])
    sig = b64u_decode(env["sig"]) if "sig" in env else None
    if len(hdr) > MAX_HEADER or len(ek) > MAX_EK or len(iv) != sm4.GCM_NONCE_SIZE or len(ct) < sm4.GCM_TAG_SIZE:
        raise rejected()
    prot = json.loads(hdr.decode("utf-8"), object_pairs_hook=_no_dupes)
    if not isinstance(prot, dict) or not {"v", "alg", "rcpt", "h"} <= prot.keys() <= {"v", "alg", "rcpt", "h", "spk"}:
        raise rejected()
    pv = prot["v"]
    if type(pv) is not int or pv != VERSION or prot["alg"] != ALG or not isinstance(prot["h"], dict):
        raise rejected()
    if not isinstance(prot["rcpt"], str) or not hmac.compare_digest(
        prot["rcpt"].encode(), key.public_key().fingerprint()[:32].encode()
    ):
        raise rejected()
    signer: SM2PublicKey | None = None
    if ("spk" in prot) != (sig is not None):
        raise rejected()
    if sig is not None:
        signer = SM2PublicKey(b64u_decode(prot["spk"]))
        if sender is not None and signer != sender:
            raise rejected()
        if not signer.verify(sig, _signed_message(hdr, iv, ek, ct)):
            raise rejected()
    elif sender is not None:
        raise rejected()
    cek = unwrap(ek)
    if len(cek) != sm4.KEY_SIZE:
        raise rejected()
    payload = sm4.gcm_decrypt(cek, iv, ct, hdr)
    return Opened(payload, prot["h"], signer)


class Opener:
    """Open many envelopes with one key, remembering recently unwrapped content keys.

    The counterpart of :class:`Sealer`: envelopes that share an encrypted content key skip the
    SM2 decryption.  The cache holds at most *cache_size* keys in memory.
    """

    def __init__(self, key: SM2PrivateKey, *, cache_size: int = 64) -> None:
        self.key = key
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _unwrap(self, ek: bytes) -> bytes:
        with self._lock:
            cek = self._cache.get(ek)
            if cek is not None:
                self._cache.move_to_end(ek)
                return cek
        cek = self.key.decrypt(ek)
        with self._lock:
            self._cache[ek] = cek
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return cek

    def open(self, env: object, *, sender: SM2PublicKey | None = None) -> Opened:
        try:
            return _open(env, self.key, sender, self._unwrap)
        except GtsdkError:
            raise rejected() from None
        except (ValueError, TypeError, KeyError, UnicodeError, OverflowError, RecursionError):
            raise rejected() from None


def open_json(env: dict[str, Any], key: SM2PrivateKey, *, sender: SM2PublicKey | None = None) -> bytes:
    """Open an envelope and return the payload (see :func:`open_envelope`)."""
    return open_envelope(env, key, sender=sender).payload


def dumps(env: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of an envelope."""
    return json.dumps(env, separators=(",", ":"), sort_keys=True).encode("ascii")


def loads(data: bytes | str) -> dict[str, Any]:
    """Parse envelope JSON text; malformed text raises the one ``invalidData`` error."""
    try:
        obj = json.loads(data, object_pairs_hook=_no_dupes)
    except (ValueError, UnicodeError, RecursionError):
        raise rejected() from None
    if not isinstance(obj, dict):
        raise rejected()
    return obj
