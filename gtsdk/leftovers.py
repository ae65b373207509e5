"""Daemons, temporary folders and network namespaces that simulators start — none outlives its owner.

A simulator host (``gtsdk serve --simulate``, ``gtsdk sim``, a test process) starts real daemons (pcscd,
cupsd, ippeveprinter, avahi-daemon, dbus-daemon), makes temporary folders and network namespaces.  After a
``kill -9`` of the host they used to stay behind, and a later host silently reused an orphaned pcscd.
Three things prevent that:

1. :func:`spawn` starts every daemon from one long-lived thread with a parent-death signal
   (``setpriv --pdeathsig KILL``, util-linux): the kernel kills the daemon when its owner dies, however it
   dies.  (The signal follows the *thread* that forked, hence one thread that lives as long as the process.)
2. Each daemon (PID and start time, so that a reused PID is never taken for it), temporary folder and
   network namespace is written to a ledger, one JSON file per owner process in :func:`state_dir`.
3. :func:`reap` — run by every host when it starts — clears the ledgers of owners that no longer run: it
   kills the recorded processes whose start time still matches, kills what runs inside the recorded
   network namespaces and deletes them, and removes the recorded folders.  Never by process name.

A host that exits normally clears its own ledger at exit; one that stops a daemon itself calls :func:`stop`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar

log = logging.getLogger("gtsdk.leftovers")

T = TypeVar("T")

#: names this module creates and is therefore allowed to delete
_NETNS = re.compile(r"^gtsdk-[A-Za-z0-9_-]{1,40}$")
_DIR_PREFIX = "gtsdk-"
#: how long a daemon gets to exit after SIGTERM before SIGKILL
STOP_GRACE = 5.0


def state_dir() -> Path:
    """Where the ledgers live: one folder per user in the system temp folder (``GTSDK_SIM_STATE`` moves it)."""
    env = os.environ.get("GTSDK_SIM_STATE")
    return Path(env) if env else Path(tempfile.gettempdir()) / f"gtsdk-sim-state-{os.getuid()}"


def start_time(pid: int) -> int | None:
    """Start time of *pid* in clock ticks since boot (/proc/<pid>/stat field 22); None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int, start: int) -> bool:
    """Whether the process recorded as (*pid*, *start*) still runs (not another one that got its PID)."""
    return start_time(pid) == start


@dataclass
class Reaped:
    """What :func:`reap` cleared."""

    owners: int = 0
    processes: int = 0
    netns: int = 0
    dirs: int = 0
    details: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.owners)


# ---- the spawning thread ----------------------------------------------------------------------------------
class _Spawner:
    """One daemon thread that forks every daemon, so their parent-death signal fires only when the process
    ends (a worker thread that starts a daemon may itself end long before)."""

    def __init__(self) -> None:
        self._queue: SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="gtsdk-spawner", daemon=True)
                self._thread.start()
        if threading.current_thread() is self._thread:
            return fn()
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result(timeout=timeout)

    def _loop(self) -> None:
        while True:
            fn, fut = self._queue.get()
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
                fut.set_exception(e)


_spawner = _Spawner()
_SETPRIV = shutil.which("setpriv")


def _with_pdeathsig(cmd: list[str]) -> list[str]:
    if _SETPRIV is None:  # util-linux without setpriv: the ledger still reaps after a crash
        return cmd
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd]


# ---- the ledger ---------------------------------------------------------------------------------------------
class Ledger:
    """This process's record of what it started (written on every change, atomically)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or state_dir()
        self.pid = os.getpid()
        self.start = start_time(self.pid) or 0
        self.path = self.directory / f"{self.pid}-{self.start}.json"
        self._lock = threading.Lock()
        self.processes: dict[int, dict[str, Any]] = {}
        self.dirs: set[str] = set()
        self.netns: set[str] = set()

    def _save(self) -> None:
        if not (self.processes or self.dirs or self.netns):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {"owner": {"pid": self.pid, "start": self.start}, "processes": list(self.processes.values()),
                "dirs": sorted(self.dirs), "netns": sorted(self.netns)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)

    def add_process(self, pid: int, label: str) -> None:
        start = start_time(pid)
        if start is None:
            return
        with self._lock:
            self.processes[pid] = {"pid": pid, "start": start, "label": label}
            self._save()

    def remove_process(self, pid: int) -> None:
        with self._lock:
            if self.processes.pop(pid, None) is not None:
                self._save()

    def add_dir(self, path: Path) -> None:
        with self._lock:
            self.dirs.add(str(path))
            self._save()

    def remove_dir(self, path: Path) -> None:
        with self._lock:
            self.dirs.discard(str(path))
            self._save()

    def add_netns(self, name: str) -> None:
        with self._lock:
            self.netns.add(name)
            self._save()

    def remove_netns(self, name: str) -> None:
        with self._lock:
            self.netns.discard(name)
            self._save()

    def clear_own(self) -> None:
        """At a normal exit: stop what this process still has running and remove its folders."""
        if os.getpid() != self.pid:  # a forked child exiting is not the owner
            return
        with self._lock:
            data = {"processes": list(self.processes.values()), "dirs": sorted(self.dirs),
                    "netns": sorted(self.netns)}
            self.processes.clear()
            self.dirs.clear()
            self.netns.clear()
        _clear(data, Reaped())
        with self._lock:
            self._save()


_ledger: Ledger | None = None
_ledger_lock = threading.Lock()


def ledger() -> Ledger:
    """This process's ledger (created on first use; cleared at a normal exit)."""
    global _ledger
    with _ledger_lock:
        if _ledger is None or _ledger.pid != os.getpid():
            _ledger = Ledger()
            atexit.register(_ledger.clear_own)
        return _ledger


# ---- starting and stopping ----------------------------------------------------------------------------------
def spawn(cmd: list[str], *, label: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start daemon *cmd* so that it dies with this process and is recorded for :func:`reap`.

    *popen* goes to :class:`subprocess.Popen` (no ``preexec_fn``: the parent-death signal is set by
    ``setpriv`` after the fork, so no Python runs in the child).  The command must ``exec`` the daemon
    (``sh -c '... && exec daemon'``, ``unshare`` and ``ip netns exec`` without forking) so that the
    recorded PID is the daemon's own."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    proc: subprocess.Popen[bytes] = _spawner.call(lambda: subprocess.Popen(_with_pdeathsig(cmd), **popen))
    ledger().add_process(proc.pid, label)
    return proc


def stop(proc: subprocess.Popen[Any] | None, grace: float = STOP_GRACE) -> None:
    """Stop a daemon started by :func:`spawn` (SIGTERM, then SIGKILL after *grace* seconds) and forget it."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=grace)
    ledger().remove_process(proc.pid)


def forget(proc: subprocess.Popen[Any]) -> None:
    """A daemon that ended by itself (or was waited for elsewhere) leaves the ledger."""
    ledger().remove_process(proc.pid)


def make_temp_dir(prefix: str) -> Path:
    """A recorded temporary folder in the system temp folder (*prefix* starts with ``gtsdk-``)."""
    if not prefix.startswith(_DIR_PREFIX):
        raise ValueError(f"temporary folder prefix must start with {_DIR_PREFIX!r}")
    path = Path(tempfile.mkdtemp(prefix=prefix))
    ledger().add_dir(path)
    return path


def adopt_dir(path: Path) -> None:
    """Record a folder this process made (its name starts with ``gtsdk-``) so a crash does not leave it."""
    if not path.name.startswith(_DIR_PREFIX):
        raise ValueError(f"folder name must start with {_DIR_PREFIX!r}")
    ledger().add_dir(path)


def remove_temp_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    ledger().remove_dir(path)


def add_netns(name: str) -> None:
    if not _NETNS.match(name):
        raise ValueError(f"network namespace name must match {_NETNS.pattern}")
    ledger().add_netns(name)


def remove_netns(name: str) -> None:
    ledger().remove_netns(name)


# ---- reaping ------------------------------------------------------------------------------------------------
def _kill(pid: int, start: int, label: str, out: Reaped, wait: float = 3.0) -> None:
    if not alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + wait
    while time.monotonic() < end and alive(pid, start):
        time.sleep(0.02)
    out.processes += 1
    out.details.append(f"killed {label} (pid {pid})")


def _netns_pids(name: str) -> list[int]:
    try:
        r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def _clear(data: dict[str, Any], out: Reaped) -> None:
    for p in data.get("processes", []):
        try:
            _kill(int(p["pid"]), int(p["start"]), str(p.get("label", "?")), out)
        except (KeyError, TypeError, ValueError):
            continue
    for name in data.get("netns", []):
        if not isinstance(name, str) or not _NETNS.match(name) or not Path("/run/netns", name).exists():
            continue
        for pid in _netns_pids(name):  # everything in our private namespace is ours (cupsd's filters too)
            start = start_time(pid)
            if start is not None:
                _kill(pid, start, f"process in {name}", out)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)
        out.netns += 1
        out.details.append(f"deleted network namespace {name}")
    uid = os.getuid()
    for d in data.get("dirs", []):
        path = Path(str(d))
        try:
            st = path.lstat()
        except OSError:
            continue
        # only what this module would have made: an absolute gtsdk-* folder of ours, not a link
        if not path.is_absolute() or not path.name.startswith(_DIR_PREFIX) or st.st_uid != uid or path.is_symlink():
            continue
        shutil.rmtree(path, ignore_errors=True)
        out.dirs += 1
        out.details.append(f"removed {path}")


_OWNER = re.compile(r"^(\d+)-(\d+)\.json$")
_PARTIAL = re.compile(r"^(\d+)-(\d+)\.tmp$")
_CLAIMED = re.compile(r"^(\d+)-(\d+)\.json\.reaping-(\d+)-(\d+)$")


def reap(directory: Path | None = None) -> Reaped:
    """Clear what owners that no longer run left behind (see the module docstring).  Safe to run from any
    number of hosts at once: a ledger is claimed by renaming it before it is cleared."""
    base = directory or state_dir()
    out = Reaped()
    try:
        entries = sorted(base.iterdir())
        st = base.stat()
    except OSError:
        return out
    if st.st_uid != os.getuid():  # not our folder: never act on what someone else wrote
        return out
    me = ledger() if directory is None else None
    for f in entries:
        m = _OWNER.match(f.name)
        c = _CLAIMED.match(f.name)
        t = _PARTIAL.match(f.name)
        if t and not alive(int(t[1]), int(t[2])):  # its owner died while writing
            with contextlib.suppress(OSError):
                f.unlink()
            continue
        if m:
            pid, start = int(m[1]), int(m[2])
        elif c and not alive(int(c[3]), int(c[4])):  # a reaper died half-way
            pid, start = int(c[1]), int(c[2])
        else:
            continue
        if (me is not None and f == me.path) or alive(pid, start):
            continue
        claimed = f.with_name(f"{pid}-{start}.json.reaping-{os.getpid()}-{start_time(os.getpid()) or 0}")
        try:
            f.rename(claimed)
        except OSError:  # another host got it first
            continue
        try:
            if claimed.stat().st_uid != os.getuid():
                continue
            data = json.loads(claimed.read_text())
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            _clear(data, out)
        out.owners += 1
        with contextlib.suppress(OSError):
            claimed.unlink()
    for line in out.details:
        log.warning("left by a crashed simulator host: %s", line)
    return out
