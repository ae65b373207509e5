"""The update channel's error codes: namespaced on top of the catalogue (gtsdk.errors), each with a base code a
caller knowing only the standard list can act on.  Every refusal of a bundle carries one of them and is audited."""

from __future__ import annotations

from gtsdk.errors import ErrorCode, register_vendor_code

BUNDLE_INVALID = "update.bundleInvalid"
UNSIGNED = "update.unsigned"
UNTRUSTED_KEY = "update.untrustedKey"
SIGNATURE_INVALID = "update.signatureInvalid"
TAMPERED = "update.tampered"
DOWNGRADE = "update.downgrade"
NOT_TARGETED = "update.notTargeted"
GTSDK_TOO_OLD = "update.gtsdkTooOld"
INSTALL_FAILED = "update.installFailed"
CERTIFICATION_FAILED = "update.certificationFailed"
CONFIG_REJECTED = "update.configRejected"
TRANSACTION_OPEN = "update.transactionOpen"
ROLLED_BACK = "update.rolledBack"
BUSY = "update.busy"

_CODES: list[tuple[str, str, str, ErrorCode, bool | None]] = [
    (BUNDLE_INVALID, "更新包格式无效", "The update bundle is not valid", ErrorCode.INVALID_DATA, False),
    (UNSIGNED, "更新包未签名", "The update bundle is not signed", ErrorCode.UNAUTHORIZED, False),
    (UNTRUSTED_KEY, "更新包的签名密钥不受本终端信任", "The bundle is signed by a key this terminal does not trust",
     ErrorCode.FORBIDDEN, False),
    (SIGNATURE_INVALID, "更新包签名验证失败", "The bundle's signature does not verify", ErrorCode.FRAUD_ATTEMPT,
     False),
    (TAMPERED, "更新包内容被篡改（SM3 摘要不符）", "The bundle's content was altered (an SM3 digest does not match)",
     ErrorCode.FRAUD_ATTEMPT, False),
    (DOWNGRADE, "拒绝降级：更新包版本不高于当前版本", "Downgrade refused: the bundle's version is not newer",
     ErrorCode.INVALID_DATA, False),
    (NOT_TARGETED, "更新包不适用于本终端（型号、分组或区划不符）",
     "The bundle does not target this terminal (model, group or region)", ErrorCode.FORBIDDEN, False),
    (GTSDK_TOO_OLD, "本终端的 gtsdk 版本低于更新包的最低要求",
     "This terminal's gtsdk is older than the bundle requires",
     ErrorCode.UNSUPPORTED_DATA, False),
    (INSTALL_FAILED, "更新包安装失败", "Installing the bundle failed", ErrorCode.INTERNAL_ERROR, False),
    (CERTIFICATION_FAILED, "新版本驱动未达到要求的一致性等级",
     "A changed driver did not reach the required conformance tier",
     ErrorCode.HARDWARE_ERROR, False),
    (CONFIG_REJECTED, "新配置未通过检查（check-config）", "The new configuration did not pass check-config",
     ErrorCode.CONFIG_ERROR, False),
    (TRANSACTION_OPEN, "有办件正在进行，暂不切换版本", "A transaction is open; the switch waits",
     ErrorCode.DEVICE_BUSY, True),
    (ROLLED_BACK, "新版本运行异常，已回滚到上一版本", "The new version failed after the switch and was rolled back",
     ErrorCode.HARDWARE_ERROR, False),
    (BUSY, "另一个更新正在进行", "Another update is in progress", ErrorCode.DEVICE_BUSY, True),
]

for _code, _zh, _en, _base, _retry in _CODES:
    register_vendor_code(_code, _zh, _en, base=_base, retryable=_retry)
