"""Pure parts of the voice driver: the prompt catalogue, text preparation and WAV parsing.

No I/O here.  ``prepare_text`` turns Chinese characters into tone-numbered pinyin
(pypinyin's phrase dictionary picks the right reading of polyphones such as 银行
*yin2 hang2* or 重新 *chong2 xin1*, which espeak-ng 1.51's own cmn_dict gets wrong) for
the ``cmn-latn-pinyin`` voice.  Plain ``cmn`` reads the tone digits aloud in English,
see docs/test-peers.md §5.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from gtsdk.errors import ErrorCode, GtsdkError

#: the built-in prompt catalogue (clause 5 语音导航, 7.2 e 敬老: short, clear sentences)
PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {"zh": "欢迎使用政务服务自助终端", "en": "Welcome to the government service kiosk"},
    "placeCard": {"zh": "请放置证件", "en": "Please place your identity document on the reader"},
    "insertIdCard": {"zh": "请将身份证放在读卡区", "en": "Please place your identity card on the card reader"},
    "removeCard": {"zh": "请取走您的证件", "en": "Please take your identity document"},
    "placeFinger": {"zh": "请将手指平放在指纹采集区", "en": "Please place your finger flat on the sensor"},
    "liftFinger": {"zh": "请抬起手指", "en": "Please lift your finger"},
    "lookAtCamera": {"zh": "请正视摄像头，保持不动", "en": "Please look at the camera and keep still"},
    "scanQrCode": {"zh": "请将二维码对准扫码区", "en": "Please hold the QR code in front of the scanner"},
    "signHere": {"zh": "请在签字板上签名", "en": "Please sign on the signature pad"},
    "enterPhone": {"zh": "请输入手机号码", "en": "Please enter your mobile phone number"},
    "enterIdNumber": {"zh": "请输入身份证号码", "en": "Please enter your identity card number"},
    "takeReceipt": {"zh": "请取走凭条", "en": "Please take your receipt"},
    "takeDocument": {"zh": "请取走打印的材料", "en": "Please take your printed documents"},
    "placeDocument": {"zh": "请将材料正面朝上放入扫描区", "en": "Please place the document face up on the scanner"},
    "pleaseWait": {"zh": "正在处理，请稍候", "en": "Processing, please wait"},
    "callingStaff": {"zh": "正在为您呼叫工作人员，请稍候", "en": "Calling a member of staff, please wait"},
    "timeoutWarning": {"zh": "操作即将超时，如需继续请点击屏幕",
                       "en": "The session will time out soon; touch the screen to continue"},
    "operationFailed": {"zh": "操作未成功，请重试", "en": "That did not work, please try again"},
    "completed": {"zh": "业务办理完成，谢谢您的使用", "en": "Your service is complete, thank you"},
    "goodbye": {"zh": "请带好随身物品，再见", "en": "Please take your belongings with you, goodbye"},
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_FULLWIDTH_PUNCT = str.maketrans({"，": ", ", "。": ". ", "、": ", ", "；": "; ", "：": ": ", "！": "! ", "？": "? ",
                                  "（": " (", "）": ") ", "“": '"', "”": '"', "《": " ", "》": " "})


def resolve(text: str | None, prompt: str | None, language: str,
            catalogue: dict[str, dict[str, str]]) -> str:
    """The text to speak for a request: either *text* or the catalogue entry *prompt*."""
    if (text is None) == (prompt is None):
        raise GtsdkError(ErrorCode.INVALID_DATA, "give exactly one of text and prompt", field="text")
    if prompt is not None:
        entry = catalogue.get(prompt)
        if entry is None:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown prompt; known: {', '.join(sorted(catalogue))}",
                             field="prompt")
        spoken = entry.get(language) or entry.get("zh") or entry.get("en") or ""
    else:
        spoken = text or ""
    spoken = "".join(ch for ch in spoken if ch.isprintable() or ch in " \t")
    if not spoken.strip():
        raise GtsdkError(ErrorCode.INVALID_DATA, "nothing to say", field="text")
    return spoken.strip()


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def prepare_text(text: str, language: str, *, pinyin: bool = True) -> str:
    """Text as the espeak-ng voice for *language* should read it."""
    if language != "zh" or not has_han(text):
        return text
    text = text.translate(_FULLWIDTH_PUNCT)
    if not pinyin:
        return text
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:  # espeak-ng's cmn_dict reads hanzi too, with more polyphone mistakes
        return text
    parts = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    out: list[str] = []
    for p in parts:
        out.append(p if not p.isascii() or not p.isalnum() else p + " ")
    return re.sub(r"\s+", " ", "".join(out)).strip()


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    bits: int
    data_offset: int
    data_length: int

    @property
    def seconds(self) -> float:
        frame = self.channels * self.bits // 8
        return self.data_length / frame / self.sample_rate if frame and self.sample_rate else 0.0


def parse_wav(data: bytes) -> WavInfo:
    """Header of a PCM WAV.  Tolerates the streaming form espeak-ng writes to stdout,
    whose RIFF and data sizes are 0x7ffff... placeholders: the data runs to the end."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise GtsdkError(ErrorCode.INVALID_DATA, "not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise GtsdkError(ErrorCode.INVALID_DATA, "truncated fmt chunk")
            tag, ch, rate, _br, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise GtsdkError(ErrorCode.INVALID_DATA, "data chunk before fmt chunk")
            tag, ch, rate, bits = fmt
            if tag not in (1, 0xFFFE) or ch < 1 or rate < 1 or bits not in (8, 16, 24, 32):
                raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, "not linear PCM")
            length = min(size, len(data) - body)
            frame = ch * bits // 8
            return WavInfo(rate, ch, bits, body, length - length % frame)
        if size > len(data):
            break
        pos = body + size + (size & 1)
    raise GtsdkError(ErrorCode.INVALID_DATA, "no data chunk")


def fix_wav(data: bytes) -> bytes:
    """The same WAV with correct RIFF/data sizes (for players that trust them)."""
    info = parse_wav(data)
    body = data[info.data_offset:info.data_offset + info.data_length]
    header = bytearray(data[:info.data_offset])
    struct.pack_into("<I", header, 4, len(header) - 8 + len(body))
    struct.pack_into("<I", header, info.data_offset - 4, len(body))
    return bytes(header) + body


def silence_wav(ms: int, rate: int = 16000) -> bytes:
    n = rate * ms // 1000 * 2
    return (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", n) + bytes(n))
