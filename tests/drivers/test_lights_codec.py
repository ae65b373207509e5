"""Modbus RTU codec (shared by lights and sensors) and the light-board command planner.

Golden vectors: docs/protocols.md §5.1 (IO-Box README): ``01 05 00 00 FF 00 8C 3A`` relay 0 on,
``01 01 00 00 00 08 3D CC`` read 8 relays.  Every frame we build is also built by pymodbus'
own PDU classes + ``FramerRTU`` and must be byte-identical; every response pymodbus builds
must decode with our parser.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.modbus_lights import codec as lc
from gtsdk.errors import GtsdkError
from gtsdk.transport import modbus_frames as rtu

pymodbus = pytest.importorskip("pymodbus")
from pymodbus.framer import FramerRTU  # noqa: E402
from pymodbus.pdu import bit_message as bm  # noqa: E402
from pymodbus.pdu import register_message as rm  # noqa: E402
from pymodbus.pdu.decoders import DecodePDU  # noqa: E402


def framer(server: bool = False) -> FramerRTU:
    return FramerRTU(DecodePDU(server))


def test_golden_vectors_io_box() -> None:
    assert rtu.write_coil_request(1, 0, True) == bytes.fromhex("01 05 00 00 FF 00 8C 3A")
    assert rtu.read_request(1, rtu.READ_COILS, 0, 8) == bytes.fromhex("01 01 00 00 00 08 3D CC")
    assert rtu.crc16(bytes.fromhex("01 05 00 00 FF 00")) == 0x3A8C  # low byte first on the wire


def test_light_board_plans_golden() -> None:
    assert lc.steady_frames(1, 0, True, None) == [bytes.fromhex("01 05 00 00 FF 00 8C 3A")]
    board = lc.BoardFlash()
    frames = lc.flash_frames(1, 3, 500, 0.25, board)
    assert [f[:6] for f in frames] == [bytes.fromhex("01 06 00 13 01 F4"), bytes.fromhex("01 06 00 23 00 19"),
                                       bytes.fromhex("01 06 00 03 00 02")]
    assert all(rtu.crc_ok(f) for f in frames)


@given(dev=st.integers(1, 247), addr=st.integers(0, 0xFFFF - 125), count=st.integers(1, 125),
       on=st.booleans(), value=st.integers(0, 0xFFFF))
@settings(max_examples=150, deadline=None)
def test_requests_match_pymodbus_framer(dev: int, addr: int, count: int, on: bool, value: int) -> None:
    f = framer()
    pairs = [
        (rtu.read_request(dev, 1, addr, count), bm.ReadCoilsRequest(address=addr, count=count, dev_id=dev)),
        (rtu.read_request(dev, 2, addr, count), bm.ReadDiscreteInputsRequest(address=addr, count=count, dev_id=dev)),
        (rtu.read_request(dev, 3, addr, count), rm.ReadHoldingRegistersRequest(address=addr, count=count, dev_id=dev)),
        (rtu.read_request(dev, 4, addr, count), rm.ReadInputRegistersRequest(address=addr, count=count, dev_id=dev)),
        (rtu.write_coil_request(dev, addr, on), bm.WriteSingleCoilRequest(address=addr, bits=[on], dev_id=dev)),
        (rtu.write_register_request(dev, addr, value),
         rm.WriteSingleRegisterRequest(address=addr, registers=[value], dev_id=dev)),
        (rtu.write_coils_request(dev, addr, [on, not on, on]),
         bm.WriteMultipleCoilsRequest(address=addr, bits=[on, not on, on], dev_id=dev)),
        (rtu.write_registers_request(dev, addr, [value, 7]),
         rm.WriteMultipleRegistersRequest(address=addr, registers=[value, 7], dev_id=dev)),
    ]
    server_side = framer(server=True)
    for ours, pdu in pairs:
        assert ours == f.buildFrame(pdu)
        used, dev_id, _tid, data = server_side.decode(ours)  # pymodbus accepts the frame (CRC, size)
        assert used == len(ours) and dev_id == dev and data == ours[1:-2]


@given(dev=st.integers(1, 247), addr=st.integers(0, 1000), regs=st.lists(st.integers(0, 0xFFFF), min_size=1,
                                                                           max_size=125),
       bits=st.lists(st.booleans(), min_size=1, max_size=200))
@settings(max_examples=100, deadline=None)
def test_pymodbus_responses_decode(dev: int, addr: int, regs: list[int], bits: list[bool]) -> None:
    f = framer(server=True)
    req = rtu.read_request(dev, 3, addr, len(regs))
    resp = f.buildFrame(rm.ReadHoldingRegistersResponse(registers=regs, dev_id=dev))
    assert rtu.decode_response(req, resp).registers == regs
    req = rtu.read_request(dev, 1, addr, len(bits))
    padded = bits + [False] * (-len(bits) % 8)
    resp = f.buildFrame(bm.ReadCoilsResponse(bits=padded, dev_id=dev))
    assert rtu.decode_response(req, resp).bits == bits
    assert rtu.bits_response(dev, 1, bits) == resp
    req = rtu.write_coil_request(dev, addr, True)
    resp = f.buildFrame(bm.WriteSingleCoilResponse(address=addr, bits=[True], dev_id=dev))
    assert rtu.decode_response(req, resp).function == 5


def test_exception_responses_map_to_catalogue() -> None:
    req = rtu.read_request(1, 3, 100, 2)
    for exc, code in ((1, "unsupportedCommand"), (2, "configError"), (4, "hardwareError"), (6, "deviceBusy"),
                      (99, "hardwareError")):
        with pytest.raises(GtsdkError) as e:
            rtu.decode_response(req, rtu.exception_response(1, 3, exc))
        assert e.value.code == code


@pytest.mark.parametrize("bad", [
    lambda: rtu.read_request(0, 3, 0, 1), lambda: rtu.read_request(248, 3, 0, 1),
    lambda: rtu.read_request(1, 3, 0, 126), lambda: rtu.read_request(1, 3, 0xFFFF, 2),
    lambda: rtu.read_request(1, 5, 0, 1), lambda: rtu.write_register_request(1, 0, -1),
    lambda: rtu.write_register_request(1, 0, 0x10000), lambda: rtu.write_coils_request(1, 0, []),
])
def test_bad_requests_are_catalogue_errors(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GtsdkError) as e:
        bad()
    assert e.value.code in ("configError", "invalidData")


@given(junk=st.binary(max_size=300), fc=st.sampled_from([1, 2, 3, 4, 5, 6]))
@settings(max_examples=300, deadline=None)
def test_random_responses_only_documented_errors(junk: bytes, fc: int) -> None:
    req = rtu.read_request(1, fc, 0, 4) if fc <= 4 else (rtu.write_coil_request(1, 0, True) if fc == 5
                                                          else rtu.write_register_request(1, 0, 5))
    try:
        rtu.decode_response(req, junk)
    except GtsdkError as e:
        assert e.code in ("communicationError", "unsupportedCommand", "configError", "invalidData",
                          "hardwareError", "deviceBusy")


@given(regs=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20), pos=st.data())
@settings(max_examples=200, deadline=None)
def test_corrupted_or_truncated_frames_are_rejected(regs: list[int], pos: st.DataObject) -> None:
    req = rtu.read_request(1, 4, 0, len(regs))
    good = rtu.registers_response(1, 4, regs)
    i = pos.draw(st.integers(0, len(good) - 1))
    bit = pos.draw(st.integers(0, 7))
    corrupted = good[:i] + bytes([good[i] ^ (1 << bit)]) + good[i + 1:]
    with pytest.raises(GtsdkError) as e:
        rtu.decode_response(req, corrupted)
    assert e.value.code == "communicationError"  # CRC-16 detects every single-bit error
    with pytest.raises(GtsdkError):
        rtu.decode_response(req, good[:i])


@given(period=st.integers(100, 10_000), duty=st.floats(0.01, 0.99), t=st.floats(0, 1e5))
@settings(max_examples=300, deadline=None)
def test_flash_schedule_properties(period: int, duty: float, t: float) -> None:
    level = lc.flash_level(t, period, duty)
    edge = lc.next_edge(t, period, duty)
    p = period / 1000
    assert 0 < edge <= p + 1e-9
    # the level holds until just before the next edge
    assert lc.flash_level(t + edge * 0.5, period, duty) == level
    # one period later the level is the same, except where float modulo lands on an edge
    # (the duty edge, or the period boundary where 1.1 % 0.1 gives 0.0999…)
    phase = (t + p) % p
    near_edge = abs(phase - duty * p) < 1e-6 or min(phase, p - phase) < 1e-6
    assert lc.flash_level(t + p, period, duty) == level or near_edge


def test_unknown_light_names_field() -> None:
    with pytest.raises(GtsdkError) as e:
        lc.resolve({"idcard": 0}, "toaster")
    assert e.value.code == "invalidData" and e.value.field == "light"
    assert lc.duty_percent(0.001) == 1 and lc.duty_percent(0.999) == 99
    with pytest.raises(ValueError):
        lc.flash_level(-1.0, 500, 0.5)
