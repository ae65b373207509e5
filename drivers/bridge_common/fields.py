"""Result fields converted by functions prepared when the mapping is loaded, not re-read from it on every read.

:func:`values.convert` is the definition of a field conversion (docs/bridges.md, "Fields"); :func:`compile_field`
makes the same conversion with every decision that depends only on the mapping taken once — which steps apply,
the JSON path split into keys, the date format turned into a pattern — and shares the decoded text and its lines
between the fields read from the same source (an ID card's text file feeds eleven fields).  The two agree on every
input, errors included (tests/bridges/test_bridge_fields.py checks it with generated specs and values).
"""

from __future__ import annotations

import base64
import binascii
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError

from . import values
from .mapping import FieldSpec

#: what a prepared conversion is called with: the raw source value, every source (for length_from), and a
#: scratch dict shared by the fields of one result (decoded text and lines by source and encoding)
Converter = Callable[[Any, Mapping[str, Any], dict[Any, Any]], Any]

# the patterns CPython's _strptime uses for these directives, so a match here is a match there
_DATE_DIRECTIVES = {"Y": r"(?P<Y>\d\d\d\d)", "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
                    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])"}


def date_parser(fmt: str) -> Callable[[str], date]:
    """``datetime.strptime(text, fmt).date()`` — done with one precompiled pattern when *fmt* is made of %Y, %m
    and %d (each once) and plain characters, the forms ID documents use; ``ValueError`` as strptime raises it."""
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            d = fmt[i + 1:i + 2]
            if d not in _DATE_DIRECTIVES or d in seen:
                return _strptime_date(fmt)
            seen.add(d)
            parts.append(_DATE_DIRECTIVES[d])
            i += 2
            continue
        if ch.isspace():  # strptime reads a blank as "any run of blanks": leave that to it
            return _strptime_date(fmt)
        parts.append(re.escape(ch))
        i += 1
    if seen != {"Y", "m", "d"}:
        return _strptime_date(fmt)
    pattern = re.compile("".join(parts), re.IGNORECASE)

    def parse(text: str) -> date:
        m = pattern.match(text)  # first match, then the rest must be empty: what strptime does (not fullmatch)
        if m is None or m.end() != len(text):
            raise ValueError(f"time data does not match format {fmt!r}")
        return date(int(m["Y"]), int(m["m"]), int(m["d"]))

    return parse


def _strptime_date(fmt: str) -> Callable[[str], date]:
    def parse(text: str) -> date:
        return datetime.strptime(text, fmt).date()

    return parse


def _path_keys(path: str) -> list[str | int]:
    keys: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = values._PATH_TOKEN.match(path, pos)
        assert m is not None  # checked when the mapping loaded
        pos = m.end()
        name, index, q1, q2 = m.groups()
        keys.append(int(index) if index is not None else (name if name is not None else (q1 if q1 is not None
                                                                                          else q2)))
    return keys


def _walk(v: Any, keys: list[str | int], path: str) -> Any:
    for k in keys:
        if isinstance(k, int):
            if not isinstance(v, list) or k >= len(v):
                raise values.Missing(path)
        elif not isinstance(v, dict) or k not in v:
            raise values.Missing(path)
        v = v[k]
    return v


def compile_field(spec: FieldSpec, *, field: str, wants_bytes: bool, default_encoding: str) -> Converter:
    """The conversion :func:`values.convert` makes with *spec*, prepared once (see the module docstring)."""
    c = _CompiledField(spec, field=field, wants_bytes=wants_bytes, default_encoding=default_encoding)
    return c.line_of if c.shared and c.line is not None and not c.b64 else c.convert


class _CompiledField:
    """One field's conversion, its steps in the order of :func:`values.convert`, each decided once."""

    def __init__(self, spec: FieldSpec, *, field: str, wants_bytes: bool, default_encoding: str) -> None:
        self.field = field
        self.keys = _path_keys(spec.path) if spec.path is not None else None
        self.path = spec.path or "$"
        self.length_from = spec.length_from
        self.cut = spec.slice
        self.enc = spec.encoding or default_encoding
        # bytes stay bytes for a bytes field unless the mapping asks for text
        self.keep_bytes = wants_bytes and spec.encoding is None and spec.line is None
        self.line, self.cstring, self.strip, self.b64 = spec.line, spec.cstring, spec.strip, spec.base64
        self.table = spec.map
        self.has_otherwise = "otherwise" in spec.model_fields_set
        self.otherwise = spec.otherwise
        self.parse_date = date_parser(spec.date) if spec.date is not None else None
        self.date_fmt = spec.date
        self.empty_is_null = spec.empty_is_null
        # the decoded text (and its lines) of a source depends only on the source and the encoding when nothing
        # before the decoding changes the bytes
        self.shared = self.keys is None and self.length_from is None and self.cut is None and spec.from_ is not None
        self.text_key = (spec.from_, self.enc)
        self.lines_key = (spec.from_, self.enc, "lines")

    def convert(self, raw: Any, lengths: Mapping[str, Any], memo: dict[Any, Any]) -> Any:
        v = self._narrow(raw, lengths)
        if self.b64:
            if isinstance(v, bytes):
                raise values.data_error(self.field, "base64 needs text")
            if isinstance(v, str):
                try:
                    return base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError):
                    raise values.data_error(self.field, "not valid base64") from None
        if isinstance(v, bytes):
            if self.keep_bytes:
                return v
            v = self._decode(v, memo)
            if self.line is not None and self.shared:
                lines = memo.get(self.lines_key)
                if lines is None:
                    lines = memo[self.lines_key] = v.splitlines()
                return self._after_line(self._pick(lines))
        if isinstance(v, str):
            if self.line is not None:
                v = self._pick(v.splitlines())
            return self._after_line(v)
        return self._finish(v)

    def line_of(self, raw: Any, lengths: Mapping[str, Any], memo: dict[Any, Any]) -> Any:
        """The same as convert for a line of a text source (an ID card's wz.txt), in fewer steps."""
        lines = memo.get(self.lines_key) if isinstance(raw, bytes) else None
        if lines is None:
            return self.convert(raw, lengths, memo)
        return self._after_line(self._pick(lines))

    def _narrow(self, raw: Any, lengths: Mapping[str, Any]) -> Any:
        """The JSON path, length_from and slice steps."""
        v = raw if self.keys is None else _walk(raw, self.keys, self.path)
        if isinstance(v, bytearray):
            v = bytes(v)
        if self.length_from is not None:
            n = lengths.get(self.length_from)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise values.data_error(self.field, f"length {self.length_from} is not a non-negative integer")
            if not isinstance(v, bytes | str):
                raise values.data_error(self.field, "length_from needs bytes or text")
            v = v[:n]
        if self.cut is not None:
            off, length = self.cut
            if not isinstance(v, bytes | str):
                raise values.data_error(self.field, "slice needs bytes or text")
            if off + length > len(v):
                raise values.data_error(self.field, f"slice [{off}, {length}] runs past the {len(v)} available")
            v = v[off:off + length]
        return v

    def _decode(self, v: bytes, memo: dict[Any, Any]) -> str:
        text: str | None = memo.get(self.text_key) if self.shared else None
        if text is None:
            try:
                text = v.decode(self.enc)
            except UnicodeDecodeError:
                raise values.data_error(self.field, f"not valid {self.enc}") from None
            if self.shared:
                memo[self.text_key] = text
        return text

    def _pick(self, lines: list[str]) -> str:
        assert self.line is not None
        if self.line >= len(lines):
            raise values.data_error(self.field, f"line {self.line} absent ({len(lines)} lines)")
        return lines[self.line]

    def _after_line(self, v: str) -> Any:
        if self.cstring:
            v = v.split("\x00", 1)[0]
        if self.strip:
            v = v.strip(" \t\r\n\u3000")
        return self._finish(v)

    def _finish(self, v: Any) -> Any:
        if self.table is not None:
            key = v if isinstance(v, str) else values._text(v)
            if key in self.table:
                return self.table[key]
            if self.has_otherwise:
                return self.otherwise
        if self.parse_date is not None:
            if not isinstance(v, str):
                raise values.data_error(self.field, "a date needs text")
            try:
                return self.parse_date(v)
            except ValueError:
                raise values.data_error(self.field, f"not a date in the form {self.date_fmt}") from None
        if self.empty_is_null and v in ("", b""):
            return None
        return v


_BYTES: dict[tuple[type, str], bool] = {}


def field_wants_bytes(model: type[Model], name: str) -> bool:
    """The contract field takes bytes (a photo): bytes from the vendor go in as they are."""
    key = (model, name)
    if key not in _BYTES:
        _BYTES[key] = _wants_bytes(model.model_fields[name].annotation)
    return _BYTES[key]


def _wants_bytes(annotation: Any) -> bool:
    if annotation is bytes:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(a is bytes for a in typing.get_args(annotation))
    return False


def source_value(sources: Mapping[str, Any], ref: str) -> Any:
    """The value *ref* names among the sources (``saved.card.name`` descends into the JSON saved as card)."""
    if ref in sources:
        return sources[ref]
    head, _, rest = ref.partition(".")
    if head == "saved" and "." in rest:  # saved.card.name → the JSON value saved as card, then .name
        name, _, sub = rest.partition(".")
        if f"saved.{name}" in sources:
            return values.json_path(sources[f"saved.{name}"], "$." + sub)
    raise values.Missing(ref)


class ResultBuilder:
    """One operation's result model filled from the vendor's outputs, by fields prepared once."""

    def __init__(self, model: type[Model], result: Mapping[str, FieldSpec], default_encoding: str) -> None:
        self.model = model
        self.fields: list[tuple[str, FieldSpec, Converter | None]] = [
            (name, f, None if f.from_ is None else compile_field(f, field=name, default_encoding=default_encoding,
                                                                   wants_bytes=field_wants_bytes(model, name)))
            for name, f in result.items()]

    def build(self, sources: Mapping[str, Any]) -> Model:
        data: dict[str, Any] = {}
        memo: dict[Any, Any] = {}
        for name, f, conv in self.fields:
            if conv is None:
                data[name] = f.value
                continue
            assert f.from_ is not None
            try:
                v = conv(source_value(sources, f.from_), sources, memo)
            except values.Missing:
                if f.optional:
                    continue
                raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"vendor output for {name}: {f.from_} is missing",
                                 field=name) from None
            if v is None and f.optional:
                continue
            data[name] = v
        try:
            return self.model.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ()))
            # the message of a pydantic error names the rule, never the input (which may be personal data)
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"vendor output does not fit {self.model.__name__}: {loc}: "
                             f"{err.get('msg', 'invalid')}", field=loc or None) from None
