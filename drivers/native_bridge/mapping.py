"""The native_bridge mapping: a vendor library, its functions' C prototypes and the call sequences."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..bridge_common import values
from ..bridge_common.mapping import (
    BaseMapping,
    Code,
    FieldSpec,
    Issue,
    StepBase,
    Strict,
    check_event,
    check_fields,
    check_operations,
    check_reference,
    load_file,
    load_text,
)
from ..bridge_common.yamlpos import Path
from . import cdecl

#: references every native step may use besides param./request./saved.
BUILTINS = ("workdir", "remaining_ms")


class LibrarySpec(Strict):
    path: str = Field(description="the .so/.dll: a path relative to the mapping file, or a name the loader finds")
    convention: Literal["cdecl", "stdcall"] = "cdecl"
    encoding: str = Field("gb18030", description="text encoding of char * arguments and outputs")
    env: dict[str, str] = Field(default_factory=dict, description="environment of the worker (templates allowed)")

    @field_validator("encoding")
    @classmethod
    def _enc(cls, v: str) -> str:
        if not values.known_encoding(v):
            raise ValueError(f"unknown text encoding {v!r}")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not str(k).replace("_", "a").isalnum() or str(k)[:1].isdigit():
                raise ValueError(f"environment variable name {k!r} is not valid")
        return {str(k): str(x) for k, x in v.items()}


class WorkerSpec(Strict):
    call_timeout: float = Field(5.0, gt=0, le=600, description="seconds one vendor call may take")
    start_timeout: float = Field(10.0, gt=0, le=120, description="seconds to start the worker and load the library")


class NativeStep(StepBase):
    call: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    save: dict[str, str] = Field(default_factory=dict, description="saved name → 'return' or an out parameter")

    @field_validator("save")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not str(k).isidentifier():
                raise ValueError(f"saved name {k!r} is not an identifier")
        return v


class FileSpec(Strict):
    name: str = Field(description="file name the library writes into the worker's private directory")
    max_size: int = Field(4 * 2**20, ge=1, le=64 * 2**20)
    optional: bool = False

    @field_validator("name")
    @classmethod
    def _plain(cls, v: str) -> str:
        if not v or "/" in v or "\\" in v or v in (".", "..") or "\x00" in v:
            raise ValueError("a plain file name inside the worker's directory (no folders)")
        return v


class NativeOperation(Strict):
    steps: list[NativeStep] = Field(default_factory=list)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    result: dict[str, FieldSpec] = Field(default_factory=dict)
    unsupported: bool = False


class NativePoll(Strict):
    """Card-presence style events from polling one call while the device is idle."""

    every: float = Field(0.5, ge=0.05, le=60)
    probe: NativeStep
    present: list[Code]
    absent: list[Code]
    on_present: str
    on_absent: str | None = None


class NativeMapping(BaseMapping):
    bridge: Literal["native"]
    library: LibrarySpec
    worker: WorkerSpec = Field(default_factory=WorkerSpec)
    functions: dict[str, str]
    connect: list[NativeStep] = Field(default_factory=list)
    disconnect: list[NativeStep] = Field(default_factory=list)
    operations: dict[str, NativeOperation]
    events: NativePoll | None = None
    #: parsed prototypes (filled by the cross-check)
    prototypes: dict[str, cdecl.Prototype] = Field(default_factory=dict, exclude=True)
    #: the mapping file's folder (library paths are relative to it)
    base_dir: str = Field("", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _no_internal(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for k in ("prototypes", "base_dir"):
                if k in v:
                    raise ValueError(f"{k!r} is not a mapping key")
        return v

    def library_path(self) -> str:
        p = FsPath(self.library.path)
        if "/" in self.library.path or "\\" in self.library.path:
            return str(p if p.is_absolute() else FsPath(self.base_dir) / p)
        return self.library.path  # a bare name: the dynamic loader's search path


def _check_steps(m: NativeMapping, steps: list[NativeStep], where: Path, *, request: set[str],
                 saved: set[str]) -> set[str]:
    """Each step names a known function and passes/saves its parameters; returns the names saved."""
    params = set(m.params)
    for i, s in enumerate(steps):
        at = (*where, i)
        proto = m.prototypes.get(s.call)
        if proto is None:
            raise Issue((*at, "call"), f"no function {s.call!r} under functions; known: "
                        f"{', '.join(sorted(m.prototypes)) or 'none'}")
        inputs = {p.name: p for p in proto.inputs()}
        for name, v in s.with_.items():
            if name not in inputs:
                raise Issue((*at, "with", name), f"{s.call} has no input parameter {name!r}; inputs: "
                            f"{', '.join(inputs) or 'none'}")
            for ref in values.references(v):
                check_reference(ref, (*at, "with", name), params=params, request_fields=request, saved=saved,
                                extra=BUILTINS)
        needed = [p.name for p in proto.params if p.direction == "in" and p.array is None and p.name not in s.with_]
        if needed:
            raise Issue((*at, "with") if s.with_ else (*at, "call"), f"{s.call} needs a value for "
                        f"{', '.join(needed)} (under with)")
        outs = {"return", *proto.outputs()}
        for name, src in s.save.items():
            if src not in outs:
                raise Issue((*at, "save", name), f"{s.call} has no output {src!r}; outputs: {', '.join(sorted(outs))}")
            saved = saved | {name}
    return saved


def cross_check(m: NativeMapping) -> None:
    for name, text in m.functions.items():
        try:
            proto = cdecl.parse(text)
        except cdecl.PrototypeError as e:
            raise Issue(("functions", name), str(e)) from None
        if proto.name != name:
            raise Issue(("functions", name), f"the prototype declares {proto.name!r}, not {name!r}")
        m.prototypes[name] = proto
    for ref in values.references(dict(m.library.env)) + values.references(m.library.path):
        check_reference(ref, ("library",), params=m.params, extra=("workdir",))
    connected = _check_steps(m, m.connect, ("connect",), request=set(), saved=set())
    if m.device.serial:
        for ref in values.references(m.device.serial):
            check_reference(ref, ("device", "serial"), params=m.params, saved=connected)
    _check_steps(m, m.disconnect, ("disconnect",), request=set(), saved=set())
    check_operations(m, m.operations)
    for op, o in m.operations.items():
        if o.unsupported:
            if o.steps or o.result:
                raise Issue(("operations", op, "unsupported"), "an unsupported operation has no steps or result")
            continue
        req = set(m.spec.operations[op].request.model_fields)
        saved = _check_steps(m, o.steps, ("operations", op, "steps"), request=req, saved=set())
        sources = {f"saved.{s}" for s in saved} | {f"file.{f}" for f in o.files}
        check_fields(m, op, o.result, ("operations", op, "result"), sources)
    if m.events is not None:
        _check_steps(m, [m.events.probe], ("events", "probe"), request=set(), saved=set())
        check_event(m, m.events.on_present, ("events", "on_present"))
        if m.events.on_absent is not None:
            check_event(m, m.events.on_absent, ("events", "on_absent"))


def load(path: str | FsPath) -> NativeMapping:
    m = load_file(path, NativeMapping, cross_check)
    object.__setattr__(m, "base_dir", str(FsPath(path).resolve().parent))
    return m


def loads(text: str, source: str = "<mapping>", base_dir: str = ".") -> NativeMapping:
    m = load_text(text, source, NativeMapping, cross_check)
    object.__setattr__(m, "base_dir", base_dir)
    return m
