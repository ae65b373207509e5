"""A private pcscd for this process, with vsmartcard's vpcd reader driver (docs/test-peers.md §2).

pcsc-lite 1.9.9's pcscd keeps its socket and pid file at fixed paths under /run/pcscd, and vpcd waits for
virtual cards on TCP ports 35963/35964 of *every* address.  A pcscd shared by the machine let simulators
break each other (one stopped the pcscd the others used; vpcd's two ports limited a machine to two
simulators) and exposed vpcd's ports to the LAN.  So this process runs its own pcscd:

- in a private network namespace with only ``lo`` (``unshare --net``): vpcd's ports exist only there, so
  nothing listens outside it and every process can use the same port numbers;
- in a private mount namespace where a folder of ours is bind-mounted on /run/pcscd: its socket and pid file
  are ours, and a pcscd the machine runs is never seen, reused or stopped;
- with its own reader.conf directory (``pcscd --config``) naming the vpcd readers.

A virtual card reaches vpcd through a TCP socket created by a short-lived thread that joined pcscd's network
namespace (setns(2); the socket stays in the namespace it was made in).

The client library (pyscard → libpcsclite) reads the socket path from ``PCSCLITE_CSOCK_NAME`` once per
process (pcsc-lite ``winscard_msg.c``, ``getSocketName``), so a process talks to one PC/SC service: this
host, shared by the process's travel-document simulators, one per reader.  vpcd keeps its two slots in static
variables of its library, so a second reader.conf entry on the same library file would share them: each
further entry loads its own copy of the library (a different file is a different dlopen handle).
Needs root (namespaces).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from gtsdk import leftovers

if TYPE_CHECKING:
    from .vpcd import VirtualCard

log = logging.getLogger("gtsdk.simulators.travel_doc")

VPCD_LIB = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
#: vpcd's first TCP port (vsmartcard's reader.conf: 0x8C7B); entry e, slot n listens on VPCD_PORT + 2e + n
VPCD_PORT = 0x8C7B
#: reader.conf entries, two slots each ("Virtual PCD 00 00", "Virtual PCD 00 01", "Virtual PCD 1 00 00", ...)
ENTRIES = 2
SLOTS = 2 * ENTRIES
READY_TIMEOUT = 15.0
CLONE_NEWNET = 0x40000000

READER_CONF = """# vsmartcard vpcd: a virtual card connects to TCP {port} (slot 0) and {port1} (slot 1) inside this
# pcscd's private network namespace
FRIENDLYNAME "{name}"
DEVICENAME   /dev/null:{port:#x}
LIBPATH      {lib}
CHANNELID    {port:#x}
"""


class PcscdUnavailable(RuntimeError):
    pass


def readers() -> list[str]:
    """Reader names offered by this process's PC/SC service."""
    try:
        from smartcard.System import readers as _readers

        return [str(r) for r in _readers()]
    except Exception as e:  # noqa: BLE001 - pyscard raises its own types when there is no service: no readers
        log.debug("no PC/SC readers: %s", type(e).__name__)
        return []


def _socket_in_netns(ns_path: str, timeout: float = 10.0) -> socket.socket:
    """A TCP socket that lives in the network namespace *ns_path* (made by a thread that joins it and ends)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns_path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["sock"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
            box["err"] = e

    t = threading.Thread(target=run, name="vpcd-netns", daemon=True)
    t.start()
    t.join(timeout)
    err = box.get("err")
    if isinstance(err, BaseException):
        raise err
    sock = box.get("sock")
    if not isinstance(sock, socket.socket):
        raise OSError("could not make a socket in pcscd's network namespace in time")
    return sock


def _process_dir() -> Path:
    """This process's PC/SC folder: the same path for the whole process, because the client library keeps
    the socket path it read first."""
    global _PROCESS_DIR
    if _PROCESS_DIR is None or _PROCESS_DIR[0] != os.getpid():
        base = Path(tempfile.gettempdir())
        if len(str(base)) > 60:  # the socket path inside must stay under the 108 bytes of sun_path
            base = Path("/tmp")
        _PROCESS_DIR = (os.getpid(), base / f"gtsdk-pcsc-{os.getpid()}-{secrets.token_hex(3)}")
    return _PROCESS_DIR[1]


_PROCESS_DIR: tuple[int, Path] | None = None


def _friendly(entry: int) -> str:
    return "Virtual PCD" if entry == 0 else f"Virtual PCD {entry}"


class PcscHost:
    """The process's private pcscd, shared by its travel-document simulators (one vpcd slot each)."""

    _instance: ClassVar[PcscHost | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.dir = _process_dir()
        self.run_dir = self.dir / "run"
        self.conf_dir = self.dir / "reader.conf.d"
        self.log = self.dir / "pcscd.log"
        self.socket = self.run_dir / "pcscd.comm"
        self.proc: subprocess.Popen[bytes] | None = None
        self.users: set[int] = set()
        self.cards: dict[int, VirtualCard] = {}
        #: slots whose card goes back in when pcscd returns (replug)
        self._reinsert: set[int] = set()

    # ---- sharing ------------------------------------------------------------------------------------------
    @classmethod
    def acquire(cls) -> tuple[PcscHost, int]:
        """This process's host (started if needed) and a free slot."""
        with cls._lock:
            host = cls._instance
            if host is None:
                host = cls()
                host.start()
                cls._instance = host
            free = [s for s in range(SLOTS) if s not in host.users]
            if not free:
                raise PcscdUnavailable(f"this process already runs {SLOTS} simulated travel-document readers "
                                       f"(vpcd's {SLOTS} slots); run another one in another process")
            host.users.add(free[0])
            return host, free[0]

    def release(self, slot: int) -> None:
        with PcscHost._lock:
            self.users.discard(slot)
            self.cards.pop(slot, None)
            self._reinsert.discard(slot)
            if not self.users:
                self.stop()
                leftovers.remove_temp_dir(self.dir)
                PcscHost._instance = None

    # ---- where things are --------------------------------------------------------------------------------
    @staticmethod
    def reader(slot: int) -> str:
        entry, n = divmod(slot, 2)
        return f"{_friendly(entry)} 00 {n:02d}"

    @staticmethod
    def port(slot: int) -> int:
        return VPCD_PORT + slot

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, slot: int, timeout: float = 1.0) -> socket.socket:
        """A connection to vpcd's port of *slot* inside pcscd's namespace (= a card enters the reader)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            raise ConnectionRefusedError("pcscd is not running")
        s = _socket_in_netns(f"/proc/{proc.pid}/ns/net")
        try:
            s.settimeout(timeout)
            s.connect(("127.0.0.1", self.port(slot)))
        except OSError:
            s.close()
            raise
        return s

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def _check(self) -> tuple[str, str, str]:
        exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
        if exe is None:
            raise PcscdUnavailable("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
        if not VPCD_LIB.exists():
            raise PcscdUnavailable(f"vsmartcard-vpcd is not installed (no {VPCD_LIB})")
        unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
        if unshare is None or not Path(ip).exists():
            raise PcscdUnavailable("unshare (util-linux) and ip (iproute2) are needed")
        if os.geteuid() != 0:
            raise PcscdUnavailable("needs root: pcscd runs in private network and mount namespaces")
        return exe, unshare, ip

    def start(self) -> None:
        exe, unshare, ip = self._check()
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket)  # read once per process by libpcsclite
        if not self.dir.exists():
            self.dir.mkdir(mode=0o700)
            leftovers.adopt_dir(self.dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)  # a killed pcscd leaves its socket and pid file
        self.run_dir.mkdir()
        self.conf_dir.mkdir(exist_ok=True)
        (self.conf_dir / "vpcd").write_text("\n".join(self._entry(e) for e in range(ENTRIES)))
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)  # the mount point (empty on the host)
        script = f'{ip} link set lo up && mount --bind "$0" /run/pcscd && exec "$1" --foreground --config "$2"'
        with self.log.open("ab") as out:
            self.proc = leftovers.spawn(
                [unshare, "--net", "--mount", "--propagation", "private", "sh", "-c", script,
                 str(self.run_dir), exe, str(self.conf_dir)],
                label="pcscd", stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        for slot in sorted(self._reinsert):
            card = self.cards.get(slot)
            if card is not None:
                with contextlib.suppress(OSError):
                    card.insert()
        self._reinsert.clear()

    def _entry(self, entry: int) -> str:
        lib = VPCD_LIB
        if entry:  # its own copy, so that its slots are its own
            lib = self.dir / f"libifdvpcd-{entry}.so"
            if not lib.exists():
                shutil.copyfile(VPCD_LIB.resolve(), lib)
        port = VPCD_PORT + 2 * entry
        return READER_CONF.format(name=_friendly(entry), port=port, port1=port + 1, lib=lib)

    def _wait_ready(self) -> None:
        want = {self.reader(s) for s in range(SLOTS)}
        end = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < end:
            if want <= set(readers()):
                return
            p = self.proc
            if p is None or p.poll() is not None:
                raise PcscdUnavailable(f"pcscd exited with {p.returncode if p else '?'}: {self._log_tail()}")
            time.sleep(0.1)
        if self.socket.exists():
            raise PcscdUnavailable("pcscd runs but this process does not see its readers: it already talks to "
                                   "another PC/SC service (libpcsclite keeps the first socket it used)")
        raise PcscdUnavailable(f"pcscd did not offer the vpcd readers within {READY_TIMEOUT:.0f} s: "
                               f"{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-3:]) or "no output"
        except OSError:
            return "no log"

    def unplug(self) -> None:
        with PcscHost._lock:
            self.stop()

    def replug(self) -> None:
        with PcscHost._lock:
            if not self.running:
                self.start()

    def put_back(self, slot: int) -> None:
        """The card of *slot* is in its reader when pcscd comes back."""
        self._reinsert.add(slot)

    def keep_out(self, slot: int) -> None:
        self._reinsert.discard(slot)

    def stop(self) -> None:
        """pcscd goes away (its cards are taken out first; those inserted go back in at the next start)."""
        for slot, card in self.cards.items():
            if card.inserted:
                self._reinsert.add(slot)
            card.remove()
        p, self.proc = self.proc, None
        leftovers.stop(p)
