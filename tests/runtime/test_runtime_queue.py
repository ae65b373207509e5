"""Per-device queue, timeouts, cancel, events, statistics, recovery (foundation issue)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from _runtime_fixtures import CardReader, RecordingLights, register_all, wait_for

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.runtime import Terminal, parse_config
from gtsdk.runtime.events import Event

register_all()


def terminal(**settings: object) -> Terminal:
    mod = {"driver": "recording", "reconnect_interval": 0.05, **settings}
    return Terminal(parse_config({"modules": {"lights": mod, "idcard": {"driver": "cards"}}}))


def driver(t: Terminal) -> RecordingLights:
    d = t.device("lights").driver
    assert isinstance(d, RecordingLights)
    return d


def test_commands_to_one_device_run_one_at_a_time_in_order() -> None:
    with terminal(delay=0.05) as t:
        jobs = [t.submit("lights", "on", {"light": name}) for name in ("a", "b", "c")]
        for j in jobs:
            j.future.result(timeout=5)
        assert driver(t).calls == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_status_answers_while_a_command_runs() -> None:
    with terminal(delay=0.5) as t:
        job = t.submit("lights", "on", {"light": "a"})
        assert wait_for(lambda: t.lights.status().busy)
        st = t.lights.status()
        assert st.busy and st.state == "online"
        assert not job.future.done()
        caps = t.lights.capabilities()
        assert {o.name for o in caps.operations} >= {"on", "flash", "off", "health"}
        job.future.result(timeout=5)
        assert not t.lights.status().busy


def test_timeout_then_device_still_usable() -> None:
    with terminal(delay=0.3) as t:
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="a", timeout=0.05)
        assert e.value.code == ErrorCode.TIME_OUT
        out = t.lights.on(light="b", timeout=5)
        assert out.states["b"] == "on"
        assert "a" not in out.states  # the timed-out command stopped


def test_request_timeout_field_is_milliseconds() -> None:
    with terminal(delay=0.3) as t, pytest.raises(GtsdkError) as e:
        t.call("lights", "on", {"light": "a", "timeout": 50})
    assert e.value.code == ErrorCode.TIME_OUT


def test_cancel_running_and_queued() -> None:
    with terminal(delay=0.5) as t:
        running = t.submit("lights", "on", {"light": "a"}, request_id="r1")
        queued = t.submit("lights", "on", {"light": "b"}, request_id="r2")
        assert wait_for(lambda: t.lights.status().busy)
        assert t.cancel("lights", "r2")
        assert t.cancel("lights", "r1")
        for job in (running, queued):
            with pytest.raises(GtsdkError) as e:
                job.future.result(timeout=2)
            assert e.value.code == ErrorCode.CANCELED
        assert not t.cancel("lights", "unknown")
        assert t.lights.off(light="a").states["a"] == "off"
        assert "start b" not in driver(t).calls


def test_duplicate_request_id_rejected() -> None:
    with terminal(delay=0.3) as t:
        t.submit("lights", "on", {"light": "a"}, request_id="same")
        with pytest.raises(GtsdkError) as e:
            t.submit("lights", "on", {"light": "b"}, request_id="same")
        assert e.value.code == ErrorCode.INVALID_DATA


def test_hung_driver_is_abandoned_and_device_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    import gtsdk.runtime.device as device

    monkeypatch.setattr(device, "HANG_GRACE", 0.1)
    with terminal() as t:
        d = driver(t)
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="hang", timeout=0.1)
        assert e.value.code == ErrorCode.TIME_OUT
        assert wait_for(lambda: d.connects >= 2)  # reconnected on a fresh worker
        assert t.lights.on(light="ok", timeout=2).states["ok"] == "on"
        d.hang.set()


def test_driver_exception_becomes_internal_error_without_its_text() -> None:
    with terminal() as t:
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="boom")
        assert e.value.code == ErrorCode.INTERNAL_ERROR
        assert "110101" not in str(e.value) and "110101" not in e.value.message("en")
        assert t.lights.on(light="fine").states["fine"] == "on"


def test_invalid_request_names_the_field() -> None:
    with terminal() as t:
        with pytest.raises(GtsdkError) as e:
            t.lights.flash(light="a", period=-0.005)
        assert e.value.code == ErrorCode.INVALID_DATA and e.value.field == "period"  # the argument as written
        with pytest.raises(GtsdkError) as e:
            t.call("lights", "on", {"light": "a", "colour": "red"})
        assert e.value.field == "colour"
        with pytest.raises(GtsdkError) as e:
            t.call("lights", "dim", {})
        assert e.value.code == ErrorCode.INVALID_COMMAND


def test_status_events_when_device_vanishes_and_returns() -> None:
    events: list[Event] = []
    with terminal() as t:
        t.events.subscribe(events.append, modules=["lights"])
        assert wait_for(lambda: t.lights.status().state == "online")
        d = driver(t)
        d.present = False
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="a")
        assert e.value.code == ErrorCode.NO_DEVICE
        assert t.lights.status().state == "noDevice"
        d.present = True
        assert wait_for(lambda: t.lights.status().state == "online")
        assert t.lights.on(light="a").states["a"] == "on"
    changes = [(e.data["previous"], e.data["state"]) for e in events if e.type == "statusChanged"]
    assert ("online", "noDevice") in changes and ("noDevice", "online") in changes
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_driver_events_and_resume_from_sequence() -> None:
    with terminal() as t:
        reader = t.device("idcard").driver
        assert isinstance(reader, CardReader)
        assert wait_for(lambda: t.idcard.status().state == "online")
        mark = t.events.last_seq
        reader.card_present = True
        assert wait_for(lambda: any(e.type == "cardInserted" for e in t.events.since(mark)[0]))
        reader.card_present = False
        assert wait_for(lambda: any(e.type == "cardRemoved" for e in t.events.since(mark)[0]))
        missed, complete = t.events.since(mark, modules=["idcard"])
        assert complete and [e.type for e in missed] == ["cardInserted", "cardRemoved"]
        assert t.events.since(mark, modules=["lights"])[0] == []


def test_open_close_state_machine() -> None:
    with terminal() as t:
        assert wait_for(lambda: t.idcard.status().opened)
        t.idcard.close()
        st = t.idcard.status()
        assert not st.opened and st.state == "offline"
        with pytest.raises(GtsdkError) as e:
            t.idcard.read(timeout=1)
        assert e.value.code == ErrorCode.NOT_OPEN
        t.idcard.open()
        assert t.idcard.status().opened and t.idcard.status().state == "online"


def test_read_waits_for_card_until_timeout() -> None:
    with terminal() as t:
        with pytest.raises(GtsdkError) as e:
            t.idcard.read(timeout=0.1)
        assert e.value.code == ErrorCode.TIME_OUT
        reader = t.device("idcard").driver
        assert isinstance(reader, CardReader)
        threading.Timer(0.1, lambda: setattr(reader, "card_present", True)).start()
        with pytest.raises(GtsdkError) as e:
            t.idcard.read(timeout=5)
        assert e.value.code == ErrorCode.INVALID_DATA


def test_statistics_count_operations_and_errors() -> None:
    with terminal(delay=0.2) as t:
        t.lights.on(light="a")
        t.lights.off(light="a")
        with pytest.raises(GtsdkError):
            t.lights.on(light="b", timeout=0.01)
        assert wait_for(lambda: t.lights.statistics().operations == 3)
        s = t.lights.statistics()
        assert s.by_operation == {"on": 2, "off": 1}
        assert s.failures == 1 and s.by_error == {"timeOut": 1}
        t.device("lights").reset_statistics()
        assert t.lights.statistics().operations == 0


def test_completion_listener_sees_every_operation() -> None:
    seen: list[Any] = []
    with terminal() as t:
        t.on_complete(seen.append)
        t.lights.on(light="a", request_id="rid-1")
        with pytest.raises(GtsdkError):
            t.lights.on(light="boom")
    assert [(r.operation, r.code) for r in seen] == [("on", "success"), ("on", "internalError")]
    assert seen[0].request_id == "rid-1" and seen[0].duration_ms >= 0


def test_health_levels() -> None:
    with terminal() as t:
        assert t.lights.health().ok
        with pytest.raises(GtsdkError) as e:
            t.lights.health("interactive")
        assert e.value.code == ErrorCode.UNSUPPORTED_COMMAND


def test_async_api() -> None:
    async def main() -> list[str]:
        async with terminal(delay=0.05) as t:
            a, b = await asyncio.gather(t.lights.aio.on(light="x"), t.lights.aio.flash(light="y"))
            return [a.states["x"], b.states["y"]]

    assert asyncio.run(main()) == ["on", "flash"]


def test_unconfigured_module_reports_no_device() -> None:
    with terminal() as t:
        st = t.camera.status()
        assert st.state == "noDevice" and st.reason == "not configured"
        with pytest.raises(GtsdkError) as e:
            t.camera.capture()
        assert e.value.code == ErrorCode.NO_DEVICE


def test_stop_cancels_queued_work() -> None:
    t = terminal(delay=0.3).start()
    first = t.submit("lights", "on", {"light": "a"})
    second = t.submit("lights", "on", {"light": "b"})
    time.sleep(0.05)
    t.stop()
    with pytest.raises(GtsdkError):
        second.future.result(timeout=2)
    assert first.future.done()


def test_a_fault_the_driver_reported_stays_until_the_driver_clears_it() -> None:
    # 10.2.2 h: a jammed printer answers job-status queries; their success must not report it online
    from gtsdk.driver import DeviceState

    with terminal() as t:
        assert wait_for(lambda: t.lights.status().state == "online")
        d = driver(t)
        d.set_state(DeviceState.HARDWARE_ERROR, "cover open")
        assert t.lights.on(light="a").states["a"] == "on"
        st = t.lights.status()
        assert st.state == "hardwareError" and st.reason == "cover open"
        d.set_state(DeviceState.ONLINE, "")
        assert t.lights.status().state == "online"


def test_a_fault_from_an_operation_error_clears_with_the_next_success() -> None:
    with terminal() as t:
        assert wait_for(lambda: t.lights.status().state == "online")
        d = driver(t)
        original = d._set

        def failing(light: str, value: str, ctx: Any) -> Any:
            if light == "bad":
                raise GtsdkError(ErrorCode.HARDWARE_ERROR, "relay stuck")
            return original(light, value, ctx)

        d._set = failing  # type: ignore[method-assign]
        with pytest.raises(GtsdkError):
            t.lights.on(light="bad")
        assert t.lights.status().state == "hardwareError"
        t.lights.on(light="good")
        assert t.lights.status().state == "online"
