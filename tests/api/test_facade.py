"""Typed module facades (issue #14 items 1–3): generated from the contracts and kept in step with them,
seconds in Python and milliseconds on the wire, sealed results never a silent change of shape."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from _runtime_fixtures import register_all

from gtsdk import facade
from gtsdk.client import AsyncClient, Client
from gtsdk.driver import MAX_TIMEOUT, Empty, HealthLevel, Model, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES, Capabilities, HealthResult, Statistics, Status, fingerprint, lights
from gtsdk.runtime import AsyncTerminal, Terminal, parse_config, registry
from gtsdk.wire import SealedData

REPO = Path(__file__).resolve().parents[2]
COMMON = {"status", "capabilities", "statistics", "health", "cancel"}

register_all()


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_facades", REPO / "scripts" / "generate_facades.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["generate_facades"] = mod
    spec.loader.exec_module(mod)
    return mod


# ---- the facades agree with MODULES ------------------------------------------------------------------------
def test_generated_file_is_what_the_contracts_generate() -> None:
    gen = _generator()
    committed = (REPO / "gtsdk" / "facade" / "modules.py").read_text(encoding="utf-8")
    assert gen.render() == committed, "run: python scripts/generate_facades.py"


def _public_methods(cls: type) -> set[str]:
    return {n for n, v in inspect.getmembers(cls) if not n.startswith("_") and callable(v)}


def _argument_fields(spec_op: Any) -> dict[str, str]:
    """facade argument → request field, as the contract has them (``*_ms`` fields are seconds arguments)."""
    out = {}
    for name in spec_op.request.model_fields:
        if name != "timeout":
            out[name.removesuffix("_ms")] = name
    return out


@pytest.mark.parametrize("mod_id", list(MODULES))
def test_every_facade_has_exactly_the_contract_operations(mod_id: str) -> None:
    spec = MODULES[mod_id]
    name = _generator().class_name(mod_id)
    ops = set(spec.operations)
    sealed = {f"{o}_sealed" for o, s in spec.operations.items() if s.personal_data}
    for cls, expected in (
        (getattr(facade, name), ops | COMMON),
        (getattr(facade, f"Async{name}"), ops | COMMON),
        (getattr(facade, f"{name}Client"), ops | COMMON | sealed),
        (getattr(facade, f"Async{name}Client"), ops | COMMON | sealed),
    ):
        assert _public_methods(cls) == expected, cls.__name__
        hints_of = {op: typing.get_type_hints(getattr(cls, op)) for op in ops}
        for op, ospec in spec.operations.items():
            params = inspect.signature(getattr(cls, op)).parameters
            assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "self")
            args = set(params) - {"self", "timeout", "request_id"}
            assert args == set(_argument_fields(ospec)), f"{cls.__name__}.{op}"
            assert hints_of[op]["return"] is ospec.result
            if op in {s.removesuffix("_sealed") for s in sealed} and "Client" in cls.__name__:
                assert typing.get_type_hints(getattr(cls, f"{op}_sealed"))["return"] is SealedData
        is_async = cls.__name__.startswith("Async")
        assert all(inspect.iscoroutinefunction(getattr(cls, op)) == is_async for op in ops | COMMON)


@pytest.mark.parametrize("owner, suffix", [(Terminal, ""), (AsyncTerminal, "Async"), (Client, "Client"),
                                           (AsyncClient, "AsyncClient")])
def test_every_module_is_a_typed_property_and_nothing_else_is_dynamic(owner: type, suffix: str) -> None:
    gen = _generator()
    for mod_id in MODULES:
        prop = inspect.getattr_static(owner, mod_id)
        assert isinstance(prop, property)
        expected = f"Async{gen.class_name(mod_id)}{suffix.removeprefix('Async')}" if suffix.startswith("Async") \
            else f"{gen.class_name(mod_id)}{suffix}"
        assert typing.get_type_hints(prop.fget)["return"] is getattr(facade, expected)
    assert not hasattr(owner, "__getattr__"), "a __getattr__ would let misspelt modules pass type checking"


# ---- in process: seconds, argument names, results -------------------------------------------------------
def _terminal(**settings: object) -> Terminal:
    mod = {"driver": "recording", "reconnect_interval": 0.05, **settings}
    return Terminal(parse_config({"modules": {"lights": mod, "idcard": {"driver": "cards"}}}))


class Budget(lights.LightsDriver):
    """Answers at once and keeps the time budget each operation was given."""

    name = "budget"
    budgets: list[float] = []

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def _keep(self, light: str, state: str, ctx: OpContext) -> lights.Lights:
        Budget.budgets.append(ctx.deadline - ctx.started)
        return lights.Lights(states={light: state})

    def on(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request.light, "on", ctx)

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request.light, "flash", ctx)

    def off(self, request: lights.LightRequest, ctx: OpContext) -> lights.Lights:
        return self._keep(request.light, "off", ctx)


registry.register("lights", "budget", Budget)


def test_facade_returns_the_contract_result_and_timeouts_are_seconds() -> None:
    Budget.budgets.clear()
    with Terminal(parse_config({"modules": {"lights": {"driver": "budget", "timeout": 7}}})) as t:
        out = t.lights.on(light="a", timeout=0.25)  # 0.25 s — not 0.25 ms, not 250 s
        assert isinstance(out, lights.Lights) and out.states == {"a": "on"}
        assert isinstance(t.lights.flash(light="b", period=0.25, duty=0.5, timeout=20), lights.Lights)
        t.lights.off(light="c")  # the module's configured timeout, in seconds too
        t.call("lights", "on", {"light": "d", "timeout": 100})  # a wire-shaped request: its field is ms
        assert Budget.budgets == pytest.approx([0.25, 20.0, 7.0, 0.1])
        assert isinstance(t.lights.status(), Status) and isinstance(t.lights.capabilities(), Capabilities)
        assert isinstance(t.lights.statistics(), Statistics)
        assert isinstance(t.lights.health(HealthLevel.INTERNAL, timeout=5), HealthResult)
        assert t.lights.health("internal").ok


def test_an_operation_past_its_timeout_is_time_out() -> None:
    with _terminal(delay=5) as t, pytest.raises(GtsdkError) as e:
        t.lights.on(light="slow", timeout=0.1)  # the driver would take 5 s
    assert e.value.code == ErrorCode.TIME_OUT


@pytest.mark.parametrize("timeout", [0, -1, MAX_TIMEOUT + 1, float("nan"), float("inf"), True])
def test_a_timeout_outside_seconds_range_is_invalid_data(timeout: float) -> None:
    with _terminal() as t:
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="a", timeout=timeout)
        assert (e.value.code, e.value.field) == (ErrorCode.INVALID_DATA, "timeout")
        with pytest.raises(GtsdkError) as e:
            t.call("lights", "on", {"light": "a"}, timeout=timeout)
        assert e.value.field == "timeout"


def test_aio_forms_are_the_same_operations_awaited() -> None:
    async def run(t: Terminal) -> None:
        a, b = await asyncio.gather(t.aio.lights.on(light="x"), t.lights.aio.off(light="y"))
        assert (a.states["x"], b.states["y"]) == ("on", "off")
        assert (await t.aio.lights.status()).module == "lights"
        generic = await t.aio.module("lights").call(lights.SPEC.operations["on"], {"light": "z"})
        assert isinstance(generic, lights.Lights) and generic.states["z"] == "on"

    with _terminal() as t:
        assert t.lights.aio is t.aio.lights
        asyncio.run(run(t))


def test_generic_handle_is_typed_by_the_operation_spec() -> None:
    with _terminal() as t:
        handle = t.module("lights")
        out = handle.call(lights.SPEC.operations["on"], lights.LightRequest(light="a"), timeout=5)
        assert isinstance(out, lights.Lights)
        assert isinstance(handle.call("off", {"light": "a"}), lights.Lights)
        with pytest.raises(GtsdkError) as e:
            t.module("toaster")
        assert e.value.code == ErrorCode.INVALID_COMMAND


# ---- what the generated methods put in the request -----------------------------------------------------
class Recorder:
    """A caller that records the request models a facade builds (the conversions, not the transport)."""

    def __init__(self, answer: Model) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, Any, float | None, str | None]] = []

    def call(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
             request_id: str | None = None) -> Model:
        self.calls.append((module, op, request, timeout, request_id))
        return self.answer

    def status(self, module: str) -> Status:
        raise NotImplementedError

    def capabilities(self, module: str) -> Capabilities:
        raise NotImplementedError

    def statistics(self, module: str) -> Statistics:
        raise NotImplementedError

    def health(self, module: str, level: Any = None, *, timeout: float | None = None) -> HealthResult:
        raise NotImplementedError

    def cancel(self, module: str, request_id: str) -> bool:
        return False


def test_seconds_arguments_become_the_wire_milliseconds_fields() -> None:
    rec = Recorder(lights.Lights(states={}))
    facade.LightsClient(rec).flash(light="a", period=0.25, duty=0.5, timeout=2.5, request_id="r-1")
    _, op, req, timeout, rid = rec.calls[-1]
    assert (op, timeout, rid) == ("flash", 2.5, "r-1")
    assert isinstance(req, lights.FlashRequest) and req.period_ms == 250 and req.timeout is None
    assert req.wire()["periodMs"] == 250
    rec.answer = Empty()
    facade.MicrophoneClient(rec).start_recording(max_duration=1.5, silence_stop=None, level_interval=0.02)
    req = rec.calls[-1][2]
    assert (req.max_duration_ms, req.silence_stop_ms, req.level_interval_ms) == (1500, None, 20)
    rec.answer = fingerprint.Comparison.model_construct()  # type: ignore[call-arg]  # an answer nobody reads
    facade.FingerprintClient(rec).compare(references=(b"\x01" * 4,), wait=0.3)
    req = rec.calls[-1][2]
    assert req.references == [b"\x01" * 4] and req.wait_ms == 300


def test_a_bad_argument_is_invalid_data_naming_it_as_written() -> None:
    rec = Recorder(lights.Lights(states={}))
    with pytest.raises(GtsdkError) as e:
        facade.LightsClient(rec).flash(light="a", period=0.01)  # below the contract's 100 ms
    assert (e.value.code, e.value.field) == (ErrorCode.INVALID_DATA, "period")
    with pytest.raises(GtsdkError) as e:
        facade.LightsClient(rec).on(light="Not A Name")
    assert e.value.field == "light"
    assert rec.calls == []  # nothing was sent


def test_a_sealed_answer_is_never_returned_as_the_result() -> None:
    from gtsdk.modules import idcard

    sealed = SealedData(sealed={"v": 1})
    rec = Recorder(sealed)
    reader = facade.IdCardClient(rec)
    with pytest.raises(GtsdkError) as e:
        reader.read(timeout=5)
    assert e.value.code == ErrorCode.SEALING_MISMATCH and "read_sealed()" in e.value.detail
    assert reader.read_sealed(timeout=5) is sealed
    rec.answer = idcard.IdCardData.model_construct()  # type: ignore[call-arg]  # an answer nobody reads
    with pytest.raises(GtsdkError) as e:
        reader.read_sealed()
    assert e.value.code == ErrorCode.SEALING_MISMATCH and "read()" in e.value.detail


def test_async_client_facade_awaits_the_same_request() -> None:
    class AsyncRecorder:
        def __init__(self) -> None:
            self.requests: list[Any] = []

        async def call(self, module: str, op: str, request: Any = None, *, timeout: float | None = None,
                       request_id: str | None = None) -> Model:
            self.requests.append(request)
            return lights.Lights(states={"a": "flash"})

    rec = AsyncRecorder()
    out = asyncio.run(facade.AsyncLightsClient(rec).flash(light="a", period=1))  # type: ignore[arg-type]
    assert out.states == {"a": "flash"} and rec.requests[0].period_ms == 1000
