"""C prototypes as a mapping file writes them, and what the worker needs to call them with ctypes.

A prototype is the line from the vendor's header with the direction of each
pointer said out loud::

    int InitComm(int port)
    int __stdcall Read_Content_Path(const char *path, int active)
    int GetPeopleName(out char name[128], inout int *len)
    char *GetSAMID(void)

- plain scalars are inputs; ``char *`` / ``const char *`` is input text (encoded
  with the library's text encoding, NUL-terminated); ``WCHAR *`` is UTF-16LE
  text (Windows' 2-byte wide characters; Linux's 4-byte ``wchar_t`` is not
  supported on purpose);
- ``out T name[N]`` is a caller-allocated buffer of N elements handed back as
  bytes; ``in unsigned char data[N]`` passes bytes (at most N);
- ``out T *name`` / ``inout T *name`` is a pointer to one scalar;
- a ``char *`` return value is read up to its NUL (at most 64 KiB);
- ``__stdcall`` / ``WINAPI`` only matters for 32-bit Windows DLLs (ctypes.WinDLL);
  everywhere else there is one calling convention and it is accepted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: C spelling → (kind sent to the worker, size in bytes of one element)
SCALARS: dict[str, tuple[str, int]] = {
    "char": ("int8", 1), "signed char": ("int8", 1), "int8_t": ("int8", 1),
    "unsigned char": ("uint8", 1), "uint8_t": ("uint8", 1), "BYTE": ("uint8", 1), "UCHAR": ("uint8", 1),
    "short": ("int16", 2), "int16_t": ("int16", 2), "SHORT": ("int16", 2),
    "unsigned short": ("uint16", 2), "uint16_t": ("uint16", 2), "WORD": ("uint16", 2), "USHORT": ("uint16", 2),
    "WCHAR": ("uint16", 2),
    "int": ("int32", 4), "int32_t": ("int32", 4), "INT": ("int32", 4), "BOOL": ("int32", 4), "LONG": ("int32", 4),
    "unsigned int": ("uint32", 4), "unsigned": ("uint32", 4), "uint32_t": ("uint32", 4), "UINT": ("uint32", 4),
    "DWORD": ("uint32", 4), "ULONG": ("uint32", 4),
    "long": ("long", 0), "unsigned long": ("ulong", 0),
    "long long": ("int64", 8), "int64_t": ("int64", 8), "unsigned long long": ("uint64", 8), "uint64_t": ("uint64", 8),
    "size_t": ("size", 0),
    "float": ("float", 4), "double": ("double", 8), "bool": ("bool", 1), "_Bool": ("bool", 1),
}
CONVENTIONS = {"__cdecl": "cdecl", "__stdcall": "stdcall", "WINAPI": "stdcall", "CALLBACK": "stdcall",
               "APIENTRY": "stdcall", "__attribute__((stdcall))": "stdcall"}
MAX_ARRAY = 16 * 2**20
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PROTO = re.compile(rf"^\s*(?P<ret>.+?)\s*(?P<name>{_IDENT})\s*\((?P<params>.*)\)\s*;?\s*$", re.S)
_PARAM = re.compile(rf"^(?P<type>.*?)(?P<name>{_IDENT})\s*(\[\s*(?P<n>[0-9]+)\s*\])?$", re.S)


class PrototypeError(ValueError):
    pass


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # int32, uint8, ..., "text" (char*), "wtext" (WCHAR*), "bytes" (pointer to bytes)
    direction: str  # in | out | inout
    array: int | None = None  # element count of an array parameter
    element_size: int = 1

    @property
    def pointer_out(self) -> bool:
        return self.direction in ("out", "inout") and self.array is None

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dir": self.direction, "array": self.array}


@dataclass(frozen=True)
class Prototype:
    name: str
    ret: str  # scalar kind, "void" or "text" (char *)
    params: tuple[Param, ...]
    convention: str | None  # None: the library's

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def inputs(self) -> list[Param]:
        return [p for p in self.params if p.direction in ("in", "inout")]

    def outputs(self) -> list[str]:
        return [p.name for p in self.params if p.direction in ("out", "inout")]

    def wire(self, default_convention: str) -> dict[str, Any]:
        return {"ret": self.ret, "params": [p.wire() for p in self.params],
                "convention": self.convention or default_convention}


def _words(text: str) -> list[str]:
    return text.replace("*", " * ").split()


def _scalar(words: list[str], what: str) -> tuple[str, int]:
    base = " ".join(w for w in words if w not in ("const", "volatile", "struct"))
    if base in SCALARS:
        return SCALARS[base]
    if base.startswith("signed ") and base[7:] in SCALARS:
        return SCALARS[base[7:]]
    raise PrototypeError(f"{what}: unknown C type {base!r}; known: {', '.join(sorted(SCALARS))}")


def parse(text: str) -> Prototype:
    """Parse one prototype; :class:`PrototypeError` says what is wrong."""
    m = _PROTO.match(text)
    if m is None:
        raise PrototypeError("not a C prototype such as 'int InitComm(int port)'")
    ret_words = _words(m.group("ret"))
    convention = None
    for w in list(ret_words):
        if w in CONVENTIONS:
            convention = CONVENTIONS[w]
            ret_words.remove(w)
    ret_words = [w for w in ret_words if w not in ("extern", "__declspec(dllexport)", "static", "inline")]
    stars = ret_words.count("*")
    base = [w for w in ret_words if w != "*"]
    if not base:
        raise PrototypeError("missing return type")
    if stars == 0 and base == ["void"]:
        ret = "void"
    elif stars == 1 and [w for w in base if w != "const"] in (["char"], ["unsigned", "char"]):
        ret = "text"
    elif stars == 0:
        ret = _scalar(base, "return type")[0]
    else:
        raise PrototypeError("a pointer return value other than char * cannot be read safely")
    params: list[Param] = []
    raw = m.group("params").strip()
    if raw and raw != "void":
        for i, piece in enumerate(raw.split(",")):
            params.append(_param(piece.strip(), i))
    names = [p.name for p in params]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise PrototypeError(f"parameter names repeat: {', '.join(sorted(dup))}")
    return Prototype(m.group("name"), ret, tuple(params), convention)


def _param(piece: str, index: int) -> Param:
    what = f"parameter {index + 1}"
    m = _PARAM.match(piece)
    if m is None or not m.group("type").strip():
        raise PrototypeError(f"{what}: write it as '[in|out|inout] <type> <name>' (e.g. 'out char name[128]')")
    words = _words(m.group("type"))
    direction = "in"
    if words and words[0] in ("in", "out", "inout"):
        direction = words.pop(0)
    name = m.group("name")
    n = int(m.group("n")) if m.group("n") is not None else None
    stars = words.count("*")
    base = [w for w in words if w != "*"]
    what = f"parameter {name}"
    if n is not None:
        if stars:
            raise PrototypeError(f"{what}: an array of pointers is not supported")
        kind, size = _scalar(base, what)
        if not 0 < n * max(size, 1) <= MAX_ARRAY:
            raise PrototypeError(f"{what}: array size must be 1..{MAX_ARRAY} bytes")
        if direction == "inout":
            raise PrototypeError(f"{what}: an array is either in or out")
        return Param(name, kind, direction, n, max(size, 1))
    if stars == 0:
        if direction != "in":
            raise PrototypeError(f"{what}: an {direction} parameter must be a pointer ('{direction} int *{name}') "
                                 "or an array")
        return Param(name, _scalar(base, what)[0], "in")
    if stars > 1:
        raise PrototypeError(f"{what}: pointers to pointers are not supported")
    plain = [w for w in base if w not in ("const", "volatile")]
    if direction == "in":
        if plain == ["char"]:
            return Param(name, "text", "in")
        if plain == ["WCHAR"]:
            return Param(name, "wtext", "in")
        if plain in (["unsigned", "char"], ["BYTE"], ["uint8_t"], ["void"]):
            return Param(name, "bytes", "in")
        raise PrototypeError(f"{what}: an input pointer must be char *, WCHAR * or a byte pointer; say 'out' or "
                             "'inout' for a pointer the library writes")
    if plain == ["void"]:
        raise PrototypeError(f"{what}: void * output has no size; declare it as 'out unsigned char {name}[N]'")
    kind, _ = _scalar(base, what)
    return Param(name, kind, direction)
