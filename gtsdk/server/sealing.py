"""Personal data sealed for an app's recipient key (clause 9.3.2).

For an operation whose contract marks ``personal_data`` and an app with ``recipient_key``, the result leaves
the service only as ``{"kind": "sealed", "sealed": <envelope>}`` (:class:`gtsdk.wire.SealedData`): the compact
JSON envelope of :mod:`gtsdk.crypto.envelope` (SM4-GCM content key wrapped with SM2 for the recipient, signed
with the terminal SM2 key).  A configured key without a usable gtsdk.crypto is a ``configError`` at start: the
service never falls back to sending the data in clear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtsdk.driver import Model
from gtsdk.errors import ConfigError, GtsdkError
from gtsdk.server.config import ServiceConfig
from gtsdk.wire import SealedData

if TYPE_CHECKING:
    from gtsdk.crypto import SM2PrivateKey, SM2PublicKey


class Sealer:
    """The recipients of the configured apps; seals results for them (SM2 work: call it off the event loop)."""

    def __init__(self, config: ServiceConfig, sign_key: SM2PrivateKey | None) -> None:
        self.sign_key = sign_key
        self.recipients: dict[str, SM2PublicKey] = {}
        for name in config.apps:
            path = config.recipient_path(name)
            if path is None:
                continue
            key = f"service.apps.{name}.recipient_key"
            try:
                from gtsdk.crypto import load_public_pem
                from gtsdk.crypto.envelope import seal_json  # noqa: F401  (fails here, not at the first read)
            except (ImportError, GtsdkError):  # not installed, or no SM2 in libcrypto (configError at import)
                raise ConfigError(key, "sealing personal data needs gtsdk.crypto (SM2/SM4), which is not "
                                       "installed; refusing to send personal data in clear") from None
            try:
                self.recipients[name] = load_public_pem(path.read_bytes())
            except OSError as e:
                raise ConfigError(key, f"cannot read {path}: {e.strerror}") from None
            except GtsdkError as e:  # gtsdk.crypto's one parse failure (invalidData), or an encrypted PEM
                raise ConfigError(key, f"not an SM2 public key PEM: {e.detail}") from None

    def seals_for(self, app: str) -> bool:
        return app in self.recipients

    def seal(self, result: Model, app: str, module: str, operation: str, request_id: str) -> SealedData:
        from gtsdk.crypto.envelope import seal_json

        payload = result.model_dump_json(by_alias=True, exclude_none=True).encode()
        header = {"module": module, "operation": operation, "requestId": request_id, "app": app}
        return SealedData(sealed=seal_json(payload, self.recipients[app], sign_key=self.sign_key, header=header))
