"""native_bridge sends an operation's calls to the worker in one request (docs/bridges.md, "The worker"),
and every behaviour of a call made alone is kept: each call timed on its own, no call made after the
operation's deadline or a cancel, a crash or hang named by the call it happened in, steps that need an
earlier step's output (or ${remaining_ms}) sent when that output is there."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _bridge_fixtures import BUFFERS_MAPPING, NATIVE_MAPPING, native_sim  # noqa: F401

from gtsdk.driver import OpContext
from gtsdk.drivers.native_bridge import mapping as native_mapping
from gtsdk.drivers.native_bridge.engine import NativeBridgeSettings, NativeEngine
from gtsdk.drivers.native_bridge.plan import compile_step, group_ends, groups
from gtsdk.errors import GtsdkError
from gtsdk.modules.idcard import ReadRequest


@pytest.fixture
def engine(native_sim: Any) -> Iterator[NativeEngine]:  # noqa: F811
    e = NativeEngine("idcard", NativeBridgeSettings(mapping=str(NATIVE_MAPPING), params=native_sim.settings["params"]),
                     lambda ev, data: None)
    e.connect()
    yield e
    e.close()


def short_limits(tmp_path: Path) -> Path:
    """The example mapping with a 1 s limit per vendor call."""
    p = tmp_path / "acme_1s.yaml"
    p.write_text(NATIVE_MAPPING.read_text(encoding="utf-8").replace("call_timeout: 3", "call_timeout: 1"),
                 encoding="utf-8")
    return p


class Requests:
    """The request frames the engine writes to its worker."""

    def __init__(self, e: NativeEngine) -> None:
        assert e.worker is not None
        self.sent: list[dict[str, Any]] = []
        w, write = e.worker, e.worker._write_frame

        def counting(data: bytes, timeout: float) -> None:
            self.sent.append(json.loads(data))
            write(data, timeout)

        w._write_frame = counting  # type: ignore[method-assign]


def read(e: NativeEngine, timeout: float = 5.0) -> Any:
    return e.run("read", ReadRequest(), OpContext("t", timeout))


def test_a_read_crosses_to_the_worker_once(engine: NativeEngine, native_sim: Any) -> None:  # noqa: F811
    sent = Requests(engine).sent
    card = read(engine)
    assert card.id_number == native_sim.cards["resident"].fields["id_number"]
    assert [(m["op"], [c["fn"] for c in m["calls"]]) for m in sent] == [("run", ["Authenticate", "Read_Content"])]


def test_buffers_mapping_reads_in_one_request(native_sim: Any) -> None:  # noqa: F811
    e = NativeEngine("idcard", NativeBridgeSettings(mapping=str(BUFFERS_MAPPING), params=native_sim.settings["params"]),
                     lambda ev, data: None)
    e.connect()
    try:
        sent = Requests(e).sent
        assert read(e).name == native_sim.cards["resident"].fields["name"]
        assert [[c["fn"] for c in m["calls"]] for m in sent] == [
            ["Authenticate", "ReadBaseMsg", "Read_Content_Path", "GetPeopleName"]]
    finally:
        e.close()


def test_no_card_repeats_the_waiting_call_not_the_request_before_it(engine: NativeEngine,
                                                                    native_sim: Any) -> None:  # noqa: F811
    native_sim.control("remove", {})
    threading.Timer(0.35, native_sim.insert, ("resident",)).start()
    sent = Requests(engine).sent
    assert read(engine).name
    assert len(sent) >= 3  # Authenticate answered 0 (wait) and stopped the request each time
    assert all(len(m["calls"]) == 2 for m in sent)  # each time from Authenticate, with Read_Content after it


def test_steps_that_need_an_earlier_output_start_a_new_request() -> None:
    text = NATIVE_MAPPING.read_text(encoding="utf-8").replace(
        "      - call: Read_Content\n        with: {active: 2}",
        "      - call: GetSAMID\n        ok: any\n        save: {sam2: return}\n"
        "      - call: InitComm\n        with: {port: \"${saved.sam2}\"}\n        ok: any\n"
        "      - call: InitComm\n        with: {port: \"${remaining_ms}\"}\n        ok: any\n"
        "      - call: InitComm\n        with: {port: \"${param.port}\"}\n        ok: any\n"
        "      - call: Read_Content\n        with: {active: 2}")
    m = native_mapping.loads(text, "acme.yaml")
    steps = m.operations["read"].steps
    plans = [compile_step(m, s, lambda p, v, fn: v) for s in steps]
    # Authenticate, GetSAMID | InitComm(saved.sam2) | InitComm(remaining_ms), InitComm(param), Read_Content
    assert group_ends(plans) == [2, 2, 3, 6, 6, 6]
    # a request whose arguments are all fixed is encoded once; one with a template is encoded when sent
    assert groups(plans)[4].calls_json is None and json.loads(groups(plans)[5].calls_json or "") == [
        {"fn": "Read_Content", "args": {"active": 2}, "ok": ["1"]}]
    assert plans[4].fixed == {} and plans[4].templated  # a parameter is filled when the call is made
    assert plans[5].fixed == {"active": 2}


def test_the_deadline_during_a_call_stops_the_request_there(engine: NativeEngine,
                                                           native_sim: Any) -> None:  # noqa: F811
    pid = engine.worker.pid if engine.worker else None
    native_sim.control("delay", {"seconds": 0.3})
    native_sim.control("hang", {"function": "Read_Content"})  # would be the next call
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as ei:
        read(engine, timeout=0.15)
    assert ei.value.code == "timeOut" and time.monotonic() - t0 < 1.0
    assert (native_sim.state / "fault").exists()  # Read_Content was never called
    assert engine.worker is not None and engine.worker.pid == pid  # let finish, not killed
    native_sim.control("clear", {})
    assert read(engine).name


def test_cancel_during_a_call_stops_the_request_there(engine: NativeEngine, native_sim: Any) -> None:  # noqa: F811
    pid = engine.worker.pid if engine.worker else None
    native_sim.control("delay", {"seconds": 0.25})
    native_sim.control("hang", {"function": "Read_Content"})
    ctx = OpContext("t", 10.0)
    threading.Timer(0.05, ctx.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(GtsdkError) as ei:
        engine.run("read", ReadRequest(), ctx)
    assert ei.value.code == "canceled" and time.monotonic() - t0 < 1.0
    assert (native_sim.state / "fault").exists()  # the worker saw the abort before Read_Content
    assert engine.worker is not None and engine.worker.pid == pid
    native_sim.control("clear", {})
    assert read(engine).name


def test_each_call_of_a_request_has_its_own_limit(native_sim: Any, tmp_path: Path) -> None:  # noqa: F811
    e = NativeEngine("idcard", NativeBridgeSettings(mapping=str(short_limits(tmp_path)),
                                                    params=native_sim.settings["params"]), lambda ev, data: None)
    e.connect()
    try:
        native_sim.control("delay", {"seconds": 0.6})  # Authenticate takes 0.6 s of its own 1 s
        native_sim.control("hang", {"function": "Read_Content"})
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            read(e, timeout=10)
        took = time.monotonic() - t0
        assert ei.value.code == "hardwareError" and "from Read_Content within 1 s" in ei.value.detail
        assert took > 1.55  # Read_Content's second counted from its own start, not the request's
        native_sim.control("clear", {})
        assert read(e).name
    finally:
        e.close()


def test_a_crash_in_a_later_call_is_named_by_it(engine: NativeEngine, native_sim: Any) -> None:  # noqa: F811
    native_sim.control("crash", {"function": "Read_Content"})
    with pytest.raises(GtsdkError) as ei:
        read(engine)
    assert ei.value.code == "hardwareError" and "crashed in Read_Content (SIGSEGV)" in ei.value.detail
    assert read(engine).name


def test_a_later_call_with_a_shorter_limit_is_not_timed_by_the_one_before(native_sim: Any,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    p = tmp_path / "acme_short_read.yaml"  # Authenticate may take 3 s, Read_Content 0.5 s
    p.write_text(NATIVE_MAPPING.read_text(encoding="utf-8").replace(
        "      - call: Read_Content\n", "      - call: Read_Content\n        timeout: 0.5\n"), encoding="utf-8")
    e = NativeEngine("idcard", NativeBridgeSettings(mapping=str(p), params=native_sim.settings["params"]),
                     lambda ev, data: None)
    e.connect()
    try:
        native_sim.control("delay", {"seconds": 0.3})  # the parent waits while Authenticate (3 s allowed) runs ...
        native_sim.control("hang", {"function": "Read_Content"})  # ... and Read_Content then hangs
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            read(e, timeout=10)
        assert ei.value.code == "hardwareError" and "from Read_Content within 0.5 s" in ei.value.detail
        assert time.monotonic() - t0 < 2.0  # at 0.3 + 0.5 s, not at Authenticate's 3 s
        native_sim.control("clear", {})
        assert read(e).name
    finally:
        e.close()
