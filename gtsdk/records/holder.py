"""Holder keys: recognise "the same holder" later without storing who it was (docs/records.md, privacy).

``holder_key = HMAC-SM3(key, "gtsdk-holder-v1" | app | document kind | document number)``, hex.

* The key is 32 random bytes in its own 0600 file (``[records] holder_key_file``, default
  ``<home>/records-holder.key``), never in the records database, never in a record or on the wire; a copy of
  the database alone cannot be reversed by trying ID numbers.
* The service computes the key from a document **it has just read** within the transaction; an app never sends
  a number to be hashed.  A route that hashed any number an app sends would be an oracle: ID numbers have little
  entropy (region, birth date, sequence, check digit), so an app could hash candidates until a key matches.
  Here a key exists only for a card that was on the reader.
* The app name is part of the input, so two apps (and the fleet platform) cannot link their holders.
* The number is used in memory for the HMAC only, when the read completes; only the key is kept, on the open
  transaction, until the app asks for it or the transaction ends.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.home import write_private

KEY_BYTES = 32
CONTEXT = b"gtsdk-holder-v1"


class HolderKeys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _load(self) -> bytes:
        with self._lock:
            if self._key is None:
                if not self.path.exists():
                    self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    write_private(self.path, os.urandom(KEY_BYTES))
                data = self.path.read_bytes()
                if len(data) != KEY_BYTES:
                    raise ConfigError("records.holder_key_file", f"{self.path} is not a {KEY_BYTES}-byte key")
                self._key = data
            return self._key

    def derive(self, app: str, kind: str, number: str) -> str:
        try:
            from gtsdk.crypto import hmac_sm3
        except Exception:  # noqa: BLE001 - gtsdk.crypto refuses to import where libcrypto has no SM2/SM3
            raise GtsdkError(ErrorCode.CONFIG_ERROR, "holder keys need SM3 (gtsdk.crypto)") from None
        msg = b"\0".join((CONTEXT, app.encode(), kind.encode(), number.strip().upper().encode()))
        return hmac_sm3(self._load(), msg).hex()
