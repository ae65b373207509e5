"""ZhianTec/AS608 codec: golden frames (docs/protocols.md §3), confirmation-code mapping, bulk data,
image packing, ISO/IEC 19794-2 records; hypothesis over every parser (clause 8.4 d)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.zhiantec import codec as C
from gtsdk.drivers.zhiantec import iso19794_2 as iso
from gtsdk.errors import ErrorCode, GtsdkError

H = bytes.fromhex

# DERIVED frames listed in docs/protocols.md §3 (checksums also match pyfingerprint's __writePacket).
GOLDEN = [
    (C.vfy_pwd(0), "EF 01 FF FF FF FF 01 00 07 13 00 00 00 00 00 1B"),
    (C.gen_img(), "EF 01 FF FF FF FF 01 00 03 01 00 05"),
    (C.img2tz(1), "EF 01 FF FF FF FF 01 00 04 02 01 00 08"),
    (C.reg_model(), "EF 01 FF FF FF FF 01 00 03 05 00 09"),
    (C.store(1, 1), "EF 01 FF FF FF FF 01 00 06 06 01 00 01 00 0F"),
    (C.ack(0x00), "EF 01 FF FF FF FF 07 00 03 00 00 0A"),
    (C.ack(0x02), "EF 01 FF FF FF FF 07 00 03 02 00 0C"),
]


@pytest.mark.parametrize(("frame", "hexstr"), GOLDEN)
def test_golden_frames(frame: bytes, hexstr: str) -> None:
    assert frame == H(hexstr)
    p = C.decode(frame)
    assert p.encode() == frame


def test_other_command_frames_follow_the_layout() -> None:
    # Search(buf 1, start 0, count 1000): payload 04 01 0000 03E8, len 8, sum = 1+0+8+4+1+3+0xE8
    assert C.search(1, 0, 1000) == H("EF01 FFFFFFFF 01 0008 04 01 0000 03E8 00F9")
    assert C.up_image() == H("EF01 FFFFFFFF 01 0003 0A 000E")
    assert C.down_char(2)[-4:] == H("09 02 00 10")  # 1 + 0 + 4 + 9 + 2
    assert C.vfy_pwd(0x12345678, address=0x01020304)[2:6] == H("01020304")


def test_ack_decoding_and_parsers() -> None:
    sp = C.SysPara(0, 0, 1000, 3, 0xFFFFFFFF, 128, 57600)
    p = C.decode(C.ack(0, sp.encode()))
    assert C.parse_sys_para(p) == sp
    assert C.parse_search(C.decode(C.ack(0, struct.pack(">HH", 5, 143)))) == (5, 143)
    assert C.parse_search(C.decode(C.ack(0x09))) is None
    assert C.parse_match(C.decode(C.ack(0, b"\x00\xc8"))) == 200
    assert C.parse_match(C.decode(C.ack(0x08, b"\x00\x0c"))) == 12


@pytest.mark.parametrize(
    ("code", "expected"),
    [(0x02, ErrorCode.NO_MEDIA), (0x06, ErrorCode.USER_ERROR), (0x07, ErrorCode.USER_ERROR),
     (0x15, ErrorCode.USER_ERROR), (0x03, ErrorCode.HARDWARE_ERROR), (0x13, ErrorCode.CONFIG_ERROR),
     (0x21, ErrorCode.CONFIG_ERROR), (0x01, ErrorCode.COMMUNICATION_ERROR), (0x0B, ErrorCode.INVALID_DATA),
     (0x7E, ErrorCode.HARDWARE_ERROR)],
)
def test_confirmation_codes_map_to_the_catalogue(code: int, expected: ErrorCode) -> None:
    e = C.confirmation_error(code, "X")
    assert e.code == expected and e.data["confirmation"] == code


def test_no_finger_and_poor_image_are_retryable() -> None:
    assert C.confirmation_error(0x02).retryable
    assert C.confirmation_error(0x06).retryable
    assert C.confirmation_error(0x07).retryable
    assert not C.confirmation_error(0x03).retryable


def test_every_documented_confirmation_code_is_mapped() -> None:
    for code in C.Confirm:
        if code != C.Confirm.OK:
            assert code in C.CONFIRMATION


def test_bad_checksum_start_and_length_are_communication_errors() -> None:
    good = bytearray(C.gen_img())
    bad = bytes(good[:-1]) + bytes([good[-1] ^ 1])
    with pytest.raises(GtsdkError) as e:
        C.decode(bad)
    assert e.value.code == ErrorCode.COMMUNICATION_ERROR
    with pytest.raises(C.FrameError):
        C.decode(b"\xef\x02" + bytes(good[2:]))
    with pytest.raises(C.FrameError):
        C.decode(bytes(good[:-1]))


def test_parser_resynchronises_after_noise() -> None:
    parser = C.Parser()
    out = parser.feed(b"\x00\x13\xef" + C.ack(0) + C.ack(2)[:5])
    assert [p.code for p in out] == [0]
    assert [p.code for p in parser.feed(C.ack(2)[5:])] == [2]


def test_bulk_data_split_and_join() -> None:
    data = bytes(range(256)) * 2
    frames = list(C.split_data(data, 128))
    assert len(frames) == 4
    pkts = C.Parser().feed(b"".join(frames))
    assert [p.pid for p in pkts] == [2, 2, 2, 8]
    assert C.join_data(pkts) == data
    with pytest.raises(ValueError):
        list(C.split_data(data, 100))


def test_image_pack_unpack() -> None:
    rng = np.random.default_rng(0)
    img = (rng.integers(0, 16, (C.IMAGE_HEIGHT, C.IMAGE_WIDTH)) * 17).astype(np.uint8)
    raw = C.pack_image(img)
    assert len(raw) == C.IMAGE_BYTES == 36864
    assert (C.unpack_image(raw) == img).all()
    # high nibble is the left pixel (pyfingerprint downloadImage)
    first = C.unpack_image(b"\xf0" + bytes(C.IMAGE_BYTES - 1))
    assert first[0, 0] == 255 and first[0, 1] == 0
    with pytest.raises(GtsdkError):
        C.unpack_image(b"\x00" * 10)


def test_png_is_a_png_with_500_dpi() -> None:
    import io

    from PIL import Image

    png = C.image_png(np.full((C.IMAGE_HEIGHT, C.IMAGE_WIDTH), 200, np.uint8))
    im = Image.open(io.BytesIO(png))
    assert im.size == (256, 288) and im.mode == "L"
    assert round(im.info["dpi"][0]) == 500


def test_iso_record_roundtrip_and_header() -> None:
    ms = [iso.Minutia(10, 20, 90.0, iso.ENDING, 80), iso.Minutia(255, 287, 359.0, iso.BIFURCATION, 40)]
    rec = iso.encode(ms, width=256, height=288, quality=70)
    assert rec[:8] == b"FMR\x00 20\x00"
    assert struct.unpack(">I", rec[8:12])[0] == len(rec) == 24 + 4 + 12 + 2
    assert struct.unpack(">HHHH", rec[14:22]) == (256, 288, 197, 197)
    back = iso.decode(rec)
    assert [(m.x, m.y, m.kind, m.quality) for m in back.minutiae] == [(10, 20, 1, 80), (255, 287, 2, 40)]
    assert abs(back.minutiae[0].angle - 90.0) < 1.5
    with pytest.raises(GtsdkError):
        iso.encode([iso.Minutia(300, 1, 0, 1)], width=256, height=288)


# ---- hypothesis: random, truncated and corrupted input gives only documented errors ----------

@given(pid=st.sampled_from([1, 2, 7, 8]), payload=st.binary(min_size=1, max_size=300),
       address=st.integers(0, 0xFFFFFFFF))
def test_encode_decode_roundtrip(pid: int, payload: bytes, address: int) -> None:
    frame = C.encode(pid, payload, address)
    p = C.decode(frame)
    assert (p.pid, p.payload, p.address) == (pid, payload, address)
    assert C.Parser().feed(frame) == [p]


@given(payload=st.binary(min_size=1, max_size=64), cut=st.integers(0, 80))
def test_truncated_frames_raise_frame_error(payload: bytes, cut: int) -> None:
    frame = C.encode(7, payload)
    short = frame[: min(cut, len(frame) - 1)]
    with pytest.raises(C.FrameError):
        C.decode(short)
    assert C.Parser().feed(short) == []  # incomplete: waits for more


@given(payload=st.binary(min_size=1, max_size=64), pos=st.integers(0, 200), bit=st.integers(0, 7))
def test_corrupted_frames_never_pass_silently(payload: bytes, pos: int, bit: int) -> None:
    frame = bytearray(C.encode(7, payload))
    i = pos % len(frame)
    frame[i] ^= 1 << bit
    try:
        p = C.decode(bytes(frame))
    except GtsdkError as e:
        assert e.code == ErrorCode.COMMUNICATION_ERROR
    else:  # only an address flip keeps the packet valid (the address is outside the checksum)
        assert 2 <= i < 6 and p.payload == payload


@settings(max_examples=200)
@given(data=st.binary(max_size=400))
def test_parser_on_random_bytes(data: bytes) -> None:
    parser = C.Parser()
    try:
        for p in parser.feed(data):
            assert p.pid in (1, 2, 7, 8)
    except GtsdkError as e:
        assert e.code == ErrorCode.COMMUNICATION_ERROR


@given(data=st.binary(max_size=200))
def test_ack_parsers_on_random_payloads(data: bytes) -> None:
    p = C.Packet(C.Pid.ACK, data)
    for fn in (C.parse_sys_para, C.parse_search, C.parse_match, C.parse_template_num):
        try:
            fn(p)
        except GtsdkError as e:
            assert e.code in {x.value for x in ErrorCode}


@given(data=st.binary(max_size=120))
def test_iso_decode_random_input(data: bytes) -> None:
    for blob in (data, iso.MAGIC + data):
        try:
            iso.decode(blob)
        except GtsdkError as e:
            assert e.code == ErrorCode.INVALID_DATA


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=120))
def test_simulated_module_answers_garbage_with_valid_frames(data: bytes) -> None:
    """Whatever arrives on its line, the simulated module answers only well-formed acknowledges."""
    from gtsdk.simulators.fingerprint.device import FingerprintModule

    dev = FingerprintModule()
    sent: list[bytes] = []
    dev.send = sent.append  # type: ignore[method-assign,assignment]
    dev.on_bytes(data)
    dev.on_bytes(C.gen_img())
    dev.reset_line()  # the inter-byte timeout ends any half-received packet
    dev.on_bytes(C.gen_img())  # and it works again
    out = C.Parser().feed(b"".join(sent))
    assert out and all(p.pid in (C.Pid.ACK, C.Pid.DATA, C.Pid.END) for p in out)
    assert out[-1].pid == C.Pid.ACK and out[-1].code == C.Confirm.NO_FINGER
