"""Every operation of a module, completed end to end: the steps, what the world must do for
each (a card on the reader, a finger on the sensor — done by the simulator or asked of a
person) and how one step's result feeds the next (a print job's id, a captured face).

Both tiers run the same scenario — the terminal tier over HTTPS, the driver tier in
process — and judge each operation the same way (clause 8.4): an operation the contract
makes mandatory must succeed with a result that validates and carries data;
``unsupportedCommand`` is acceptable only for an optional operation (one whose contract
method has a default) that the capabilities do not list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gtsdk.modules import MODULES

from . import samples
from .framework import NotRun

State = dict[str, Any]


@dataclass(frozen=True)
class World:
    """Something a person (or the simulator) does to the device."""

    actions: tuple[str, ...]
    question: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: done while the operation waits (a signature is written once the pad shows its prompt)
    during: bool = False
    #: simulator actions done first, then *settle* seconds (a card is taken away, so the reader sees a
    #: fresh presentation: it reads a card once per presentation)
    reset: tuple[str, ...] = ()
    settle: float = 0.0


@dataclass(frozen=True)
class Step:
    op: str
    body: Callable[[State], dict[str, Any]] | None = None
    #: seconds asked of the terminal (the wire's ``timeout`` in ms); a person gets PERSON_TIMEOUT
    timeout: float = 8.0
    world: World | None = None
    keep: Callable[[State, dict[str, Any]], None] | None = None
    #: not a test: puts the device back as it was (reopen after close)
    restore: bool = False


PERSON_TIMEOUT = 60.0
CARD = World(("insert_card", "insert"), "Place an ID card on the reader, then confirm",
             reset=("remove_card", "remove"), settle=0.7)
DOCUMENT = World(("insert_card", "insert"), "Place the passport or permit (the ICAO specimen data) on the reader, "
                 "then confirm", {"mrz": samples.SPECIMEN_MRZ}, reset=("remove_card", "remove"), settle=0.7)
FINGER = World(("place_finger", "finger_on", "place"), "Put a finger on the sensor, then confirm",
               {"person": "conformance"})
SIGN = World(("sign",), "When the pad shows its prompt, sign and press OK (within a minute); confirm to start",
             {"what": "scribble", "then": "ok"}, during=True)
QR = World(("present", "scan"), "When asked, hold a QR code under the scanner (within a minute); confirm to start",
           {"text": "GT-CONFORMANCE-1"}, during=True)


def _keep(key: str, field_: str) -> Callable[[State, dict[str, Any]], None]:
    def keep(state: State, data: dict[str, Any]) -> None:
        if field_ in data:
            state[key] = data[field_]
    return keep


def _job(state: State) -> dict[str, Any]:
    return {"jobId": state.get("job", 1)}


def _compare(state: State) -> dict[str, Any]:
    tpl = state.get("template")
    if tpl is None:
        return samples.sample("fingerprint", "compare")
    return {"probe": tpl, "references": [tpl]}


def _face(state: State) -> dict[str, Any]:
    photo = state.get("photo")
    return {"reference": photo} if photo is not None else samples.sample("camera", "face_compare")


STEPS: dict[str, list[Step]] = {
    "idcard": [Step("open"), Step("read", world=CARD, timeout=10), Step("close"),
               Step("open", restore=True)],
    "travel_doc": [Step("open"), Step("read", world=DOCUMENT, timeout=20), Step("close"),
                   Step("open", restore=True)],
    "signature_pad": [Step("open"), Step("get_signature", world=SIGN, timeout=20), Step("close"),
                      Step("open", restore=True)],
    "fingerprint": [Step("open"), Step("capture", world=FINGER, timeout=10, keep=_keep("template", "template")),
                    Step("compare", body=_compare, timeout=10), Step("close"), Step("open", restore=True)],
    "camera": [Step("init"), Step("capture", keep=_keep("photo", "image"), timeout=10),
               Step("face_compare", body=_face, timeout=20), Step("liveness", timeout=20)],
    "a4_printer": [Step("print", timeout=20, keep=_keep("job", "jobId")), Step("job_status", body=_job),
                   Step("cancel_job", body=_job)],
    "receipt_printer": [Step("init"), Step("print", timeout=10), Step("cut"), Step("close"),
                        Step("init", restore=True)],
    "qr_scanner": [Step("open"), Step("read", world=QR, timeout=10), Step("close"), Step("open", restore=True)],
    "microphone": [Step("open"), Step("start_recording"), Step("stop_recording"), Step("close"),
                   Step("open", restore=True)],
    "lights": [Step("on"), Step("flash"), Step("off")],
    "sensors": [Step("read")],
    "imaging": [Step("crop"), Step("detect_document"), Step("enhance"), Step("redact"), Step("ocr", timeout=30)],
    "voice": [Step("speak", timeout=15), Step("stop")],
    "keyboard": [Step("show"), Step("hide")],
}


def steps(module: str) -> list[Step]:
    """The scenario of *module*: every operation once (a vendor's extra operations after the contract's)."""
    spec = MODULES[module]
    out = list(STEPS.get(module, []))
    covered = {s.op for s in out}
    out += [Step(op) for op in spec.operations if op not in covered]
    return out


def mandatory(module: str) -> list[str]:
    """Operations the contract requires (clause 8.4): its abstract driver methods and the open/close
    operations the runtime provides; an operation whose driver method has a default is optional."""
    spec = MODULES[module]
    abstract: frozenset[str] = getattr(spec.driver_class, "__abstractmethods__", frozenset())
    return [op for op in spec.operations if op in abstract or op in (spec.open_op, spec.close_op)]


def optional(module: str) -> list[str]:
    keep = set(mandatory(module))
    return [op for op in MODULES[module].operations if op not in keep]


def carries_data(data: Any) -> bool:
    """A result with fields must have at least one that is not empty (an empty model is no result)."""
    if isinstance(data, dict):
        return any(carries_data(v) for v in data.values())
    if isinstance(data, list):
        return any(carries_data(v) for v in data)
    return data not in (None, "")


@dataclass
class Called:
    """One call of an operation, as a tier saw it."""

    code: str
    data: Any = None
    detail: str = ""
    seconds: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    op: str
    code: str
    seconds: float
    world: str = ""
    problem: str = ""
    needs: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "seconds": round(self.seconds, 3)}
        for k in ("world", "problem", "needs"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.evidence:
            out["evidence"] = self.evidence
        return out


#: codes that say "nothing was there" — for an operation that needed a person who was not asked
NOBODY = ("timeOut", "noMedia", "userError", "canceled")
ENDLESS = {"unsupportedCommand", "internalError"}


def run(module: str, call: Callable[[str, dict[str, Any], float], Called],
        world: Callable[[World], str], *, listed: set[str] | None,
        validate: Callable[[str, Any], str | None], interactive: bool = False,
        person: Callable[[World, Callable[[], None]], None] | None = None) -> list[Verdict]:
    """Run the scenario of *module*.

    *call(op, body, timeout)* does one operation; *world(w)* arranges *w* (raising NotRun when
    it cannot); *person(w, go)* performs a ``during`` world while *go* (the call) waits.
    *listed* are the operations the capabilities list (None: unknown)."""
    must = set(mandatory(module))
    state: State = {}
    out: list[Verdict] = []
    for step in steps(module):
        body = step.body(state) if step.body else samples.sample(module, step.op)
        timeout = PERSON_TIMEOUT if interactive and step.world is not None else step.timeout
        how, needs = "", ""
        if step.world is not None and not step.world.during:
            try:
                how = world(step.world)
            except NotRun as e:
                needs, timeout = e.needs, min(timeout, 2.0)
        box: dict[str, Called] = {}

        def go(op: str = step.op, b: dict[str, Any] = body, t: float = timeout,
               into: dict[str, Called] = box) -> None:
            into["r"] = call(op, {**b, "timeout": int(t * 1000)}, t)

        if step.world is not None and step.world.during:
            if person is None:
                needs, timeout = "a person or a simulator action (" + step.world.question + ")", min(timeout, 2.0)
                go(t=timeout)
            else:
                try:
                    person(step.world, go)
                    how = "during"
                except NotRun as e:
                    needs = e.needs
                    go(t=2.0)
        else:
            go()
        r = box.get("r") or Called("internalError", detail="no reply recorded")
        if step.restore:
            continue
        if r.code == "success" and isinstance(r.data, dict) and step.keep is not None:
            step.keep(state, r.data)
        v = Verdict(step.op, r.code, r.seconds, how, evidence=r.evidence)
        _judge(v, module, r, is_mandatory=step.op in must, listed=listed, needs=needs, validate=validate)
        out.append(v)
    return out


def _judge(v: Verdict, module: str, r: Called, *, is_mandatory: bool, listed: set[str] | None, needs: str,
           validate: Callable[[str, Any], str | None]) -> None:
    """Fill in *v*'s problem (or what it needed) from the reply *r* to its operation."""
    spec = MODULES[module]
    where = f"{spec.clause} {spec.title_zh}"
    if r.code == "success":
        problem = validate(v.op, r.data)
        if problem is None and spec.operations.get(v.op) is not None and not carries_data(r.data) and \
                _has_fields(module, v.op):
            problem = "the result carries no data (every field empty)"
        v.problem = problem or ""
    elif r.code == "unsupportedCommand" and not is_mandatory and listed is not None and v.op not in listed:
        v.problem = ""  # optional, and the capabilities say it is not supported
    elif r.code == "unsupportedCommand" and not is_mandatory:
        v.problem = (f"answered unsupportedCommand although the capabilities list {v.op} "
                     "(capabilities that lie)")
    elif r.code == "unsupportedCommand":
        v.problem = f"answered unsupportedCommand, but {v.op} is mandatory ({where})"
    elif needs and r.code in NOBODY:
        v.needs = needs  # it waited for someone who was not there: not a verdict on the operation
    elif r.code == "internalError" and r.detail.startswith("the driver raised"):
        v.problem = r.detail  # what a vendor needs: the exception's type and message
    else:
        v.problem = f"answered {r.code}" + (f" ({r.detail})" if r.detail else "")


def _has_fields(module: str, op: str) -> bool:
    result = MODULES[module].operations[op].result
    return bool(result.model_fields)


def person_during(world: Callable[[World], str], delay: float = 0.4) -> Callable[[World, Callable[[], None]], None]:
    """Performs a ``during`` world through *world* shortly after the call has started."""
    import threading

    def perform(w: World, go: Callable[[], None]) -> None:
        err: list[BaseException] = []
        th = threading.Thread(target=go, daemon=True)
        th.start()
        time.sleep(delay)
        try:
            world(w)
        except BaseException as e:  # noqa: BLE001 - re-raised below once the call has ended at its deadline
            err.append(e)
        th.join(PERSON_TIMEOUT + 10)
        if err:
            raise err[0]

    return perform
