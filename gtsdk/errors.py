"""The error catalogue: every failure a caller can see has one stable code.

Codes follow XFS4IoT completion codes in spirit (one code from a fixed list per
completion).  Drivers raise :class:`GtsdkError`; the runtime turns anything else
into ``internalError`` so no driver exception text (which may carry personal
data) reaches a caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    SUCCESS = "success"
    TIME_OUT = "timeOut"
    CANCELED = "canceled"
    NO_DEVICE = "noDevice"
    DEVICE_BUSY = "deviceBusy"
    NOT_OPEN = "notOpen"
    INVALID_STATE = "invalidState"
    INVALID_DATA = "invalidData"
    INVALID_COMMAND = "invalidCommand"
    UNSUPPORTED_COMMAND = "unsupportedCommand"
    UNSUPPORTED_DATA = "unsupportedData"
    NO_MEDIA = "noMedia"
    MEDIA_JAM = "mediaJam"
    MEDIA_REMOVED = "mediaRemoved"
    CONSUMABLE_EMPTY = "consumableEmpty"
    AUTHENTICATION_FAILED = "authenticationFailed"
    HARDWARE_ERROR = "hardwareError"
    COMMUNICATION_ERROR = "communicationError"
    USER_ERROR = "userError"
    FRAUD_ATTEMPT = "fraudAttempt"
    CONFIG_ERROR = "configError"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    SERVICE_BUSY = "serviceBusy"
    HEADER_TOO_LARGE = "headerTooLarge"
    NOT_FOUND = "notFound"
    RATE_LIMITED = "rateLimited"
    PAYLOAD_TOO_LARGE = "payloadTooLarge"
    SEALING_MISMATCH = "sealingMismatch"
    INTERNAL_ERROR = "internalError"


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    zh: str
    en: str
    retryable: bool
    http_status: int


_CATALOGUE: dict[str, ErrorInfo] = {}


def _add(code: ErrorCode, zh: str, en: str, retryable: bool, http_status: int) -> None:
    _CATALOGUE[code.value] = ErrorInfo(code.value, zh, en, retryable, http_status)


_add(ErrorCode.SUCCESS, "成功", "Success", False, 200)
_add(ErrorCode.TIME_OUT, "操作超时", "The operation timed out", True, 504)
_add(ErrorCode.CANCELED, "操作已取消", "The operation was canceled", True, 409)
_add(ErrorCode.NO_DEVICE, "设备未连接或不可用", "The device is not connected or not available", True, 503)
_add(ErrorCode.DEVICE_BUSY, "设备忙", "The device is busy", True, 409)
_add(ErrorCode.NOT_OPEN, "设备未打开，请先调用 open", "The device is not open; call open first", False, 409)
_add(ErrorCode.INVALID_STATE, "设备当前状态不允许该操作", "The device state does not allow this operation", False, 409)
_add(ErrorCode.INVALID_DATA, "数据无效", "The data is invalid", False, 400)
_add(ErrorCode.INVALID_COMMAND, "未知的模块或操作", "Unknown module or operation", False, 404)
_add(ErrorCode.UNSUPPORTED_COMMAND, "设备不支持该操作", "The device does not support this operation", False, 501)
_add(ErrorCode.UNSUPPORTED_DATA, "设备不支持该数据", "The device does not support this data", False, 400)
_add(ErrorCode.NO_MEDIA, "未检测到证件、卡片、手指或纸张", "No card, document, finger or paper present", True, 409)
_add(ErrorCode.MEDIA_JAM, "卡纸或卡证", "Media jam", False, 503)
_add(ErrorCode.MEDIA_REMOVED, "介质在操作中被移走", "The media was removed during the operation", True, 409)
_add(ErrorCode.CONSUMABLE_EMPTY, "耗材用尽（纸张、墨粉等）", "A consumable is exhausted (paper, toner, ...)",
     False, 503)
_add(ErrorCode.AUTHENTICATION_FAILED, "证件认证失败（如 MRZ 不匹配）",
     "Document authentication failed (e.g. wrong MRZ)",
     False, 400)
_add(ErrorCode.HARDWARE_ERROR, "设备硬件故障", "Device hardware error", False, 503)
_add(ErrorCode.COMMUNICATION_ERROR, "设备通信错误", "Communication with the device failed", True, 503)
_add(ErrorCode.USER_ERROR, "用户操作有误，请重试", "User error; please try again", True, 409)
_add(ErrorCode.FRAUD_ATTEMPT, "检测到欺诈或攻击行为", "A fraud attempt was detected", False, 409)
_add(ErrorCode.CONFIG_ERROR, "配置错误", "Configuration error", False, 500)
_add(ErrorCode.UNAUTHORIZED, "未认证：缺少或无效的令牌", "Unauthorized: missing or invalid token", False, 401)
_add(ErrorCode.FORBIDDEN, "无权执行该操作", "Forbidden for this token", False, 403)
_add(ErrorCode.SERVICE_BUSY, "服务繁忙：连接数已达上限，请稍后重试",
     "Service busy: too many connections; retry shortly", True, 503)
_add(ErrorCode.HEADER_TOO_LARGE, "请求头过大或过多", "Request header too large or too many header fields",
     False, 431)
_add(ErrorCode.NOT_FOUND, "资源不存在", "Not found", False, 404)
_add(ErrorCode.RATE_LIMITED, "请求过于频繁", "Too many requests", True, 429)
_add(ErrorCode.PAYLOAD_TOO_LARGE, "请求体过大", "Request body too large", False, 413)
_add(ErrorCode.SEALING_MISMATCH, "结果的加密封装与调用方式不符：应用配置了接收方密钥时请调用 *_sealed 方法",
     "The result's sealing does not match the call: use the *_sealed method when the app has a recipient key",
     False, 409)
_add(ErrorCode.INTERNAL_ERROR, "内部错误", "Internal error", False, 500)

_VENDOR_RE = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z][A-Za-z0-9_.]*$")
_VENDOR_BASE: dict[str, str] = {}


def register_vendor_code(code: str, zh: str, en: str, *, base: ErrorCode, retryable: bool | None = None) -> None:
    """Register a namespaced vendor code such as ``acme.lampBurnt``.

    Every vendor code has a *base* catalogue code so a caller that knows only
    the standard list can still act on it (e.g. retry, or show "hardware error").
    """
    if not _VENDOR_RE.match(code):
        raise ValueError(f"vendor code must look like 'vendor.codeName', got {code!r}")
    b = _CATALOGUE[base.value]
    _CATALOGUE[code] = ErrorInfo(code, zh, en, b.retryable if retryable is None else retryable, b.http_status)
    _VENDOR_BASE[code] = base.value


def info(code: str | ErrorCode) -> ErrorInfo:
    """Catalogue entry for a code; unknown codes are reported as internal errors."""
    return _CATALOGUE.get(str(code), _CATALOGUE[ErrorCode.INTERNAL_ERROR.value])


def base_code(code: str) -> str:
    return _VENDOR_BASE.get(code, code)


def catalogue() -> list[ErrorInfo]:
    return list(_CATALOGUE.values())


class GtsdkError(Exception):
    """The one exception type that crosses the driver/runtime/service boundary.

    ``detail`` is a short, personal-data-free explanation for developers; the
    localised message comes from the catalogue.  ``field`` names the offending
    request field for ``invalidData``.
    """

    def __init__(
        self,
        code: str | ErrorCode,
        detail: str = "",
        *,
        field: str | None = None,
        retryable: bool | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.code = str(code)
        if self.code not in _CATALOGUE:
            raise ValueError(f"unknown error code {self.code!r}; register vendor codes first")
        self.detail = detail
        self.field = field
        self.retryable = info(self.code).retryable if retryable is None else retryable
        self.data = data or {}
        super().__init__(f"{self.code}: {detail}" if detail else self.code)

    def message(self, lang: str = "zh") -> str:
        i = info(self.code)
        text = i.en if lang.startswith("en") else i.zh
        if self.field:
            text = f"{text} ({self.field})"
        return text

    @property
    def http_status(self) -> int:
        return info(self.code).http_status

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message(lang), "retryable": self.retryable}
        if self.detail:
            out["detail"] = self.detail
        if self.field:
            out["field"] = self.field
        if self.data:
            out["data"] = self.data
        return out


class ConfigError(GtsdkError):
    """A configuration problem; ``key`` is the dotted path of the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(ErrorCode.CONFIG_ERROR, f"{key}: {problem}", field=key)


def markdown_table() -> str:
    """The catalogue as the Markdown table in docs/errors.md (kept in sync by a test)."""
    lines = ["| code | HTTP | retryable | 中文 | English |", "|---|---|---|---|---|"]
    # core codes first, then namespaced ones grouped by namespace (stable: whatever order the packages registered in)
    for i in sorted(catalogue(), key=lambda i: i.code.partition(".")[0] if "." in i.code else ""):
        lines.append(f"| `{i.code}` | {i.http_status} | {'yes' if i.retryable else 'no'} | {i.zh} | {i.en} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
