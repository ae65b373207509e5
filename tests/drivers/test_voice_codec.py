"""Voice prompt codec (8.4 m): catalogue, text preparation for cmn-latn-pinyin, WAV parsing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.espeak import codec
from gtsdk.errors import ErrorCode, GtsdkError


def test_prompt_catalogue_has_both_languages() -> None:
    assert codec.PROMPTS["placeCard"]["zh"] == "请放置证件"
    for pid, entry in codec.PROMPTS.items():
        assert entry.get("zh") and entry.get("en"), pid
        assert codec.has_han(entry["zh"]) and not codec.has_han(entry["en"])


def test_resolve() -> None:
    assert codec.resolve(None, "placeCard", "en", codec.PROMPTS).startswith("Please place")
    assert codec.resolve("  你好 ", None, "zh", codec.PROMPTS) == "你好"
    for text, prompt, field in [(None, None, "text"), ("a", "placeCard", "text"), (None, "noSuchPrompt", "prompt"),
                                ("\x00\x07  ", None, "text")]:
        with pytest.raises(GtsdkError) as ei:
            codec.resolve(text, prompt, "zh", codec.PROMPTS)
        assert ei.value.code == ErrorCode.INVALID_DATA and ei.value.field == field


def test_polyphones_become_the_right_pinyin() -> None:
    # espeak-ng 1.51's cmn_dict reads 银行 as yin2 xing2 and 重新 as zhong4 xin1 (checked with `espeak-ng -x`)
    out = codec.prepare_text("请到银行重新办理，谢谢。", "zh")
    assert "yin2 hang2" in out and "chong2 xin1" in out
    assert not codec.has_han(out)
    assert codec.prepare_text("hello", "zh") == "hello"
    assert codec.prepare_text("银行", "en") == "银行"  # other languages are left alone
    assert codec.prepare_text("银行", "zh", pinyin=False) == "银行"


def _wav(rate: int, ch: int, bits: int, data: bytes, *, streaming: bool = False) -> bytes:
    size = 0x7FFFFFFF if streaming else len(data)
    fmt = struct.pack("<HHIIHH", 1, ch, rate, rate * ch * bits // 8, ch * bits // 8, bits)
    return b"RIFF" + struct.pack("<I", size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", size) + data


def test_parse_wav_golden_and_streaming_header() -> None:
    w = _wav(22050, 1, 16, bytes(44100))
    info = codec.parse_wav(w)
    assert (info.sample_rate, info.channels, info.bits, info.data_offset, info.data_length) == (22050, 1, 16, 44, 44100)
    assert info.seconds == pytest.approx(1.0)
    # espeak-ng --stdout writes placeholder sizes; the data runs to the end of the stream
    s = _wav(22050, 1, 16, bytes(2205 * 2 + 1), streaming=True)
    assert codec.parse_wav(s).data_length == 2205 * 2
    fixed = codec.fix_wav(s)
    assert struct.unpack_from("<I", fixed, 40)[0] == 4410 and struct.unpack_from("<I", fixed, 4)[0] == len(fixed) - 8
    assert codec.parse_wav(codec.silence_wav(100)).seconds == pytest.approx(0.1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 60))
def test_parse_wav_garbage_gives_documented_codes(data: bytes, cut: int) -> None:
    for blob in (data, _wav(16000, 1, 16, data)[:cut] + data, b"RIFF\x00\x00\x00\x00WAVE" + data):
        try:
            info = codec.parse_wav(blob)
        except GtsdkError as e:
            assert e.code in (ErrorCode.INVALID_DATA, ErrorCode.UNSUPPORTED_DATA)
        else:
            assert 0 <= info.data_length <= len(blob)
