"""The worker process that holds a vendor library (run as a plain script: stdlib only).

The service never loads a vendor library itself: a crash (SIGSEGV) or a hang
inside the vendor's code must not take the service down.  The parent starts
``python -I -S worker.py <parent pid> <board fd>`` with the private working
directory as cwd (libraries such as termb's ``Read_Content`` write their files
there) and speaks frames on the worker's stdin/stdout: a 4-byte big-endian
length, then a UTF-8 JSON object; bytes travel as ``{"$b": "<base64>"}``.

Requests::

    {"op": "load", "path": ..., "convention": "cdecl", "encoding": "gb18030", "functions": {name: signature}}
    {"op": "run", "id": n, "calls": [{"fn": name, "args": {param: value}, "ok": ["1"] | "any"}, ...],
     "within": seconds}
    {"op": "ping"}
    {"op": "exit"}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.

``run`` makes an operation's calls in one round trip and answers once, with every
call made: ``{"ok": true, "calls": [{"ret": ..., "outs": {...}}, ...]}`` (a call
that could not be made — a wrong argument, a missing symbol — ends the list with
``"ok": false`` and the error).  It goes on to the next call only while the
call's status is one of its ``ok`` codes, the operation's deadline (``within``
seconds from when the request arrived) has not passed and the parent has not
asked it to stop.  The first call is always made (the parent checked the deadline
before sending).

**The board.**  The parent still times every call on its own and must name the
call a crash or hang happened in, without waking up for each call: before each
call the worker writes, in one aligned 8-byte word of a memory page it shares
with the parent (``<board fd>``, mapped by both), the run's id, the call's index
and when the call started (microseconds after the request arrived).  The parent
reads it only when it has waited long enough for some call to be over its limit,
or when the worker died.  A second word is the parent's: the id of a run it wants
stopped (a cancel), read by the worker before each next call.

The vendor library may print: fds 0 and 1 are moved away before it is loaded so
nothing it writes can corrupt the frames.
"""

from __future__ import annotations

import base64
import ctypes
import json
import mmap
import os
import struct
import sys
import time
from typing import Any

MAX_FRAME = 64 * 2**20
MAX_TEXT_RETURN = 64 * 1024
#: the board: word 0 (worker) = run id | call index << 16 | start µs << 24; word 1 (parent) = run id to stop | 1 << 16
BOARD_SIZE = 16

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


def _wire(v: Any) -> Any:
    return {"$b": base64.b64encode(bytes(v)).decode("ascii")} if isinstance(v, bytes | bytearray) else v


def _write(fd: int, obj: dict[str, Any], *, wired: bool = False) -> None:
    """One answer frame; *wired*: its bytes are already in their wire form (a run's answer)."""
    data = json.dumps(obj if wired else _encode(obj), separators=(",", ":")).encode("utf-8")
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

    def call(self, name: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
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
        return ret, {k: (v.raw if isinstance(v, ctypes.Array) else v.value) for k, v in outs.items()}


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


class Board:
    """The page shared with the parent (see the module docstring); without one (a bare test run) nothing is shown."""

    def __init__(self, fd: int | None) -> None:
        self.mem: mmap.mmap | bytearray = bytearray(BOARD_SIZE)
        if fd is not None:
            self.mem = mmap.mmap(fd, BOARD_SIZE)
            os.close(fd)  # the mapping keeps the page; the vendor library has no use for the descriptor

    def show(self, run: int, index: int, started: float) -> None:
        struct.pack_into("<Q", self.mem, 0, (run & 0xFFFF) | (index & 0xFF) << 16
                         | (int(started * 1e6) & 0xFF_FFFF_FFFF) << 24)

    def stop_asked(self, run: int) -> bool:
        return bool(struct.unpack_from("<Q", self.mem, 8)[0] == (run & 0xFFFF) | 1 << 16)


def run(lib: Library, msg: dict[str, Any], board: Board) -> dict[str, Any]:
    """The calls of one ``run`` request, stopping as the module docstring says; the one answer (bytes wired)."""
    arrived = time.monotonic()
    deadline = arrived + float(msg.get("within", 0.0))
    rid = int(msg.get("id", 0))
    calls: list[dict[str, Any]] = msg["calls"]
    done: list[dict[str, Any]] = []
    for i, c in enumerate(calls):
        if i and (time.monotonic() >= deadline or board.stop_asked(rid)):
            break
        board.show(rid, i, time.monotonic() - arrived)
        try:
            ret, outs = lib.call(c["fn"], _decode(c.get("args", {})))
        except _FAILURES as e:
            return {**_failure(e, "run"), "calls": done}
        done.append({"ret": _wire(ret), "outs": {k: _wire(v) for k, v in outs.items()}})
        ok = c.get("ok", "any")
        if ok != "any" and lib.code(ret) not in ok:
            break
    return {"ok": True, "calls": done}


def serve(rfd: int, wfd: int, board: Board) -> int:
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
                answer = run(lib, msg, board) if lib is not None else {"ok": False, "error": "no library loaded",
                                                                        "calls": []}
                _write(wfd, answer, wired=True)
                continue
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
    board = Board(int(sys.argv[2]) if len(sys.argv) > 2 else None)
    # keep the frames on private fds; whatever the vendor library prints goes nowhere
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return serve(rfd, wfd, board)


if __name__ == "__main__":
    sys.exit(main())
