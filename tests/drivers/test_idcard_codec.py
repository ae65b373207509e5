"""SAM frame codec: golden frames from the public protocol text, round trips, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.sam_serial import codec
from gtsdk.drivers.sam_serial.codec import SW3, Command, FrameError
from gtsdk.errors import ErrorCode, GtsdkError

# Request frames: docs/protocols.md 1.3 table (eastcoms 508.html table 9; heavyii/cardreader IdReader.java;
# hevz/hev-idcard-reader) -- checksums derived there and seen in code.
GOLDEN_REQUESTS = {
    Command.RESET: "AA AA AA 96 69 00 03 10 FF EC",
    Command.STATUS: "AA AA AA 96 69 00 03 11 FF ED",
    Command.SAM_ID: "AA AA AA 96 69 00 03 12 FF EE",
    Command.FIND: "AA AA AA 96 69 00 03 20 01 22",
    Command.SELECT: "AA AA AA 96 69 00 03 20 02 21",
    Command.READ_BASE: "AA AA AA 96 69 00 03 30 01 32",
    Command.READ_ADDRESS: "AA AA AA 96 69 00 03 30 03 30",
    Command.READ_MID: "AA AA AA 96 69 00 03 30 05 36",
    Command.READ_BASE_FP: "AA AA AA 96 69 00 03 30 10 23",
}

# Reply frames: docs/protocols.md 1.4 (heavyii/cardreader IdReader.java; Qt client for 0x60).
GOLDEN_REPLIES = [
    ("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", SW3.FIND_OK, bytes(4)),
    ("AA AA AA 96 69 00 04 00 00 80 84", SW3.FIND_FAILED, b""),
    ("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", SW3.OK, bytes(8)),
    ("AA AA AA 96 69 00 04 00 00 81 85", SW3.SELECT_FAILED, b""),
    ("AA AA AA 96 69 00 04 00 00 41 45", SW3.READ_FAILED, b""),
    ("AA AA AA 96 69 00 04 00 00 60 64", SW3.SELF_TEST_FAILED, b""),
]


@pytest.mark.parametrize("command", list(GOLDEN_REQUESTS))
def test_request_frames_match_the_protocol_text(command: Command) -> None:
    frame = bytes.fromhex(GOLDEN_REQUESTS[command])
    assert codec.build_request(command) == frame
    req = codec.parse_request(frame)
    assert req.command is command and req.data == b""


def test_rf_max_request_with_data_byte() -> None:
    # hevz/hev-idcard-reader sets the RF adapter's max transfer to 0x50
    assert codec.build_request(Command.SET_RF_MAX, b"\x50") == bytes.fromhex("AAAAAA9669000461FF50CA")


@pytest.mark.parametrize("hexframe,sw3,data", GOLDEN_REPLIES)
def test_reply_frames_match_the_protocol_text(hexframe: str, sw3: int, data: bytes) -> None:
    frame = bytes.fromhex(hexframe)
    r = codec.parse_response(frame)
    assert (r.sw1, r.sw2, r.sw3, r.data) == (0, 0, sw3, data)
    assert codec.build_response(sw3, data) == frame


def test_read_base_reply_header_matches_eastcoms_sample() -> None:
    # eastcoms 533.html: a 30 01 reply starts AA AA AA 96 69 05 08 00 00 90 01 00 04 00 and is 1295 bytes
    frame = codec.build_response(SW3.OK, codec.build_read_payload(b" \x00" * 128, bytes(1024)))
    assert frame[:14] == bytes.fromhex("AAAAAA966905080000900100" "0400")
    assert len(frame) == 1295
    blocks = codec.parse_read_payload(codec.parse_response(frame).data, with_fingerprint=False)
    assert blocks.text == b" \x00" * 128 and len(blocks.photo) == 1024 and blocks.fingerprint is None


def test_read_fp_reply_is_2321_bytes_with_text_at_offset_16() -> None:
    text, photo, fp = bytes(range(256)), b"\x01" * 1024, b"\x02" * 1024
    frame = codec.build_response(SW3.OK, codec.build_read_payload(text, photo, fp))
    assert len(frame) == 2321 and frame[5:7] == b"\x09\x0a" and frame[16:16 + 256] == text
    b = codec.parse_read_payload(codec.parse_response(frame).data, with_fingerprint=True)
    assert (b.text, b.photo, b.fingerprint) == (text, photo, fp)


def test_sam_id_format() -> None:
    data = bytes([5, 0, 1, 0]) + (20260101).to_bytes(4, "little") + (123).to_bytes(4, "little") + bytes(4)
    assert codec.format_sam_id(data) == "05.01-20260101-000000123-000000000"


def test_checksum_and_length_errors_are_frame_errors() -> None:
    good = bytes.fromhex(GOLDEN_REQUESTS[Command.FIND])
    with pytest.raises(FrameError) as e:
        codec.parse_request(good[:-1] + b"\x00")
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR
    with pytest.raises(FrameError):
        codec.parse_request(good + b"\x00")
    with pytest.raises(FrameError):
        codec.parse_request(b"\x55" + good[1:])


@pytest.mark.parametrize("sw3,code", [
    (0x80, ErrorCode.NO_MEDIA), (0x81, ErrorCode.NO_MEDIA), (0x41, ErrorCode.USER_ERROR),
    (0x60, ErrorCode.HARDWARE_ERROR), (0x66, ErrorCode.HARDWARE_ERROR), (0x10, ErrorCode.COMMUNICATION_ERROR),
    (0x11, ErrorCode.COMMUNICATION_ERROR), (0x31, ErrorCode.AUTHENTICATION_FAILED),
    (0x40, ErrorCode.UNSUPPORTED_DATA), (0x21, ErrorCode.HARDWARE_ERROR),
])
def test_sw3_mapping(sw3: int, code: ErrorCode) -> None:
    err = codec.sw3_error(sw3)
    assert err.code == code and err.data["sw3"] == f"{sw3:02X}"
    if sw3 == 0x41:
        assert err.retryable


@given(st.sampled_from(list(Command)), st.binary(max_size=64))
def test_any_request_round_trips(command: Command, data: bytes) -> None:
    req = codec.parse_request(codec.build_request(command, data))
    assert (req.command, req.data) == (command, data)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=2400))
@settings(max_examples=60)
def test_any_response_round_trips(sw1: int, sw2: int, sw3: int, data: bytes) -> None:
    frame = codec.build_response(sw3, data, sw1, sw2)
    assert codec.parse_response(frame) == codec.Response(sw1, sw2, sw3, data)
    assert codec.StreamParser().feed(frame) == [frame]


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_documented_errors(blob: bytes) -> None:
    for fn in (codec.parse_request, codec.parse_response):
        try:
            fn(blob)
        except FrameError:
            pass
    for fp in (False, True):
        try:
            codec.parse_read_payload(blob, fp)
        except GtsdkError as e:
            assert e.code == ErrorCode.INVALID_DATA
    try:
        codec.parse_address(blob)
    except GtsdkError as e:
        assert e.code == ErrorCode.INVALID_DATA


@given(st.binary(min_size=1, max_size=200), st.data())
def test_truncated_or_corrupted_frames_are_rejected(data: bytes, draw: st.DataObject) -> None:
    frame = codec.build_response(SW3.OK, data)
    cut = draw.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(FrameError):
        codec.parse_response(frame[:cut])
    i = draw.draw(st.integers(5, len(frame) - 1))
    flip = draw.draw(st.integers(1, 255))
    bad = frame[:i] + bytes([frame[i] ^ flip]) + frame[i + 1:]
    with pytest.raises(FrameError):  # XOR over Len..data catches any single-byte change
        codec.parse_response(bad)


@given(st.binary(max_size=100), st.lists(st.binary(max_size=40), max_size=4), st.binary(max_size=100),
       st.integers(1, 17))
def test_stream_parser_resynchronises_after_noise(noise: bytes, datas: list[bytes], tail: bytes, step: int) -> None:
    frames = [codec.build_response(SW3.OK, d) for d in datas]
    stream = noise.replace(b"\xaa", b"\x00") + b"".join(frames)
    p = codec.StreamParser()
    got: list[bytes] = []
    for i in range(0, len(stream), step):
        got += p.feed(stream[i:i + step])
    assert got == frames
    p.feed(tail)  # arbitrary trailing bytes never raise
