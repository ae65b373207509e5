"""Scanner dialect codecs: golden vectors from docs/protocols.md §5.2 and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.drivers.serial_scanner import codec as c
from gtsdk.drivers.serial_scanner.codec import Dialect, ScanParser
from gtsdk.errors import GtsdkError


# ---- golden vectors ------------------------------------------------------------------
def test_honeywell_golden() -> None:
    assert bytes.fromhex("16 54 0D") == c.HONEYWELL_TRIGGER  # SYN T CR
    assert bytes.fromhex("16 55 0D") == c.HONEYWELL_UNTRIGGER  # SYN U CR
    assert c.honeywell_menu("232BAD9", permanent=True) == b"\x16M\x0d232BAD9."  # N3680 guide example
    assert c.honeywell_menu("TRGMOD0") == b"\x16M\rTRGMOD0!"
    assert c.parse_honeywell_menu(b"\x16M\x0d232BAD9.") == (b"232BAD9", True)
    r = c.parse_honeywell_reply(b"232BAD9\x06.")
    assert (r.command, r.status) == (b"232BAD9", "ack")
    assert c.parse_honeywell_reply(b"XYZABC\x05!").status == "enq"


def test_newland_golden() -> None:
    frame = c.newland_command("SCNMOD0")
    assert frame[:6] == bytes.fromhex("7E 01 30 30 30 30") and frame[-2:] == bytes.fromhex("3B 03")
    assert frame == bytes.fromhex("7E 01 30 30 30 30") + b"#SCNMOD0" + bytes.fromhex("3B 03")
    assert c.newland_command("SCNMOD0", permanent=True)[6:7] == b"@"
    reply = c.newland_reply(b"SCNMOD0")
    assert reply[:6] == bytes.fromhex("02 01 30 30 30 30") and reply[-3:] == bytes.fromhex("06 3B 03")
    r = c.parse_newland_reply(reply)
    assert (r.command, r.status) == (b"SCNMOD0", "ack")


def test_gm65_golden() -> None:
    assert bytes.fromhex("7E 00 08 01 00 02 01 AB CD") == c.GM65_TRIGGER
    assert bytes.fromhex("7E 00 08 01 00 02 00 AB CD") == c.GM65_STOP
    assert c.gm65_frame(c.GM65_WRITE, 0x002A, b"\x39\x01") == bytes.fromhex("7E 00 08 02 00 2A 39 01 A7 EA")
    assert c.gm65_frame(c.GM65_SAVE, 0x0000, b"\x00") == bytes.fromhex("7E 00 09 01 00 00 00 DE C8")
    assert c.gm65_reply() == bytes.fromhex("02 00 00 01 00 33 31")
    r = c.parse_gm65_reply(bytes.fromhex("02 00 00 01 00 33 31"))
    assert (r.status, r.data) == ("ack", b"\x00")
    assert c.parse_gm65_frame(bytes.fromhex("7E 00 08 02 00 2A 39 01 A7 EA")) == (8, 0x2A, b"\x39\x01")
    assert c.parse_gm65_frame(c.GM65_TRIGGER) == (8, 2, b"\x01")  # AB CD accepted as "no check"
    with pytest.raises(GtsdkError):
        c.parse_gm65_frame(bytes.fromhex("7E 00 08 02 00 2A 39 01 A7 EB"))


@pytest.mark.parametrize("bad", [lambda: c.honeywell_menu("ab"), lambda: c.honeywell_menu("TRGMOD0!"),
                                 lambda: c.honeywell_menu("政务服务AB"), lambda: c.newland_command("SC;NMOD"),
                                 lambda: c.gm65_frame(0x42, 0, b"\x00"), lambda: c.gm65_frame(8, 0, b"")])
def test_bad_commands(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GtsdkError) as e:
        bad()
    assert e.value.code == "invalidData"


# ---- payloads ---------------------------------------------------------------------------
def test_utf8_and_gb18030_payloads() -> None:
    text = "政务服务一网通办"
    assert c.decode_text(text.encode("utf-8")) == (text, "utf-8")
    assert c.decode_text(text.encode("gb18030")) == (text, "gb18030")
    assert c.decode_text(text.encode("gb18030"), "gb18030") == (text, "gb18030")
    with pytest.raises(GtsdkError):
        c.decode_text(text.encode("gb18030"), "utf-8")
    with pytest.raises(GtsdkError):
        c.decode_text(b"\xff\xff\xff")
    assert c.strip_aim(b"]Q1hello") == (b"hello", "qr")
    with pytest.raises(GtsdkError):
        c.check_payload(b"ab\x00cd")
    c.check_payload(b"\x1d01\x1e\x04")  # GS1 / ISO 15434 separators are real data


@given(text=st.text(min_size=1, max_size=200).filter(lambda s: all(ord(ch) >= 0x20 and ord(ch) != 0x7F
                                                                   and not 0xD800 <= ord(ch) <= 0xDFFF
                                                                   for ch in s)),
       enc=st.sampled_from(["utf-8", "gb18030"]))
@settings(max_examples=300, deadline=None)
def test_text_round_trip(text: str, enc: str) -> None:
    raw = text.encode(enc)
    got, used = c.decode_text(raw, "auto")
    # auto prefers UTF-8; a GB18030 byte string that is also valid UTF-8 is only possible for ASCII
    assert got == text or (enc == "gb18030" and used == "utf-8")
    assert c.decode_text(raw, enc)[0] == text


# ---- the stream parser ------------------------------------------------------------------
codes = st.lists(st.binary(min_size=1, max_size=60).map(lambda b: bytes(x if x >= 0x20 and x != 0x7F else 0x41
                                                                          for x in b)), min_size=1, max_size=8)


@given(payloads=codes, suffix=st.sampled_from(["cr", "lf", "crlf"]), cuts=st.lists(st.integers(1, 40), max_size=30),
       dialect=st.sampled_from(list(Dialect)))
@settings(max_examples=150, deadline=None)
def test_codes_survive_any_chunking(payloads: list[bytes], suffix: str, cuts: list[int], dialect: Dialect) -> None:
    term = c.SUFFIX_BYTES[suffix]
    stream = b"".join(p + term for p in payloads)
    for mode in (suffix, "auto"):
        p = ScanParser(dialect, mode)  # type: ignore[arg-type]
        got: list[bytes] = []
        pos = 0
        for n in [*cuts, len(stream)]:
            for item in p.feed(stream[pos:pos + n], now=0.0):
                assert item.kind != "garbage" or item.data[:1] == b"\x02"
                if item.kind == "code":
                    got.append(item.data)
            pos += n
        expected = [x for x in payloads if x[:1] != b"\x02"]
        if all(x[:1] != b"\x02" for x in payloads):
            assert got == expected


def test_suffix_none_uses_the_idle_gap() -> None:
    p = ScanParser(Dialect.HONEYWELL, "none", gap=0.05)
    assert p.feed(b"ABC", now=1.0) == [] and p.feed(b"DEF", now=1.01) == []
    assert p.flush(now=1.03) == []
    items = p.flush(now=1.2)
    assert [(i.kind, i.data) for i in items] == [("code", b"ABCDEF")]


def test_replies_are_separated_from_codes() -> None:
    p = ScanParser(Dialect.GM65, "auto")
    items = p.feed(c.gm65_reply() + b"CODE-1\r" + c.gm65_reply(b"\x81") + b"CODE-2\n", now=0)
    assert [i.kind for i in items] == ["reply", "code", "reply", "code"]
    p = ScanParser(Dialect.NEWLAND, "cr")
    items = p.feed(c.newland_reply(b"SCNTRG1") + b"X1\r", now=0)
    assert [i.kind for i in items] == ["reply", "code"]
    p = ScanParser(Dialect.HONEYWELL, "cr", expect_reply=True)
    items = p.feed(b"TRGMOD0\x06!" + b"X2\r", now=0)
    assert [(i.kind, i.data) for i in items] == [("reply", b"TRGMOD0\x06!"), ("code", b"X2")]


@given(junk=st.binary(max_size=600), dialect=st.sampled_from(list(Dialect)),
       suffix=st.sampled_from(["auto", "cr", "lf", "crlf", "none"]), expect=st.booleans())
@settings(max_examples=400, deadline=None)
def test_garbage_never_raises_and_is_bounded(junk: bytes, dialect: Dialect, suffix: str, expect: bool) -> None:
    p = ScanParser(dialect, suffix, max_len=128, expect_reply=expect)  # type: ignore[arg-type]
    items = p.feed(junk, now=0.0) + p.flush(now=10.0)
    for it in items:
        assert it.kind in ("code", "reply", "garbage")
        if it.kind == "code":
            c.check_payload(it.data, 128)  # only clean payloads are reported as codes
    assert len(p.buf) <= 128


def test_overlong_code_is_garbage_and_parser_resyncs() -> None:
    p = ScanParser(Dialect.HONEYWELL, "cr", max_len=64)
    items = p.feed(b"A" * 100, now=0)
    assert [i.kind for i in items] == ["garbage"]
    assert [i.data for i in p.feed(b"\rOK\r", now=0) if i.kind == "code"] == [b"OK"]


def test_deduper_window() -> None:
    d = c.Deduper(1.0)
    assert not d.duplicate(b"x", 0.0)
    assert d.duplicate(b"x", 0.5)
    assert d.duplicate(b"x", 1.4)  # seen again at 0.5: the window restarts while the code is held
    assert not d.duplicate(b"x", 3.0)
    assert not d.duplicate(b"y", 3.0)
    assert not c.Deduper(0).duplicate(b"x", 0) and not c.Deduper(0).duplicate(b"x", 0)


def test_honeywell_code_before_reply_is_kept() -> None:
    p = ScanParser(Dialect.HONEYWELL, "auto", expect_reply=True)
    items = p.feed(b"CODE-9\r\n" + b"TRGMOD0\x06!", now=0)
    assert [(i.kind, i.data) for i in items] == [("code", b"CODE-9"), ("reply", b"TRGMOD0\x06!")]


@given(dialect=st.sampled_from(list(Dialect)), data=st.data())
@settings(max_examples=200, deadline=None)
def test_interleaved_replies_and_codes_any_chunking(dialect: Dialect, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    parts: list[tuple[str, bytes]] = []
    for _ in range(n):
        if data.draw(st.booleans()):
            code = data.draw(st.binary(min_size=1, max_size=40).map(
                lambda b: bytes(0x30 + x % 0x40 for x in b)))  # printable, never 0x02
            parts.append(("code", code))
        else:
            cmd = data.draw(st.sampled_from([b"TRGMOD0", b"SCNMOD2", b"232BAD9"]))
            reply = {Dialect.HONEYWELL: c.honeywell_reply(cmd), Dialect.NEWLAND: c.newland_reply(cmd),
                     Dialect.GM65: c.gm65_reply(cmd[:1])}[dialect]
            parts.append(("reply", reply))
    if dialect is Dialect.HONEYWELL:  # a Honeywell reply is recognised only while one is due
        parts = [p for p in parts if p[0] == "code"] or [("code", b"X")]
    stream = b"".join(d + b"\r\n" if k == "code" else d for k, d in parts)
    cuts = data.draw(st.lists(st.integers(1, 17), max_size=20))
    p = ScanParser(dialect, "auto")
    got: list[tuple[str, bytes]] = []
    pos = 0
    for k in [*cuts, len(stream)]:
        got += [(i.kind, i.data) for i in p.feed(stream[pos:pos + k], now=0.0)]
        pos += k
    assert got == parts
