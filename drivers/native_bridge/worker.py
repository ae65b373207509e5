"""The worker process that holds a vendor library (run as a plain script: stdlib only).

The service never loads a vendor library itself: a crash (SIGSEGV) or a hang
inside the vendor's code must not take the service down.  The parent starts
``python -I -S worker.py <parent pid>`` with the private working directory as
cwd (libraries such as termb's ``Read_Content`` write their files there) and
speaks frames on the worker's stdin/stdout: a 4-byte big-endian length, then a
UTF-8 JSON object; bytes travel as ``{"$b": "<base64>"}``.

Requests::

    {"op": "load", "path": ..., "convention": "cdecl", "functions": {name: signature}}
    {"op": "call", "fn": name, "args": {param: value}}
    {"op": "ping"}
    {"op": "exit"}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.  The
vendor library may print: fds 0 and 1 are moved away before it is loaded so
nothing it writes can corrupt the frames.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import struct
import sys
from typing import Any

MAX_FRAME = 64 * 2**20
MAX_TEXT_RETURN = 64 * 1024

_KINDS: dict[str, Any] = {
    "int8": ctypes.c_int8, "uint8": ctypes.c_uint8, "int16": ctypes.c_int16, "uint16": ctypes.c_uint16,
    "int32": ctypes.c_int32, "uint32": ctypes.c_uint32, "int64": ctypes.c_int64, "uint64": ctypes.c_uint64,
    "long": ctypes.c_long, "ulong": ctypes.c_ulong, "size": ctypes.c_size_t, "float": ctypes.c_float,
    "double": ctypes.c_double, "bool": ctypes.c_bool,
}


def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the service dies (Linux prctl PR_SET_PDEATHSIG), even inside a hung call."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(3)


def _encode(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        return {"$b": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    return v


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$b"}:
            return base64.b64decode(v["$b"])
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _write(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(_encode(obj), separators=(",", ":")).encode("utf-8")
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Library:
    def __init__(self, path: str, convention: str, functions: dict[str, dict[str, Any]]) -> None:
        self.handles: dict[str, Any] = {}
        self.path = path
        self.default = convention
        self.functions: dict[str, tuple[Any, dict[str, Any]]] = {}
        for name, sig in functions.items():
            fn = getattr(self._handle(sig.get("convention") or convention), name)
            params = sig["params"]
            fn.argtypes = [self._argtype(p) for p in params]
            ret = sig["ret"]
            fn.restype = None if ret == "void" else (ctypes.c_void_p if ret == "text" else _KINDS[ret])
            self.functions[name] = (fn, sig)

    def _handle(self, convention: str) -> Any:
        if convention not in self.handles:
            if convention == "stdcall" and sys.platform == "win32":
                self.handles[convention] = ctypes.WinDLL(self.path)  # type: ignore[attr-defined,unused-ignore]
            else:  # one calling convention on x86-64 and ARM: stdcall is cdecl there
                self.handles[convention] = ctypes.CDLL(self.path)
        return self.handles[convention]

    @staticmethod
    def _argtype(p: dict[str, Any]) -> Any:
        kind = p["kind"]
        if p["array"] is not None or kind in ("text", "wtext", "bytes"):
            return ctypes.c_void_p
        if p["dir"] in ("out", "inout"):
            return ctypes.POINTER(_KINDS[kind])
        return _KINDS[kind]

    def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        fn, sig = self.functions[name]
        keep: list[Any] = []
        outs: dict[str, Any] = {}
        cargs: list[Any] = []
        for p in sig["params"]:
            kind, direction, n = p["kind"], p["dir"], p["array"]
            value = args.get(p["name"])
            if n is not None:
                size = n * ctypes.sizeof(_KINDS[kind])
                data = bytes(value) if isinstance(value, bytes) else b""
                if len(data) > size:
                    raise ValueError(f"{p['name']}: {len(data)} bytes do not fit in {size}")
                buf = ctypes.create_string_buffer(data, size)
                keep.append(buf)
                cargs.append(ctypes.cast(buf, ctypes.c_void_p))
                if direction == "out":
                    outs[p["name"]] = buf
            elif kind in ("text", "bytes"):
                raw = value if isinstance(value, bytes) else b""
                buf = ctypes.create_string_buffer(raw + (b"\x00" if kind == "text" else b""))
                keep.append(buf)
                cargs.append(ctypes.cast(buf, ctypes.c_void_p))
            elif kind == "wtext":
                raw = (value if isinstance(value, bytes) else b"") + b"\x00\x00"
                buf = ctypes.create_string_buffer(raw, len(raw))
                keep.append(buf)
                cargs.append(ctypes.cast(buf, ctypes.c_void_p))
            elif direction in ("out", "inout"):
                cell = _KINDS[kind](value if direction == "inout" and value is not None else 0)
                keep.append(cell)
                cargs.append(ctypes.byref(cell))
                outs[p["name"]] = cell
            else:
                cargs.append(_KINDS[kind](value if value is not None else 0))
        ret = fn(*cargs)
        if sig["ret"] == "text":
            ret = ctypes.string_at(ret, _strnlen(ret, MAX_TEXT_RETURN)) if ret else None
        elif isinstance(ret, float | int | bool) or ret is None:
            pass
        result = {k: (v.raw if isinstance(v, ctypes.Array) else v.value) for k, v in outs.items()}
        return {"ok": True, "ret": ret, "outs": result}


def _strnlen(addr: int, limit: int) -> int:
    n = 0
    while n < limit and ctypes.c_char.from_address(addr + n).value != b"\x00":
        n += 1
    return n


def serve(rfd: int, wfd: int) -> int:
    lib: Library | None = None
    while True:
        head = _read_exact(rfd, 4)
        if head is None:
            return 0
        (size,) = struct.unpack(">I", head)
        if size > MAX_FRAME:
            return 4
        body = _read_exact(rfd, size)
        if body is None:
            return 0
        msg = _decode(json.loads(body.decode("utf-8")))
        op = msg.get("op")
        try:
            if op == "load":
                lib = Library(msg["path"], msg.get("convention", "cdecl"), msg["functions"])
                answer: dict[str, Any] = {"ok": True, "pid": os.getpid()}
            elif op == "call":
                if lib is None:
                    answer = {"ok": False, "error": "no library loaded"}
                else:
                    answer = lib.call(msg["fn"], msg.get("args", {}))
            elif op == "ping":
                answer = {"ok": True, "pid": os.getpid()}
            elif op == "exit":
                _write(wfd, {"ok": True})
                return 0
            else:
                answer = {"ok": False, "error": f"unknown op {op!r}"}
        except OSError as e:  # dlopen failure, missing symbol
            answer = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}", "load": op == "load"}
        except AttributeError as e:
            answer = {"ok": False, "error": f"missing symbol: {str(e)[-120:]}", "load": op == "load"}
        except (ValueError, TypeError, KeyError, ctypes.ArgumentError) as e:
            answer = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:200]}"}
        _write(wfd, answer)


def main() -> int:
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    _die_with_parent(parent)
    # keep the frames on private fds; whatever the vendor library prints goes nowhere
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return serve(rfd, wfd)


if __name__ == "__main__":
    sys.exit(main())
