"""Generate gtsdk/facade/modules.py — the typed per-module facades — from the contracts.

``python scripts/generate_facades.py`` rewrites the file; ``--check`` exits 1 when it is out of
date (tests/api/test_facade.py runs the same comparison), so a facade never disagrees with
:data:`gtsdk.modules.MODULES`.

For each module ``m`` (class name ``M``) it writes:

- ``MOperations``: one method per operation, keyword-only arguments typed as the request
  model's fields, the result model as return type; ``timeout``/``request_id`` on every call;
- ``M`` (in process, ``terminal.m``): the operations plus ``aio`` → ``AsyncM``;
- ``AsyncM`` (``terminal.aio.m``, ``terminal.m.aio``);
- ``MClient`` / ``AsyncMClient`` (``Client.m`` / ``AsyncClient.m``): the operations plus
  ``<op>_sealed`` → :class:`~gtsdk.wire.SealedData` for each personal-data operation;

and the four mixins ``TerminalModules``, ``AsyncTerminalModules``, ``ClientModules``,
``AsyncClientModules`` with one property per module.

Time is seconds in Python: a request field ``<name>_ms`` becomes the argument ``<name>``
in seconds (float), converted to the wire's milliseconds in the call.
"""

from __future__ import annotations

import argparse
import datetime
import enum
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gtsdk.driver import ModuleSpec, OperationSpec
from gtsdk.modules import MODULES

LINE = 120
TARGET = Path(__file__).resolve().parents[1] / "gtsdk" / "facade" / "modules.py"
#: names a facade argument may not take (the call's own arguments)
RESERVED = {"self", "timeout", "request_id"}
#: the request fields the runtime consumes itself (seconds `timeout` replaces the wire's ms field)
SKIPPED = {"timeout"}


def class_name(module: str) -> str:
    special = {"idcard": "IdCard", "a4_printer": "A4Printer", "qr_scanner": "QrScanner"}
    return special.get(module) or "".join(p.capitalize() for p in module.split("_"))


class Imports:
    """The module aliases a rendered type needs (``gtsdk.modules.camera`` → ``_camera``)."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.datetime: set[str] = set()
        self.shared = False
        self.abc: set[str] = set()
        self.typing: set[str] = set()

    def qualify(self, cls: type) -> str:
        mod = cls.__module__
        if mod.startswith("gtsdk.modules.") and mod.count(".") == 2 and not mod.endswith("._base"):
            self.modules.add(mod.rsplit(".", 1)[1])
            return f"_{mod.rsplit('.', 1)[1]}.{cls.__qualname__}"
        if mod == "gtsdk.modules._base":  # the shapes every module shares, exported by gtsdk.modules
            self.shared = True
            return f"_shared.{cls.__qualname__}"
        raise TypeError(f"no import known for {mod}.{cls.__qualname__}")


def render_type(tp: Any, imp: Imports) -> str:
    """The argument type for a request field's annotation (lists become Sequence, enums also take their
    values as literals)."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Annotated:
        return render_type(typing.get_args(tp)[0], imp)
    if origin in (typing.Union, types.UnionType):
        parts = [render_type(a, imp) for a in typing.get_args(tp)]
        parts.sort(key=lambda p: p == "None")
        return " | ".join(parts)
    if origin is typing.Literal:
        imp.typing.add("Literal")
        return "Literal[" + ", ".join(_quote(a) for a in typing.get_args(tp)) + "]"
    if origin is list:
        (item,) = typing.get_args(tp)
        imp.abc.add("Sequence")
        return f"Sequence[{render_type(item, imp)}]"
    if origin is dict:
        key, value = typing.get_args(tp)
        imp.abc.add("Mapping")
        return f"Mapping[{render_type(key, imp)}, {render_type(value, imp)}]"
    if tp in (bool, int, float, str, bytes):
        return str(tp.__name__)
    if tp in (datetime.date, datetime.datetime):
        imp.datetime.add(tp.__name__)
        return str(tp.__name__)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = ", ".join(_quote(m.value) for m in tp)
        imp.typing.add("Literal")
        return f"{imp.qualify(tp)} | Literal[{values}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return imp.qualify(tp)
    if tp is Any:
        imp.typing.add("Any")
        return "Any"
    raise TypeError(f"no rendering for the annotation {tp!r}")


def _quote(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(value, str) else repr(value)


def render_default(value: Any, imp: Imports) -> str:
    if isinstance(value, enum.Enum):
        return f"{imp.qualify(type(value))}.{value.name}"
    if value is None or isinstance(value, bool | int | float | str):
        return _quote(value)
    raise TypeError(f"no rendering for the default {value!r}")


@dataclass
class Argument:
    """One keyword argument of a facade method and how it becomes a request field."""

    name: str
    field: str
    type: str
    default: str | None  # None: required
    value: str  # the expression put into the request
    doc: str


def arguments(spec: ModuleSpec, op: OperationSpec, imp: Imports) -> list[Argument]:
    out: list[Argument] = []
    for name, info in op.request.model_fields.items():
        if name in SKIPPED:
            continue
        out.append(_argument(name, info, imp))
        if out[-1].name in RESERVED:
            raise TypeError(f"{spec.id}.{op.name}: request field {name} clashes with a facade argument")
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise TypeError(f"{spec.id}.{op.name}: two arguments named alike: {names}")
    out.sort(key=lambda a: a.default is not None)  # required first, then in model order
    return out


def _argument(name: str, info: FieldInfo, imp: Imports) -> Argument:
    doc = info.description or ""
    tp = render_type(info.annotation, imp)
    optional = tp.endswith("| None")
    if name.endswith("_ms"):  # seconds in Python, milliseconds on the wire
        arg = name[: -len("_ms")]
        if info.default is PydanticUndefined or info.default_factory is not None:
            raise TypeError(f"{name}: a milliseconds field needs a plain default")
        if optional:
            return Argument(arg, name, "float | None", render_default(info.default, imp),
                            f"None if {arg} is None else _ms({arg})", _seconds_doc(doc))
        return Argument(arg, name, "float", repr(info.default / 1000), f"_ms({arg})", _seconds_doc(doc))
    value = f"list({name})" if tp.startswith("Sequence[") else name
    if optional and tp.startswith("Sequence["):
        value = f"None if {name} is None else list({name})"
    if info.default_factory is not None:
        if info.default_factory is not list:
            raise TypeError(f"{name}: no rendering for default_factory {info.default_factory!r}")
        return Argument(name, name, tp, "()", value, doc)
    if info.default is PydanticUndefined:
        return Argument(name, name, tp, None, value, doc)
    return Argument(name, name, tp, render_default(info.default, imp), value, doc)


def _seconds_doc(doc: str) -> str:
    return (doc + "; " if doc else "") + "seconds"


def _signature(args: list[Argument]) -> list[str]:
    lines = ["        self,", "        *,"]
    for a in args:
        default = "" if a.default is None else f" = {a.default}"
        lines += _wrapped(f"        {a.name}: ", a.type, f"{default},")
    lines.append("        timeout: float | None = None,")
    lines.append("        request_id: str | None = None,")
    return lines


def _union_parts(tp: str) -> list[str]:
    """The top-level parts of a rendered union type."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(tp):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if depth == 0 and tp.startswith(" | ", i):
            parts.append(tp[start:i])
            start = i + 3
    parts.append(tp[start:])
    return parts


def _wrapped(head: str, tp: str, tail: str) -> list[str]:
    """``head + tp + tail`` on one line, or the type broken over lines within the line length."""
    if len(head) + len(tp) + len(tail) <= LINE:
        return [head + tp + tail]
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    if tp.startswith("Sequence[") and len(_union_parts(tp)) == 1:
        inner = _union_parts(tp[len("Sequence["):-1])
        return [head + "Sequence[", indent + inner[0], *[f"{indent}| {p}" for p in inner[1:]], indent[:-4] + "]" + tail]
    parts = _union_parts(tp)
    return [head + "(", indent + parts[0], *[f"{indent}| {p}" for p in parts[1:]], indent[:-4] + ")" + tail]


def _docstring(spec: ModuleSpec, op: OperationSpec, args: list[Argument], sealed: bool) -> list[str]:
    head = f"{op.summary} ({spec.clause} {op.name})." if op.summary else f"{spec.clause} {op.name}."
    if sealed:
        head = f"{op.summary} ({spec.clause} {op.name}), sealed for the app's recipient key (9.3.2)."
    lines = [f'        """{head}', ""]
    for a in args:
        if a.doc:
            lines.append(f"        - ``{a.name}``: {a.doc}")
    default = f"{op.default_timeout:g}"
    lines.append(f"        - ``timeout``: seconds (default: the module's configured timeout, else {default})")
    lines.append('        """')
    return lines


def _method(spec: ModuleSpec, op: OperationSpec, imp: Imports, *, asynchronous: bool, sealed: bool) -> list[str]:
    args = arguments(spec, op, imp)
    result = "SealedData" if sealed else render_type(op.result, imp)
    name = f"{op.name}_sealed" if sealed else op.name
    lines = [f"    {'async ' if asynchronous else ''}def {name}(", *_signature(args), f"    ) -> {result}:"]
    lines += _docstring(spec, op, args, sealed)
    renamed = {a.field: a.name for a in args if a.field != a.name}
    request = render_type(op.request, imp)
    if args:
        lines.append(f"        request = _build({request}, {{")
        lines += [f'            "{a.field}": {a.value},' for a in args]
        if renamed:
            lines.append("        }, {")
            lines += [f'            "{field}": "{arg}",' for field, arg in renamed.items()]
            lines.append("        })")
        else:
            lines.append("        })")
    else:
        lines.append(f"        request = _build({request}, {{}})")
    await_ = "await " if asynchronous else ""
    lines.append(f'        out = {await_}self._caller.call("{spec.id}", "{op.name}", request, timeout=timeout, '
                 "request_id=request_id)")
    if sealed:
        lines.append(f'        return _expect_sealed(out, "{spec.id}", "{op.name}")')
    else:
        lines.append(f'        return _expect(out, {result}, "{spec.id}", "{op.name}")')
    return lines


def _module_classes(spec: ModuleSpec, imp: Imports) -> list[str]:
    name = class_name(spec.id)
    title = f"{spec.clause} {spec.title_zh} — {spec.title_en}"
    personal = [op for op in spec.operations.values() if op.personal_data]
    out: list[str] = []
    for asynchronous in (False, True):
        base = "AsyncModuleFacade" if asynchronous else "ModuleFacade"
        caller = "AsyncCaller" if asynchronous else "Caller"
        ops_cls = f"Async{name}" if asynchronous else f"{name}Operations"
        kind = "asynchronous" if asynchronous else "synchronous"
        out += ["", "", f"class {ops_cls}({base}):", f'    """{title}: the operations ({kind})."""', "",
                "    __slots__ = ()", "", f"    def __init__(self, caller: {caller}) -> None:",
                f'        super().__init__(caller, "{spec.id}")']
        for op in spec.operations.values():
            out += ["", *_method(spec, op, imp, asynchronous=asynchronous, sealed=False)]
        if not asynchronous:
            out += ["", "", f"class {name}({name}Operations):",
                    f'    """{title} in process:', "", "    the operations, and ``aio`` for their async form.",
                    '    """', "",
                    '    __slots__ = ("aio",)', "",
                    f"    def __init__(self, caller: Caller, aio: Async{name}) -> None:",
                    "        super().__init__(caller)", f"        self.aio: Async{name} = aio"]
        client = f"Async{name}Client" if asynchronous else f"{name}Client"
        out += ["", "", f"class {client}({ops_cls}):", f'    """{title} over HTTPS:', "",
                "    the operations" + (", and ``<op>_sealed`` for the personal-data ones." if personal else ".")
                + '\n    """', "", "    __slots__ = ()"]
        for op in personal:
            out += ["", *_method(spec, op, imp, asynchronous=asynchronous, sealed=True)]
    return out


def _mixin(cls: str, doc: str, init: list[str], classes: Iterable[tuple[ModuleSpec, str]]) -> list[str]:
    out = ["", "", f"class {cls}:", f'    """{doc}"""', "", *init]
    for spec, typ in classes:
        out += ["", "    @property", f"    def {spec.id}(self) -> {typ}:",
                f'        """{spec.clause} {spec.title_zh} — {spec.title_en}."""', f"        return self._{spec.id}"]
    return out


def render() -> str:
    imp = Imports()
    body: list[str] = []
    for spec in MODULES.values():
        body += _module_classes(spec, imp)
    specs = list(MODULES.values())
    n = class_name
    body += _mixin("TerminalModules", "One typed facade per module of an in-process terminal.",
                   ["    def _init_modules(self, caller: Caller, aio: AsyncTerminalModules) -> None:",
                    *[f"        self._{s.id} = {n(s.id)}(caller, aio.{s.id})" for s in specs]],
                   [(s, n(s.id)) for s in specs])
    body += _mixin("AsyncTerminalModules", "One typed asynchronous facade per module of an in-process terminal.",
                   ["    def _init_modules(self, caller: AsyncCaller) -> None:",
                    *[f"        self._{s.id} = Async{n(s.id)}(caller)" for s in specs]],
                   [(s, f"Async{n(s.id)}") for s in specs])
    body += _mixin("ClientModules", "One typed facade per module of the HTTPS client.",
                   ["    def _init_modules(self, caller: Caller) -> None:",
                    *[f"        self._{s.id} = {n(s.id)}Client(caller)" for s in specs]],
                   [(s, f"{n(s.id)}Client") for s in specs])
    body += _mixin("AsyncClientModules", "One typed facade per module of the asynchronous HTTPS client.",
                   ["    def _init_modules(self, caller: AsyncCaller) -> None:",
                    *[f"        self._{s.id} = Async{n(s.id)}Client(caller)" for s in specs]],
                   [(s, f"Async{n(s.id)}Client") for s in specs])
    exported = sorted([f"{n(s.id)}{suffix}" for s in specs for suffix in ("", "Operations", "Client")]
                      + [f"Async{n(s.id)}{suffix}" for s in specs for suffix in ("", "Client")]
                      + ["AsyncClientModules", "AsyncTerminalModules", "ClientModules", "TerminalModules"])
    head = [
        '"""Typed facades of the module contracts — generated by ``python scripts/generate_facades.py`` from',
        "gtsdk.modules.MODULES; do not edit (tests/api/test_facade.py fails when this file and the contracts",
        'disagree)."""',
        "",
        "from __future__ import annotations",
        "",
    ]
    if imp.abc:
        head.append(f"from collections.abc import {', '.join(sorted(imp.abc))}")
    if imp.datetime:
        head.append(f"from datetime import {', '.join(sorted(imp.datetime))}")
    if imp.typing:
        head.append(f"from typing import {', '.join(sorted(imp.typing))}")
    head.append("")
    if imp.shared:
        head.append("import gtsdk.modules as _shared")
    head += [
        "from gtsdk.facade._base import AsyncCaller, AsyncModuleFacade, Caller, ModuleFacade",
        "from gtsdk.facade._base import build as _build",
        "from gtsdk.facade._base import expect as _expect",
        "from gtsdk.facade._base import expect_sealed as _expect_sealed",
        "from gtsdk.facade._base import ms as _ms",
    ]
    head += [f"from gtsdk.modules import {m} as _{m}" for m in sorted(imp.modules | set(MODULES))]
    head += ["from gtsdk.wire import SealedData", "", "__all__ = ["]
    head += [f'    "{e}",' for e in exported]
    head += ["]"]
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET} is out of date: run python scripts/generate_facades.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
