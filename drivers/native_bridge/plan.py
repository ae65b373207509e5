"""Steps of a native mapping prepared once for calling: their arguments and how they group into one round trip.

A step's ``with:`` values that hold no ``${...}`` reference are converted to what the worker receives when the
mapping is loaded; only the templated ones are rendered per call.  Consecutive steps go to the worker in one
``run`` request (one round trip instead of one per call) unless a step needs what an earlier step of the same
request saves, or reads ``${remaining_ms}`` (which must be taken when that call is made): such a step starts a
new request.  The worker still answers, and the parent still times, every call on its own (``worker.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gtsdk.errors import GtsdkError

from ..bridge_common import values
from ..bridge_common.mapping import code_text
from . import cdecl
from .mapping import NativeMapping, NativeStep

#: calls one request may carry (the worker's board has 8 bits for the index of the call in progress)
MAX_CALLS = 255


@dataclass(frozen=True)
class CallPlan:
    step: NativeStep
    #: seconds this call may take: the step's timeout, else the mapping's worker.call_timeout
    limit: float
    #: arguments ready for the wire (bytes already wrapped), from ``with:`` values without references
    fixed: dict[str, Any]
    #: (parameter, its prototype entry, the template) for values rendered per call
    templated: tuple[tuple[str, cdecl.Param, Any], ...]
    #: status codes the worker may go on after, as text, or "any"
    ok: list[str] | Literal["any"]
    #: saved names the templates read
    needs: frozenset[str]
    #: a template reads ${remaining_ms}
    clock: bool


def compile_step(m: NativeMapping, step: NativeStep, convert: Callable[[cdecl.Param, Any, str], Any]) -> CallPlan:
    """*convert(param, value, function)* turns a rendered value into its wire form (raises GtsdkError)."""
    proto = m.prototypes[step.call]
    fixed: dict[str, Any] = {}
    templated: list[tuple[str, cdecl.Param, Any]] = []
    needs: set[str] = set()
    clock = False
    for name, v in step.with_.items():
        p = proto.param(name)
        assert p is not None  # checked when the mapping loaded
        refs = values.references(v)
        if not refs:
            try:
                fixed[name] = convert(p, v, step.call)
                continue
            except GtsdkError:
                pass  # refused when the step runs, as any value would be
        templated.append((name, p, v))
        needs.update(r.partition(".")[2] for r in refs if r.startswith("saved."))
        clock = clock or "remaining_ms" in refs
    ok: list[str] | Literal["any"] = "any" if step.ok == "any" else [code_text(c) for c in step.ok]
    return CallPlan(step, step.timeout or m.worker.call_timeout, fixed, tuple(templated), ok, frozenset(needs),
                    clock)


@dataclass(frozen=True)
class Group:
    """Calls that go to the worker in one request."""

    plans: tuple[CallPlan, ...]
    #: for each call, the shortest limit of the calls after it (inf for the last): how soon a later call could be
    #: over its limit while this one still runs
    later: tuple[float, ...]
    #: the request's list of calls as JSON, when no argument is rendered per call: encoded once, sent as it is
    calls_json: str | None

    @classmethod
    def of(cls, plans: list[CallPlan]) -> Group:
        limits = [p.limit for p in plans]
        later = tuple(min(limits[i + 1:], default=float("inf")) for i in range(len(plans)))
        fixed = None
        if not any(p.templated for p in plans):
            fixed = json.dumps([{"fn": p.step.call, "args": p.fixed, "ok": p.ok} for p in plans],
                               separators=(",", ":"))
        return cls(tuple(plans), later, fixed)


def groups(plans: list[CallPlan]) -> list[Group]:
    """For each start index, the request that starts there (see :func:`group_ends`)."""
    return [Group.of(plans[start:end]) for start, end in enumerate(group_ends(plans))]


def group_ends(plans: list[CallPlan]) -> list[int]:
    """For each start index, the end (exclusive) of the steps that can go to the worker in one request."""
    ends = []
    for start in range(len(plans)):
        saved: set[str] = set(plans[start].step.save)
        end = start + 1
        while end < len(plans) and end - start < MAX_CALLS and not plans[end].clock and not (plans[end].needs & saved):
            saved.update(plans[end].step.save)
            end += 1
        ends.append(end)
    return ends
