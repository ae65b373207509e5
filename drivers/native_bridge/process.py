"""The parent's side of the worker: start it, send a frame, wait for the answer
with a deadline, and kill it (by its PID) when it crashes or hangs."""

from __future__ import annotations

import base64
import json
import mmap
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("worker.py")
MAX_FRAME = 64 * 2**20
BOARD_SIZE = 16
#: environment variables the worker inherits from the service (plus the mapping's own library.env)
PASS_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "TZ", "HOME", "TMPDIR")


class _Spawner:
    """Starts workers from one thread that lives as long as the service.

    Linux's PR_SET_PDEATHSIG (the worker dies with the service, even inside a hung vendor
    call) fires when the *thread* that forked the child ends, not the process: the runtime
    replaces a device's thread after a hang, which must not kill a healthy worker.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = \
            queue.Queue()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            fn, fut = self._jobs.get()
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
                fut.set_exception(e)

    def spawn(self, fn: Callable[[], subprocess.Popen[bytes]], timeout: float = 30.0) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gtsdk-bridge-spawner", daemon=True)
                self._thread.start()
        fut: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((fn, fut))
        return fut.result(timeout=timeout)


_SPAWNER = _Spawner()


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(cwd), env=env,
            close_fds=True, pass_fds=pass_fds)

    return _SPAWNER.spawn(start)


class Board:
    """The parent's side of the page it shares with its worker (worker.py, "The board"): which call of which run
    the worker is in and since when, and the word that asks it to stop a run.  Anonymous shared memory (memfd on
    Linux, an unlinked temporary file elsewhere): nothing of it is on disk, and it holds no vendor data."""

    def __init__(self) -> None:
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("gtsdk-bridge-board", os.MFD_CLOEXEC)
        else:  # pragma: no cover - POSIX without memfd
            with tempfile.TemporaryFile() as f:
                self.fd = os.dup(f.fileno())
        os.ftruncate(self.fd, BOARD_SIZE)
        self.mem = mmap.mmap(self.fd, BOARD_SIZE)

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)

    def progress(self, run: int) -> tuple[int, float] | None:
        """(index of the call in progress, seconds from the request's arrival to its start) for *run*, or None
        when the worker has not begun that run."""
        word: int = struct.unpack_from("<Q", self.mem, 0)[0]
        if word & 0xFFFF != run & 0xFFFF:
            return None
        return (word >> 16) & 0xFF, (word >> 24) / 1e6

    def ask_stop(self, run: int) -> None:
        """Ask the worker to make no further call of *run* (-1: of no run)."""
        struct.pack_into("<Q", self.mem, 8, 0 if run < 0 else (run & 0xFFFF) | 1 << 16)


class WorkerDied(Exception):
    """The worker exited (crashed) while we waited; ``how`` says how (``SIGSEGV``, ``exit 3``)."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class WorkerTimeout(Exception):
    """No answer by the deadline (the worker is still running: the caller kills it)."""


def wire_bytes(v: bytes) -> dict[str, str]:
    """Bytes as they travel in a frame."""
    return {"$b": base64.b64encode(v).decode("ascii")}


def _unwire(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1 and isinstance(v.get("$b"), str):
        return base64.b64decode(v["$b"])
    return v


def decode_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer frame with its bytes back (only a call's ``ret`` and the values of its ``outs`` can be bytes)."""
    for call in answer.get("calls") or ():
        call["ret"] = _unwire(call.get("ret"))
        outs = call.get("outs")
        call["outs"] = {k: _unwire(v) for k, v in outs.items()} if isinstance(outs, dict) else {}
    return answer


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


class WorkerProcess:
    """One worker process; not thread-safe (the engine holds a lock around it)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        base = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        self.env = {**base, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self.board: Board | None = None
        #: a ``run`` request whose answer has not come back yet
        self.running = False
        self._runs = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.stop()
        self._buf = b""
        self.running = False
        self.board = Board()  # a fresh one: a killed predecessor may have left anything in the last
        self.proc = _spawn([sys.executable, "-I", "-S", str(WORKER), str(os.getpid()), str(self.board.fd)], self.cwd,
                           self.env, (self.board.fd,))
        assert self.proc.stdout is not None and self.proc.stdin is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        os.set_blocking(self.proc.stdin.fileno(), False)

    def request(self, msg: dict[str, Any], timeout: float, *, cancelled: Any = None) -> dict[str, Any]:
        """Send *msg* and wait for the answer up to *timeout* seconds.

        :class:`WorkerDied` if the worker exits first, :class:`WorkerTimeout` when time is up
        (or *cancelled()* turns true).
        """
        deadline = time.monotonic() + timeout
        self.send(msg, timeout)
        return self.receive(deadline - time.monotonic(), cancelled=cancelled)

    def send(self, msg: dict[str, Any], timeout: float) -> None:
        """Write one request frame.  Bytes in *msg* must already be :func:`wire_bytes`."""
        if msg.get("op") == "run":
            self.running = True
        self._write_frame(json.dumps(msg, separators=(",", ":")).encode("utf-8"), timeout)

    def send_run(self, run: int, calls_json: str, within: float, timeout: float) -> None:
        """The run request of *calls_json* (a JSON list of calls, possibly encoded once and for all)."""
        self.running = True
        self._write_frame(f'{{"op":"run","id":{run},"within":{within!r},"calls":{calls_json}}}'.encode(), timeout)

    def _write_frame(self, data: bytes, timeout: float) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise WorkerDied("not started")
        out = memoryview(struct.pack(">I", len(data)) + data)
        wfd = self.proc.stdin.fileno()
        deadline = time.monotonic() + timeout
        while out:
            try:  # a request is small: the pipe usually takes it whole, without a select first
                n = os.write(wfd, out)
            except BlockingIOError:
                n = 0
            except BrokenPipeError:
                raise WorkerDied(self._exit_status()) from None
            out = out[n:]
            if not out:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout()
            _, w, _ = select.select([], [wfd], [], min(left, 0.05))
            if not w and self.proc.poll() is not None:
                raise WorkerDied(self._exit_status())

    def next_run(self) -> int:
        """An id for the next run request (the board tells runs apart by it)."""
        self._runs = (self._runs + 1) & 0xFFFF
        if self.board is not None:
            self.board.ask_stop(-1)  # no stop asked of this id, whatever was asked 65 536 runs ago
        return self._runs

    def request_more(self, timeout: float) -> dict[str, Any]:
        """Wait up to *timeout* more seconds for the answer to the request already sent."""
        return self.receive(timeout)

    def receive(self, timeout: float, *, cancelled: Any = None) -> dict[str, Any]:
        if self.proc is None or self.proc.stdout is None:
            raise WorkerDied("not started")
        deadline = time.monotonic() + timeout
        rfd = self.proc.stdout.fileno()
        ready = True  # try a read before the first select: the answer is often there already
        while True:
            frame = self._frame()
            if frame is not None:
                answer = decode_answer(json.loads(frame.decode("utf-8")))
                self.running = False
                return answer
            if not ready:
                left = deadline - time.monotonic()
                if left <= 0 or (cancelled is not None and cancelled()):
                    raise WorkerTimeout()
                r, _, _ = select.select([rfd], [], [], min(left, 0.05))
                if not r:
                    continue
            try:
                chunk = os.read(rfd, 1 << 20)
            except BlockingIOError:
                ready = False
                continue
            if not chunk:
                raise WorkerDied(self._exit_status())
            ready = True
            self._buf += chunk
            if len(self._buf) > MAX_FRAME + 4:
                raise WorkerDied("answer larger than the frame limit")

    def _frame(self) -> bytes | None:
        if len(self._buf) < 4:
            return None
        (size,) = struct.unpack(">I", self._buf[:4])
        if size > MAX_FRAME:
            raise WorkerDied("answer larger than the frame limit")
        if len(self._buf) < 4 + size:
            return None
        frame, self._buf = self._buf[4:4 + size], self._buf[4 + size:]
        return frame

    def _exit_status(self) -> str:
        if self.proc is None:
            return "not started"
        try:
            return describe_exit(self.proc.wait(timeout=2.0))
        except subprocess.TimeoutExpired:
            return "pipe closed"

    def kill(self) -> None:
        """SIGKILL by PID and reap (a hung vendor call cannot be interrupted any other way)."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be refused
            pass
        self._close(p)
        self.proc = None
        self.running = False
        if self.board is not None:
            self.board.close()
            self.board = None

    def stop(self, grace: float = 1.0) -> None:
        """Ask the worker to exit, then kill it if it has not within *grace* seconds."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                self.request({"op": "exit"}, grace)
            except (WorkerDied, WorkerTimeout, OSError, ValueError):
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    @staticmethod
    def _close(p: subprocess.Popen[bytes]) -> None:
        for f in (p.stdin, p.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
