"""Lab signatures on reports: SM2 with SM3 over the canonical JSON (9.3.2 b).

The canonical form is the report as JSON with sorted keys, no insignificant
white space, UTF-8, and without its ``signature`` member, so any party can
recompute it from the file alone.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from gtsdk.crypto import DEFAULT_UID, SM2PrivateKey, SM2PublicKey, load_public_pem

from .model import Report, Signature


def canonical(report: Report | dict[str, Any]) -> bytes:
    data = report.model_dump(mode="json") if isinstance(report, Report) else dict(report)
    data.pop("signature", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(report: Report, key: SM2PrivateKey, uid: bytes = DEFAULT_UID) -> Report:
    sig = key.sign(canonical(report), uid=uid)
    report.signature = Signature(uid=uid.decode("ascii"), signer_public_key=key.public_key().to_pem().decode(),
                                 value=base64.b64encode(sig).decode())
    return report


def verify(data: dict[str, Any], pub: SM2PublicKey | None = None) -> tuple[bool, str]:
    """Check a report's signature; with *pub*, also that the lab's key signed it."""
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
