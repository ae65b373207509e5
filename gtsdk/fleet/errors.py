"""The fleet's error codes: namespaced codes on top of the catalogue (gtsdk.errors), each with a base code that
a caller knowing only the standard list can act on.  Every refusal the fleet makes carries one of them."""

from __future__ import annotations

from gtsdk.errors import ErrorCode, register_vendor_code

BROKER_UNAVAILABLE = "fleet.brokerUnavailable"
DATABASE_UNAVAILABLE = "fleet.databaseUnavailable"
SIGNATURE_INVALID = "fleet.signatureInvalid"
COMMAND_EXPIRED = "fleet.commandExpired"
COMMAND_REPLAYED = "fleet.commandReplayed"
WRONG_TERMINAL = "fleet.wrongTerminal"
ENROLMENT_REFUSED = "fleet.enrolmentRefused"
TERMINAL_REVOKED = "fleet.terminalRevoked"
TOPIC_MISMATCH = "fleet.topicMismatch"
RECORD_INVALID = "fleet.recordInvalid"

_CODES: list[tuple[str, str, str, ErrorCode, bool | None]] = [
    (BROKER_UNAVAILABLE, "无法连接消息服务器（MQTT）", "The MQTT broker cannot be reached",
     ErrorCode.COMMUNICATION_ERROR, True),
    (DATABASE_UNAVAILABLE, "平台数据库不可用", "The platform database is not available",
     ErrorCode.COMMUNICATION_ERROR, True),
    (SIGNATURE_INVALID, "指令签名无效或缺失", "The command signature is missing or does not verify",
     ErrorCode.UNAUTHORIZED, False),
    (COMMAND_EXPIRED, "指令已过期", "The command has expired", ErrorCode.INVALID_DATA, False),
    (COMMAND_REPLAYED, "指令重放已被拒绝", "A replayed command was refused", ErrorCode.FRAUD_ATTEMPT, False),
    (WRONG_TERMINAL, "指令不是发给本终端的", "The command is addressed to another terminal",
     ErrorCode.FORBIDDEN, False),
    (ENROLMENT_REFUSED, "终端注册被拒绝（注册码无效、已使用或已过期）",
     "Enrolment refused (the one-time code is wrong, used or expired)", ErrorCode.FORBIDDEN, False),
    (TERMINAL_REVOKED, "终端证书已吊销", "The terminal's certificate has been revoked", ErrorCode.FORBIDDEN, False),
    (TOPIC_MISMATCH, "消息主题与终端身份或区划不符", "The topic does not match the terminal's identity or region",
     ErrorCode.FORBIDDEN, False),
    (RECORD_INVALID, "记录格式无效", "The record is not valid", ErrorCode.INVALID_DATA, False),
]

for _code, _zh, _en, _base, _retry in _CODES:
    register_vendor_code(_code, _zh, _en, base=_base, retryable=_retry)
