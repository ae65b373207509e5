"""SM2-with-SM3 signatures over canonical JSON documents (9.3.2 b).

The canonical form of a document is its JSON with sorted keys, no insignificant white space, UTF-8 and
without its ``signature`` member, so any party can recompute it from the file alone.  The signature block
is ``{"uid", "signer_public_key" (PEM), "value" (base64)}``.  Conformance reports are signed this way by a
lab or a terminal; the fleet platform checks them with the key the terminal enrolled.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .sm2 import DEFAULT_UID, SM2PublicKey, load_public_pem


def canonical(data: dict[str, Any]) -> bytes:
    body = dict(data)
    body.pop("signature", None)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify(data: dict[str, Any], pub: SM2PublicKey | None = None) -> tuple[bool, str]:
    """Check a document's signature; with *pub*, also that this key signed it."""
    sig = data.get("signature")
    if not isinstance(sig, dict):
        return False, "report is not signed"
    try:
        embedded = load_public_pem(sig["signer_public_key"].encode())
        value = base64.b64decode(sig["value"], validate=True)
        uid = str(sig.get("uid", DEFAULT_UID.decode())).encode()
    except Exception:  # noqa: BLE001 - an untrusted file: whatever fails to read in it is a malformed block
        return False, "signature block is malformed"
    if pub is not None and pub.to_pem() != embedded.to_pem():
        return False, "signed by a different key than the one given"
    if not embedded.verify(value, canonical(data), uid=uid):
        return False, "signature does not match the report (modified after signing?)"
    return True, "signature valid"
