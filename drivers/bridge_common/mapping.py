"""The parts of a bridge mapping file that both bridges share, and the loader.

A mapping file (YAML, see docs/bridges.md) says how one vendor interface is
driven for one module contract of clause 8.4: parameters, the steps of each
operation, how vendor status codes map onto catalogue codes, and how vendor
output maps onto the contract's result fields.  Every problem is reported as a
:class:`MappingError` naming the file, the line, the column and the key path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path as FsPath
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError, info
from gtsdk.modules import MODULES, ModuleSpec

from . import values
from .yamlpos import Located, Path, YamlProblem, dotted, parse

FORMAT = 1
Scalar = str | int | float | bool | None
#: vendor status codes are compared as text: 1 and "1" are the same code, "0000" is not "0"
Code = int | str


def code_text(c: Any) -> str:
    return str(c)


class MappingError(ConfigError):
    """A mapping problem at ``file:line:column``, naming the key path (``operations.read.steps[1].call``)."""

    def __init__(self, source: str, line: int, column: int, path: Path, problem: str) -> None:
        self.source, self.line, self.column, self.path, self.problem = source, line, column, path, problem
        self.key = dotted(path)
        GtsdkError.__init__(self, ErrorCode.CONFIG_ERROR, f"{source}:{line}:{column}: {self.key}: {problem}",
                            field=self.key)


class Issue(Exception):
    """A cross-check problem at a key path (turned into a MappingError with its position)."""

    def __init__(self, path: Iterable[str | int], problem: str) -> None:
        super().__init__(problem)
        self.path: Path = tuple(path)
        self.problem = problem


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _catalogue_code(v: str) -> str:
    if v == ErrorCode.SUCCESS.value or info(v).code != v:
        known = ", ".join(c.value for c in ErrorCode if c is not ErrorCode.SUCCESS)
        raise ValueError(f"{v!r} is not a catalogue error code (docs/errors.md): {known}")
    return v


class CodeAction(Strict):
    """What a vendor status code means: a catalogue code and a short developer note (no personal data)."""

    code: str
    detail: str = Field("", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"code": v} if isinstance(v, str) else v

    @field_validator("code")
    @classmethod
    def _known(cls, v: str) -> str:
        return _catalogue_code(v)


class ParamSpec(Strict):
    """A value the terminal configuration may set per kiosk (``[modules.<id>.params]``)."""

    default: Scalar = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return v if isinstance(v, dict) else {"default": v}


class DeviceSpec(Strict):
    vendor: str = Field("", max_length=100)
    model: str = Field("", max_length=100)
    firmware: str = Field("", max_length=100)
    serial: str = Field("", max_length=100, description="fixed serial, or ${saved.x} from the connect steps")


class FieldSpec(Strict):
    """Where one contract result field comes from and how it is converted (docs/bridges.md, "Fields")."""

    from_: str | None = Field(None, alias="from", description="saved.<name> | file.<name> | response")
    value: Any = None
    path: str | None = None
    length_from: str | None = None
    slice: tuple[int, int] | None = None
    line: int | None = Field(None, ge=0, le=10_000)
    encoding: str | None = None
    cstring: bool = True
    strip: bool = True
    base64: bool = False
    map: dict[str, Any] | None = None
    otherwise: Any = None
    date: str | None = None
    empty_is_null: bool = False
    optional: bool = False

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"from": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _sane(self) -> FieldSpec:
        has_value = "value" in self.model_fields_set
        if (self.from_ is None) == (not has_value):
            raise ValueError("give exactly one of 'from' (a source) or 'value' (a constant)")
        if self.slice is not None and (self.slice[0] < 0 or self.slice[1] < 0 or sum(self.slice) > 16 * 2**20):
            raise ValueError("slice is [offset, length] in bytes, both >= 0")
        if self.encoding is not None and not values.known_encoding(self.encoding):
            raise ValueError(f"unknown text encoding {self.encoding!r}")
        if self.path is not None and (problem := values.check_json_path(self.path)):
            raise ValueError(problem)
        if self.date is not None and "%" not in self.date:
            raise ValueError("date is a strptime format such as %Y%m%d")
        if self.map is not None:
            object.__setattr__(self, "map", {code_text(k): v for k, v in self.map.items()})
        return self


def _success() -> list[Code]:
    return [0]


class StepBase(Strict):
    """What every step has: which codes are success, which mean "not yet" (wait), which map to what."""

    ok: list[Code] | Literal["any"] = Field(default_factory=lambda: _success())
    wait_while: list[Code] = Field(default_factory=list, description="codes that mean: not yet (no card) — repeat")
    every: float = Field(0.1, ge=0.01, le=10.0, description="seconds between repeats while waiting")
    errors: dict[Code, CodeAction] = Field(default_factory=dict)
    timeout: float | None = Field(None, gt=0, le=600, description="seconds this one call may take")

    def is_ok(self, code: str) -> bool:
        return self.ok == "any" or code in {code_text(c) for c in self.ok}

    def waits_on(self, code: str) -> bool:
        return code in {code_text(c) for c in self.wait_while}


class BaseMapping(Strict):
    format: Literal[1] = Field(alias="mapping")
    bridge: str
    module: str
    device: DeviceSpec = Field(default_factory=DeviceSpec)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    codes: dict[Code, CodeAction] = Field(default_factory=dict, description="status code → catalogue code")
    default_error: str = Field(ErrorCode.HARDWARE_ERROR.value, description="for a status code nothing maps")

    @field_validator("default_error")
    @classmethod
    def _known(cls, v: str) -> str:
        return _catalogue_code(v)

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        if v not in MODULES:
            raise ValueError(f"unknown module {v!r}; clause 8.4 modules: {', '.join(MODULES)}")
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for k in v:
            if not str(k).isidentifier():
                raise ValueError(f"parameter name {k!r} is not an identifier")
        return v

    @property
    def spec(self) -> ModuleSpec:
        return MODULES[self.module]

    def error_for(self, step: StepBase, code: str) -> CodeAction:
        for table in (step.errors, self.codes):
            for k, act in table.items():
                if code_text(k) == code:
                    return act
        return CodeAction(code=self.default_error)


M = TypeVar("M", bound=BaseMapping)


def _problem(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "extra_forbidden":
        msg = "unknown key (a typo?)"
    elif err.get("type") == "missing":
        msg = "missing"
    return msg


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """The part of a pydantic error location that exists in the document (drops model/union tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict):
            key = next((k for k in cur if str(k) == str(part)), None)
            if key is None and part == "from_":
                key = "from" if "from" in cur else None
            if key is None:
                if isinstance(part, str) and not part.startswith(("function-", "literal[")) and part not in (
                        "str", "int", "float", "bool", "list[union[int,str]]", "list[union[str,int]]"):
                    out.append(part)
                    break
                continue
            out.append(str(key))
            cur = cur[key]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        else:
            continue
    return tuple(out)


def _error(source: str, doc: Located, path: Path, problem: str) -> MappingError:
    known, (line, col) = doc.where(path)
    return MappingError(source, line, col, path if path else known, problem)


def load_text(text: str, source: str, model: type[M], cross_check: Callable[[M], None]) -> M:
    """Parse, validate and cross-check one mapping document."""
    try:
        doc = parse(text)
    except YamlProblem as e:
        raise MappingError(source, e.line, e.column, e.path, e.problem) from None
    if not isinstance(doc.data, dict):
        raise MappingError(source, 1, 1, (), "a mapping file is a YAML mapping (key: value lines)")
    if doc.data.get("mapping") != FORMAT:
        raise _error(source, doc, ("mapping",), f"must be {FORMAT} (the mapping format version)")
    try:
        m = model.model_validate(doc.data)
    except ValidationError as e:
        err = e.errors()[0]
        path = _data_path(doc.data, tuple(err.get("loc", ())))
        raise _error(source, doc, path, _problem(err)) from None
    try:
        cross_check(m)
    except Issue as i:
        raise _error(source, doc, i.path, i.problem) from None
    return m


def load_file(path: str | FsPath, model: type[M], cross_check: Callable[[M], None]) -> M:
    p = FsPath(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(str(p), f"cannot read the mapping file: {e.strerror or type(e).__name__}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise MappingError(str(p), line, 1, (), "not UTF-8 text") from None
    return load_text(text, str(p), model, cross_check)


# ---- cross-checks shared by both bridges -------------------------------------------------------------------------
def check_reference(ref: str, where: Path, *, params: Iterable[str], request_fields: Iterable[str] = (),
                    saved: Iterable[str] = (), extra: Iterable[str] = ()) -> None:
    scope, _, name = ref.partition(".")
    if not name:
        if ref not in set(extra):
            raise Issue(where, f"unknown reference ${{{ref}}}; known: {', '.join(sorted(set(extra))) or 'none'}")
        return
    table = {"param": set(params), "request": set(request_fields), "saved": set(saved)}.get(scope)
    if table is None:
        raise Issue(where, f"unknown reference scope in ${{{ref}}}: use param., request. or saved.")
    if name not in table:
        raise Issue(where, f"${{{ref}}}: no {scope} named {name!r} here; known: {', '.join(sorted(table)) or 'none'}")


def check_fields(m: BaseMapping, op: str, result: dict[str, FieldSpec], where: Path, sources: set[str]) -> None:
    """Result fields exist on the contract's result model and every required one is mapped."""
    model = m.spec.operations[op].result
    fields = model.model_fields
    for name, f in result.items():
        if name not in fields:
            raise Issue((*where, name), f"{model.__name__} has no field {name!r}; fields: {', '.join(fields)}")
        if f.from_ is not None:
            base = ".".join(f.from_.split(".")[:2])
            if f.from_ not in sources and base not in sources:
                raise Issue((*where, name, "from"), f"unknown source {f.from_!r}; known here: "
                            f"{', '.join(sorted(sources)) or 'none'}")
        if f.length_from is not None and f.length_from not in sources:
            raise Issue((*where, name, "length_from"), f"unknown source {f.length_from!r}")
    missing = [n for n, fi in fields.items() if fi.is_required() and n not in result]
    if missing:
        raise Issue((*where,) if result else where[:-1], f"{model.__name__} needs {', '.join(missing)} "
                    f"(clause {m.spec.clause}); map each under result")


def check_operations(m: BaseMapping, ops: dict[str, Any]) -> None:
    spec = m.spec
    for op in ops:
        if op not in spec.operations:
            raise Issue(("operations", op), f"{spec.id} ({spec.clause}) has no operation {op!r}; "
                        f"operations: {', '.join(spec.operations)}")
    missing = [op for op in mandatory(spec) if op not in ops]
    if missing:
        raise Issue(("operations",), f"missing {', '.join(missing)} (clause {spec.clause} makes "
                    f"{'it' if len(missing) == 1 else 'them'} mandatory)")
    for op, o in ops.items():
        if getattr(o, "unsupported", False) and op in mandatory(spec):
            raise Issue(("operations", op, "unsupported"), f"{op} is mandatory in clause {spec.clause}; only an "
                        f"optional operation ({', '.join(optional(spec)) or 'none here'}) may be unsupported")


def mandatory(spec: ModuleSpec) -> list[str]:
    """Operations a bridge must map: the contract's abstract driver methods (open/close may have no steps)."""
    abstract: frozenset[str] = getattr(spec.driver_class, "__abstractmethods__", frozenset())
    return [op for op in spec.operations if op in abstract]


def optional(spec: ModuleSpec) -> list[str]:
    """Operations whose contract method has a default: offered only when the mapping maps them."""
    return [op for op in spec.operations if op not in mandatory(spec) and op not in (spec.open_op, spec.close_op)
            and getattr(spec.driver_class, op, None) is not None]


def check_event(m: BaseMapping, name: str, where: Path) -> None:
    if name not in m.spec.events:
        raise Issue(where, f"{m.module} has no event {name!r}; events: {', '.join(m.spec.events) or 'none'}")


def finite(v: float) -> bool:
    return math.isfinite(v)
