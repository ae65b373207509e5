"""Values in a mapping: ``${...}`` templates, a small JSONPath, and the field
conversions that turn vendor output into a contract result field.

Nothing here logs or puts a value into an error message: vendor output may be
personal data (clause 9.3.2), so errors name the field and the problem only.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError

#: ``${scope.name}`` or ``${name}``
TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class Missing(Exception):
    """A source or path that is not there (fine when the field is optional)."""


def references(value: Any) -> list[str]:
    """Every ``${...}`` reference inside a (nested) template value."""
    if isinstance(value, str):
        return TEMPLATE.findall(value)
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Fill ``${...}`` references from *scope*; a string that is exactly one reference keeps the value's type."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value)
        if whole:
            return _lookup(scope, whole.group(1))
        return TEMPLATE.sub(lambda m: _text(_lookup(scope, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


def _lookup(scope: Mapping[str, Any], ref: str) -> Any:
    if ref not in scope:
        raise Missing(ref)
    return scope[ref]


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def check_json_path(path: str) -> str | None:
    """None when *path* is a JSONPath this bridge understands (``$.a.b[0]['c d']``), else the problem."""
    if not path.startswith("$"):
        return "a JSON path starts with $"
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            return f"cannot read the JSON path at character {pos + 1}"
        pos = m.end()
    return None


def json_path(value: Any, path: str) -> Any:
    """The value at *path* (``$``, ``.name``, ``[index]``, ``['name']``); :class:`Missing` when absent."""
    cur = value
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise Missing(path)
        pos = m.end()
        name, index, q1, q2 = m.groups()
        if index is not None:
            if not isinstance(cur, list) or int(index) >= len(cur):
                raise Missing(path)
            cur = cur[int(index)]
        else:
            key = name if name is not None else (q1 if q1 is not None else q2)
            if not isinstance(cur, dict) or key not in cur:
                raise Missing(path)
            cur = cur[key]
    return cur


def known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def data_error(field: str, problem: str) -> GtsdkError:
    # hardwareError: the vendor's output did not have the shape the mapping promised; never the value itself
    return GtsdkError(ErrorCode.HARDWARE_ERROR, f"vendor output for {field}: {problem}", field=field)


def convert(spec: Any, raw: Any, *, field: str, lengths: Mapping[str, Any], wants_bytes: bool,  # noqa: C901 - the steps of docs/bridges.md in order
            default_encoding: str) -> Any:
    """Apply *spec* (a FieldSpec) to *raw*; see docs/bridges.md for the order of the steps."""
    v = raw
    if spec.path is not None:
        v = json_path(v, spec.path)
    if isinstance(v, bytearray):
        v = bytes(v)
    if spec.length_from is not None:
        n = lengths.get(spec.length_from)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise data_error(field, f"length {spec.length_from} is not a non-negative integer")
        if not isinstance(v, bytes | str):
            raise data_error(field, "length_from needs bytes or text")
        v = v[:n]
    if spec.slice is not None:
        off, length = spec.slice
        if not isinstance(v, bytes | str):
            raise data_error(field, "slice needs bytes or text")
        if off + length > len(v):
            raise data_error(field, f"slice [{off}, {length}] runs past the {len(v)} available")
        v = v[off:off + length]
    if isinstance(v, bytes) and spec.base64:
        raise data_error(field, "base64 needs text")
    if isinstance(v, str) and spec.base64:
        try:
            v = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise data_error(field, "not valid base64") from None
        return v
    if isinstance(v, bytes) and (wants_bytes and spec.encoding is None and spec.line is None):
        return v
    if isinstance(v, bytes):
        enc = spec.encoding or default_encoding
        try:
            v = v.decode(enc)
        except UnicodeDecodeError:
            raise data_error(field, f"not valid {enc}") from None
    if isinstance(v, str):
        if spec.line is not None:
            lines = v.splitlines()
            if spec.line >= len(lines):
                raise data_error(field, f"line {spec.line} absent ({len(lines)} lines)")
            v = lines[spec.line]
        if spec.cstring:
            v = v.split("\x00", 1)[0]
        if spec.strip:
            v = v.strip(" \t\r\n\u3000")
    if spec.map is not None:
        key = v if isinstance(v, str) else _text(v)
        if key in spec.map:
            return spec.map[key]
        if "otherwise" in spec.model_fields_set:
            return spec.otherwise
    if spec.date is not None:
        if not isinstance(v, str):
            raise data_error(field, "a date needs text")
        try:
            return datetime.strptime(v, spec.date).date()
        except ValueError:
            raise data_error(field, f"not a date in the form {spec.date}") from None
    if spec.empty_is_null and v in ("", b""):
        return None
    return v
