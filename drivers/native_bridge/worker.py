"""The worker process that holds a vendor library (run as a plain script: stdlib only).

The service never loads a vendor library itself: a crash (SIGSEGV) or a hang
inside the vendor's code must not take the service down.  The parent starts
``python -I -S worker.py <parent pid>`` with the private working directory as
cwd (libraries such as termb's ``Read_Content`` write their files there) and
speaks frames on the worker's stdin/stdout: a 4-byte big-endian length, then a
UTF-8 JSON object; bytes travel as ``{"$b": "<base64>"}``.

Requests::

    {"op": "load", "path": ..., "convention": "cdecl", "encoding": "gb18030", "functions": {name: signature}}
    {"op": "run", "calls": [{"fn": name, "args": {param: value}, "ok": ["1"] | "any"}, ...], "within": seconds}
    {"op": "abort"}
    {"op": "ping"}
    {"op": "exit"}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.

``run`` makes an operation's calls in one round trip: the worker answers each call
with its own frame as soon as it returns (``{"ok": true, "ret": ..., "outs": {...},
"end": false}``), so the parent still times every call on its own, and goes on to the
next call only while the call's status is one of its ``ok`` codes, the operation's
deadline (``within`` seconds from when the request arrived) has not passed and no
``abort`` has come in; the frame of the last call made says ``"end": true``.  The
first call is always made (the parent checked the deadline before sending).  An
``abort`` arriving when no ``run`` is in progress is ignored (it crossed the last
answer on the way).

The vendor library may print: fds 0 and 1 are moved away before it is loaded so
nothing it writes can corrupt the frames.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import select
import struct
import sys
import time
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


class FrameReader:
    """Frames from the parent, read in as few system calls as possible (one per request, usually)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            chunk = os.read(self.fd, max(n - len(self.buf), 1 << 16))
            if not chunk:
                return False
            self.buf += chunk
        return True

    def next(self) -> dict[str, Any] | None:
        """The next request; None when the parent closed the pipe (or sent a frame over the limit)."""
        if not self._fill(4):
            return None
        (size,) = struct.unpack(">I", self.buf[:4])
        if size > MAX_FRAME or not self._fill(4 + size):
            return None
        body, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
        msg: dict[str, Any] = json.loads(body.decode("utf-8"))
        return msg

    def pending(self) -> bool:
        """A request is already here (or arriving): only an abort can come while a run is in progress."""
        if self.buf:
            return True
        r, _, _ = select.select([self.fd], [], [], 0)
        return bool(r)


def _write(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(_encode(obj), separators=(",", ":")).encode("utf-8")
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Library:
    def __init__(self, path: str, convention: str, functions: dict[str, dict[str, Any]],
                 encoding: str = "gb18030") -> None:
        self.handles: dict[str, Any] = {}
        self.path = path
        self.default = convention
        self.encoding = encoding
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

    def code(self, ret: Any) -> str:
        """A return value as the status code text the parent compares (the same rule as the parent's)."""
        return ret.decode(self.encoding, "replace") if isinstance(ret, bytes) else str(ret)

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


def _failure(e: Exception, op: str) -> dict[str, Any]:
    if isinstance(e, OSError):  # dlopen failure, missing symbol
        return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}", "load": op == "load"}
    if isinstance(e, AttributeError):
        return {"ok": False, "error": f"missing symbol: {str(e)[-120:]}", "load": op == "load"}
    return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:200]}"}


_FAILURES = (OSError, AttributeError, ValueError, TypeError, KeyError, ctypes.ArgumentError)


def run(lib: Library, msg: dict[str, Any], frames: FrameReader, wfd: int) -> None:
    """The calls of one ``run`` request, one answer frame each, stopping as the module docstring says."""
    deadline = time.monotonic() + float(msg.get("within", 0.0))
    calls: list[dict[str, Any]] = msg["calls"]
    last = len(calls) - 1
    for i, c in enumerate(calls):
        try:
            answer = lib.call(c["fn"], _decode(c.get("args", {})))
        except _FAILURES as e:
            answer = _failure(e, "run")
            answer["end"] = True
            _write(wfd, answer)
            return
        ok = c.get("ok", "any")
        go_on = (i < last and (ok == "any" or lib.code(answer["ret"]) in ok) and time.monotonic() < deadline
                 and not frames.pending())
        answer["end"] = not go_on
        _write(wfd, answer)
        if not go_on:
            return


def serve(rfd: int, wfd: int) -> int:
    lib: Library | None = None
    frames = FrameReader(rfd)
    while True:
        msg = frames.next()
        if msg is None:
            return 0
        op = msg.get("op")
        try:
            if op == "load":
                lib = Library(msg["path"], msg.get("convention", "cdecl"), msg["functions"],
                              msg.get("encoding", "gb18030"))
                answer: dict[str, Any] = {"ok": True, "pid": os.getpid()}
            elif op == "run":
                if lib is None:
                    answer = {"ok": False, "error": "no library loaded", "end": True}
                else:
                    run(lib, msg, frames, wfd)
                    continue
            elif op == "abort":
                continue  # it crossed the end of the run it was meant for
            elif op == "ping":
                answer = {"ok": True, "pid": os.getpid()}
            elif op == "exit":
                _write(wfd, {"ok": True})
                return 0
            else:
                answer = {"ok": False, "error": f"unknown op {op!r}"}
        except _FAILURES as e:
            answer = _failure(e, str(op))
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
