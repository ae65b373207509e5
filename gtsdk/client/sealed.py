"""Opening a sealed result (clause 9.3.2): the app that holds the recipient key gets the contract's model back.

```python
sealed = client.idcard.read_sealed(timeout=20)                  # SealedData: nothing personal in clear
card = open_sealed(sealed, recipient_key, IdCardData)           # IdCardData, after SM2/SM4 opening
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES, Model
from gtsdk.wire import SealedData

if TYPE_CHECKING:
    from gtsdk.crypto.sm2 import SM2PrivateKey, SM2PublicKey

R = TypeVar("R", bound=Model)


def open_sealed(sealed: SealedData, key: SM2PrivateKey, result: type[R], *, sender: SM2PublicKey | None = None) -> R:
    """Open *sealed* with the app's recipient *key* and return it as *result*.

    The envelope's authenticated header names the module and operation it came from; a
    *result* type other than that operation's is ``sealingMismatch``.  With *sender* (the
    terminal's SM2 public key) the envelope must carry the terminal's signature.  A tampered
    or foreign envelope is ``invalidData`` (nothing about why, as the envelope format says).
    """
    from gtsdk.crypto.envelope import open_envelope  # the crypto stack loads only when a result is opened

    opened = open_envelope(sealed.sealed, key, sender=sender)
    module, op = opened.header.get("module"), opened.header.get("operation")
    spec = MODULES.get(module) if isinstance(module, str) else None
    ospec = spec.operations.get(op) if spec is not None and isinstance(op, str) else None
    if ospec is None or ospec.result is not result:
        raise GtsdkError(ErrorCode.SEALING_MISMATCH, f"the envelope holds the result of {module}.{op}, "
                         f"not a {result.__name__}")
    try:
        return result.model_validate_json(opened.payload)
    except ValidationError:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"the opened envelope is not a {result.__name__}") from None
