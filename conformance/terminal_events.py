"""Terminal tier, the event stream: every event once, in order, resumed after a reconnect
(clauses 8.1, 10.2.2 d)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gtsdk.failures import carrying_on
from gtsdk.modules import MODULES

from . import samples, scenarios
from .events import EventStream
from .framework import Fail, NotRun, clock, require
from .model import Tier
from .terminal_base import HARDWARE, TerminalContext, check, wait_state

#: how many events the check makes happen before and while it is disconnected
LIVE, MISSED = 3, 2


def _keyboard(ctx: TerminalContext) -> Callable[[int], str]:
    def fire(i: int) -> str:
        op, event = ("show", "keyboardShown") if i % 2 == 0 else ("hide", "keyboardHidden")
        r = ctx.op("keyboard", op, samples.sample("keyboard", op), 5.0)
        require(r.code == "success", f"keyboard.{op} gave {r.code}", reply=r.evidence())
        return event
    return fire


def _plug(ctx: TerminalContext, m: str) -> Callable[[int], str]:
    def fire(i: int) -> str:
        if i < 0:  # put the device back if the last step unplugged it
            if ctx.sim_action(m, samples.REPLUG):
                ctx.world(m, scenarios.World(samples.REPLUG, ""))
            return ""
        if i % 2 == 0:
            ctx.world(m, scenarios.World(samples.UNPLUG, f"Unplug the {m} device, then confirm"))
            op, body = samples.touch(m)
            ctx.op(m, op, body, 2.0)
            wait_state(ctx, m, lambda s: s != "online", 5.0)
        else:
            ctx.world(m, scenarios.World(samples.REPLUG, f"Plug the {m} device back in, then confirm"))
            wait_state(ctx, m, lambda s: s == "online", 20.0)
        return "statusChanged"
    return fire


def _trigger(ctx: TerminalContext) -> tuple[str, Callable[[int], str], bool]:
    """A module and a way to make it emit one event (exact: the event's name is known)."""
    if "keyboard" in ctx.modules and "keyboard" not in ctx.stalled:
        return "keyboard", _keyboard(ctx), True
    for m in ctx.modules:
        if m in HARDWARE and m not in ctx.stalled and ctx.sim_action(m, samples.UNPLUG) and \
                ctx.sim_action(m, samples.REPLUG):
            return m, _plug(ctx, m), False
    raise NotRun("nothing here makes events happen on demand",
                 "the soft keyboard module, or a maintenance token for a simulated terminal "
                 "(unplug/replug), or --interactive")


def _collect(stream: EventStream, want: int, within: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events, other messages) until *want* events came or *within* seconds passed."""
    events: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    end = time.monotonic() + clock().cap(within)
    while len(events) < want and time.monotonic() < end:
        msg = stream.recv(end - time.monotonic())
        if msg is None:
            break
        (events if msg.get("type") == "event" else other).append(msg)
    return events, other


def _judge(events: list[dict[str, Any]], expected: list[str], exact: bool, after: int, what: str) -> None:
    require(all(isinstance(e.get("seq"), int) for e in events), f"{what}: events without an integer seq",
            events=events)
    seqs = [int(e["seq"]) for e in events]
    dup = sorted({s for s in seqs if seqs.count(s) > 1})
    require(not dup, f"{what}: duplicated events (seq {dup})", events=events)
    require(seqs == sorted(seqs), f"{what}: events out of order (seq {seqs})", events=events)
    require(all(s > after for s in seqs), f"{what}: events from before the resume point {after} (seq {seqs})",
            events=events)
    if exact:
        names = [e.get("event") for e in events]
        require(len(events) >= len(expected), f"{what}: {len(expected)} events happened, {len(events)} arrived "
                f"(events lost)", events=events, expected=expected)
        require(names[:len(expected)] == expected, f"{what}: events out of order or wrong: {names} for "
                f"{expected}", events=events)
        require(len(events) == len(expected), f"{what}: {len(events)} events for {len(expected)} (duplicated)",
                events=events)
    else:
        require(len(events) >= max(1, len(expected) // 2), f"{what}: {len(expected)} state changes, "
                f"{len(events)} events arrived (events lost)", events=events)


@check("events.stream", "Events arrive once each, in order, with increasing sequence numbers, and those missed "
       "while disconnected are replayed after a reconnect", Tier.SILVER,
       refs={"10.2.2 d": "实时采集终端状态", "8.1": "调用的服务通过HTTPS URL中特定属性进行标识"}, budget=60)
def events_stream(ctx: TerminalContext) -> dict[str, Any]:
    m, fire, exact = _trigger(ctx)
    try:
        return _stream(ctx, m, fire, exact)
    finally:
        if not exact:
            with carrying_on(m, "putting the world back after the events check"):
                fire(-1)


def _stream(ctx: TerminalContext, m: str, fire: Callable[[int], str], exact: bool) -> dict[str, Any]:
    kinds = set(MODULES[m].events) | {"statusChanged"}
    stream, hello = ctx.events([m])
    try:
        require(isinstance(hello, dict) and hello.get("type") == "hello", "no hello message on /v1/events",
                first=hello)
        assert hello is not None
        start = hello.get("lastSeq")
        require(isinstance(start, int), "hello without lastSeq", hello=hello)
        expected = [fire(i) for i in range(LIVE)]
        live, other = _collect(stream, len(expected) * (1 if exact else 4), 5.0 if exact else 8.0)
        _judge(live, expected, exact, int(start or 0), "live")
        require(all(e.get("module") == m for e in live), "events of modules not subscribed to", events=live)
        unknown = [e.get("event") for e in live if e.get("event") not in kinds]
        require(not unknown, f"events the contract does not declare: {unknown}")
        last = int(max(int(e["seq"]) for e in live))
    finally:
        stream.close()
    missed = [fire(LIVE + i) for i in range(MISSED)]
    resumed, hello2 = ctx.events([m], since=last)
    try:
        require(isinstance(hello2, dict) and hello2.get("type") in ("hello", "gap"), "no hello after reconnecting",
                first=hello2)
        replay, other2 = _collect(resumed, len(missed) * (1 if exact else 4), 5.0 if exact else 8.0)
        gaps = [o for o in other2 if o.get("type") == "gap"] + ([hello2] if hello2 and hello2.get("type") == "gap"
                                                                 else [])
        require(bool(replay), f"events missed while disconnected were not replayed (resume from seq {last})",
                other=other2)
        require(not gaps, f"the service reports a gap in its history after only {MISSED} events", gaps=gaps)
        if exact:
            extra, _ = _collect(resumed, 1, 1.0)  # nothing more may come: no duplicates of what was replayed
            replay += extra
        _judge(replay, missed, exact, last, "replay")
        again = fire(LIVE + MISSED)
        more, _ = _collect(resumed, 1, 5.0)
        require(bool(more), "no live event after the replay")
        require(int(more[0]["seq"]) > max(int(e["seq"]) for e in replay), "the live event after the replay is "
                "numbered before it", events=more)
        if exact:
            require(more[0].get("event") == again, f"live event {more[0].get('event')} for {again}")
    finally:
        resumed.close()
    if not exact and not live:
        raise Fail("no events")
    return {"module": m, "live": [e["seq"] for e in live], "replayed": [e["seq"] for e in replay],
            "after_replay": more[0]["seq"], "exact": exact, "other_messages": other[:3]}
