"""Lab signatures on reports: SM2 with SM3 over the canonical JSON (9.3.2 b), as in
:mod:`gtsdk.crypto.signed_json`."""

from __future__ import annotations

import base64
from typing import Any

from gtsdk.crypto import DEFAULT_UID, SM2PrivateKey, signed_json

from .model import Report, Signature


def canonical(report: Report | dict[str, Any]) -> bytes:
    return signed_json.canonical(report.model_dump(mode="json") if isinstance(report, Report) else report)


def sign(report: Report, key: SM2PrivateKey, uid: bytes = DEFAULT_UID) -> Report:
    sig = key.sign(canonical(report), uid=uid)
    report.signature = Signature(uid=uid.decode("ascii"), signer_public_key=key.public_key().to_pem().decode(),
                                 value=base64.b64encode(sig).decode())
    return report


verify = signed_json.verify  # the fleet platform checks terminals' reports with the same function
