"""A real CUPS print path in temporary directories: cupsd → ipp backend → ippeveprinter.

Following docs/test-peers.md §3: ippeveprinter needs DNS-SD, so an
avahi-daemon with a loopback-only configuration (``AVAHI_CONF`` below)
runs in a network namespace this stack creates.  It and ippeveprinter talk over a
private D-Bus started for the stack (ippeveprinter aborts when its avahi goes
away, so stacks never share one).
ippeveprinter listens on every address (it has no bind option), so it and
cupsd run inside that namespace too: nothing listens outside it.  pycups reaches
cupsd through its Unix socket, which is a file and so crosses namespaces.

Faults are injected the two ways docs/test-peers.md §3 describes:
- ippeveprinter's media web form: tray level 0 → ``media-empty`` (jobs wait until paper is loaded);
  supplies form: toner level 0 → ``toner-empty``;
- its ``-c`` print command reads a fault keyword and writes ``STATE: +media-jam-error`` etc.

Every process is started here through :mod:`gtsdk.leftovers` (it dies with its owner, and a crashed
owner's daemons, namespace and folder are reaped by the next host) and stopped by its PID.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from gtsdk import leftovers

AVAHI_CONF = """[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=lo
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=no
[reflector]
enable-reflector=no
"""

PRINT_COMMAND = """#!/bin/sh
# ippeveprinter -c hook: $1 is the spooled document.  "STATE: +reason" lines on stderr set
# printer-state-reasons (docs/test-peers.md §3).
dir="{out}"
n=$(cat "$dir/.next" 2>/dev/null || echo 0)
echo $((n + 1)) > "$dir/.next"
cp "$1" "$dir/doc-$n-$(basename "$1")" 2>/dev/null
env | grep -E '^(IPP_|CONTENT_TYPE)' | sort > "$dir/env-$n.txt"
# the newest {keep} documents only: a simulated printer in `gtsdk serve --simulate` prints for days
old=$((n - {keep}))
if [ $old -ge 0 ]; then rm -f "$dir"/doc-$old-* "$dir/env-$old.txt"; fi
fault=$(cat "{fault}" 2>/dev/null)
if [ -n "$fault" ]; then
  # a jammed printer stops with the job in it until the jam is cleared, as real printers do; a job that
  # failed at once raced with CUPS' ipp backend, which reports success when its wait loop sees the aborted
  # job before its monitor thread does (backend/ipp.c, CUPS 2.4)
  touch "{held}"
  echo "STATE: +$fault" >&2
  echo "ERROR: simulated $fault" >&2
  polls=0
  while [ -s "{fault}" ] && [ $polls -lt {max_polls} ] && kill -0 $PPID 2>/dev/null; do
    sleep 0.2
    polls=$((polls + 1))
  done
  rm -f "{held}"
  if [ -s "{fault}" ]; then
    exit 1
  fi
fi
echo "STATE: -media-jam-error,door-open-error,media-empty-error" >&2
sleep {delay}
exit 0
"""

def print_command(out: Path, fault: Path, held: Path, *, delay: float, fault_hold: float, keep: int) -> str:
    """The shell command ippeveprinter runs for each job (``-c``): keeps the newest *keep* documents in *out*."""
    return PRINT_COMMAND.format(out=out, fault=fault, held=held, delay=delay, max_polls=max(1, round(fault_hold / 0.2)),
                                keep=max(1, keep))


#: finished jobs stay in CUPS' history for 2 minutes (the driver keeps its own final states): with the history
#: kept for ever, cupsd refused every job after its default MaxJobs of 500 ("Too many active jobs", seen as
#: invalidState after 500 prints of the soak) and grew with each; the time bound keeps both in check
CUPSD_CONF = """LogLevel warn
Listen {sock}
Listen 127.0.0.1:{port}
Browsing No
WebInterface No
DefaultAuthType None
JobRetryInterval 1
PreserveJobFiles No
PreserveJobHistory 120
MaxJobs 0
MaxJobTime 0
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

CUPS_FILES_CONF = """ServerRoot {root}/etc
RequestRoot {root}/spool
TempDir {root}/tmp
CacheDir {root}/cache
StateDir {root}/state
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
SystemGroup root
FileDevice No
"""


# an HTTP GET run inside the namespace (ippeveprinter's web forms are only reachable there)
_GET = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"


DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class StackError(RuntimeError):
    """The print stack cannot start here (missing binary, no netns, ...): a reason to skip, not a bug."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _stop(p: subprocess.Popen[bytes] | None) -> None:
    leftovers.stop(p)


class CupsStack:
    QUEUE = "kiosk"

    def __init__(self, workdir: Path, *, print_delay: float = 0.2, fault_hold: float = 120.0,
                 keep_printed: int = 1000) -> None:
        self.workdir = workdir
        self.print_delay = print_delay
        #: documents (with their job attributes) kept in ``out``, the newest; older ones are deleted
        self.keep_printed = keep_printed
        #: seconds a jammed printer holds a job before it gives up on it (the job is then aborted)
        self.fault_hold = fault_hold
        # filters run as user lp: the CUPS tree must be reachable, so it lives under /tmp, not the workdir
        self.root = leftovers.make_temp_dir("gtsdk-cups-")
        self.netns = f"gtsdk-a4-{uuid.uuid4().hex[:8]}"
        self.sock = self.root / "cups.sock"
        self.bus = self.root / "system_bus_socket"
        self.cups_port = free_port()
        self.ipp_port = free_port()
        self.out = workdir / "printed"
        self.fault_file = workdir / "fault"
        self.held_file = workdir / "fault-held"  # present while a job waits at the jammed printer
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dbus: subprocess.Popen[bytes] | None = None
        self.avahi: subprocess.Popen[bytes] | None = None
        self.ippeve: subprocess.Popen[bytes] | None = None
        self.cupsd: subprocess.Popen[bytes] | None = None
        self._netns_made = False

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> CupsStack:
        for b in ("cupsd", "ippeveprinter", "avahi-daemon", "dbus-daemon", "dbus-send", "lpadmin", "ip", "unshare",
                  "ipptool"):
            if shutil.which(b) is None and not Path("/usr/sbin", b).exists():
                raise StackError(f"{b} is not installed")
        if os.geteuid() != 0:
            raise StackError("needs root (network namespace, cupsd)")
        atexit.register(self.stop)  # a test run that ends without stop() leaves no daemons or netns behind
        try:
            self.root.chmod(0o755)
            self._netns()
            self._dbus()
            self._avahi()
            self._ippeveprinter()
            self._cupsd()
            self._queue()
        except BaseException:
            self.stop()
            raise
        return self

    def _ns(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd]

    def _netns(self) -> None:
        leftovers.add_netns(self.netns)  # recorded first: a kill -9 right after the add leaves nothing unrecorded
        r = _run(["ip", "netns", "add", self.netns])
        if r.returncode != 0:
            leftovers.remove_netns(self.netns)
            raise StackError(f"cannot create network namespace: {r.stderr.strip()}")
        self._netns_made = True
        _run(["ip", "-n", self.netns, "link", "set", "lo", "up"])

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.bus}"}

    def _dbus(self) -> None:
        """A private D-Bus "system" bus for this stack (the machine's /run/dbus is left alone)."""
        conf = self.root / "dbus.conf"
        conf.write_text(DBUS_CONF.format(bus=self.bus))
        self.dbus = leftovers.spawn(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
                                    label="dbus-daemon", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(lambda: self.bus.exists(), "private D-Bus", 5, proc=self.dbus)

    def _avahi_up(self) -> bool:
        r = _run(["dbus-send", f"--bus=unix:path={self.bus}", "--print-reply", "--dest=org.freedesktop.DBus",
                  "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.Avahi"], 5)
        return "boolean true" in r.stdout

    def _avahi(self) -> None:
        """avahi-daemon with a loopback-only configuration, inside the namespace, on the private bus.

        Its pid file path is fixed (/run/avahi-daemon/pid), so it runs in a private mount namespace
        with a tmpfs there: several stacks (parallel test runs) never share or stop each other's avahi.
        """
        conf = self.root / "avahi-lo.conf"
        conf.write_text(AVAHI_CONF)
        Path("/run/avahi-daemon").mkdir(parents=True, exist_ok=True)
        script = ("mount -t tmpfs -o size=1m gtsdk-avahi /run/avahi-daemon && exec avahi-daemon -f \"$0\" "
                  "--no-drop-root --no-chroot --no-rlimits --no-proc-title")
        self.avahi = leftovers.spawn(
            self._ns(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(conf)]),
            label="avahi-daemon", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env())
        self._wait(self._avahi_up, "avahi-daemon", 8, proc=self.avahi)

    def _ippeveprinter(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        spool = self.root / "ipp-spool"
        spool.mkdir(exist_ok=True)
        cmd = self.root / "printcmd.sh"
        cmd.write_text(print_command(self.out, self.fault_file, self.held_file, delay=self.print_delay,
                                     fault_hold=self.fault_hold, keep=self.keep_printed))
        cmd.chmod(0o755)
        with (self.root / "ippeveprinter.log").open("ab") as log:
            self.ippeve = leftovers.spawn(
                self._ns(["ippeveprinter", "-n", "localhost", "-p", str(self.ipp_port), "-k", "-2", "-s", "20,10",
                          "-d", str(spool), "-c", str(cmd), "-f",
                          "application/pdf,image/jpeg,image/pwg-raster,image/urf",
                          "-M", "gtsdk", "-m", "KioskA4", "-l", "kiosk", "KioskA4"]),
                label="ippeveprinter", stdout=log, stderr=subprocess.STDOUT, env=self._env())
        self._wait(lambda: self._ipp_up(), "ippeveprinter", 10, proc=self.ippeve)
        self.set_paper(250)  # A4 stationery in the main tray (ippeveprinter starts with US letter)

    def _ipp_up(self) -> bool:
        try:
            self.web("/")
            return True
        except OSError:
            return False

    def web(self, path: str) -> str:
        """GET on ippeveprinter's web interface inside the namespace (its media/supplies forms)."""
        r = _run(self._ns([sys.executable, "-c", _GET, f"http://localhost:{self.ipp_port}{path}"]), timeout=8)
        if r.returncode != 0:
            raise OSError(f"GET {path} failed: {r.stderr.strip()[-200:]}")
        return r.stdout

    def _cupsd(self) -> None:
        for d in ("etc/ppd", "spool/tmp", "tmp", "cache", "state", "log"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        (self.root / "etc" / "cupsd.conf").write_text(CUPSD_CONF.format(sock=self.sock, port=self.cups_port))
        files = self.root / "etc" / "cups-files.conf"
        files.write_text(CUPS_FILES_CONF.format(root=self.root))
        self.cupsd = leftovers.spawn(self._ns(["cupsd", "-f", "-c", str(self.root / "etc" / "cupsd.conf"),
                                               "-s", str(files)]),
                                     label="cupsd", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(lambda: self.sock.exists(), "cupsd", 10, proc=self.cupsd)

    def _queue(self) -> None:
        uri = f"ipp://localhost:{self.ipp_port}/ipp/print"
        r = _run(["lpadmin", "-h", str(self.sock), "-p", self.QUEUE, "-E", "-v", uri, "-m", "everywhere"], 30)
        if r.returncode != 0:
            raise StackError(f"lpadmin failed: {r.stderr.strip()}")

    def _wait(self, pred, what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            if proc is not None and proc.poll() is not None:
                raise StackError(f"{what} exited with {proc.returncode}")
            time.sleep(0.05)
        raise StackError(f"{what} did not come up within {timeout} s")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for attr in ("cupsd", "ippeve", "avahi", "dbus"):
            p = getattr(self, attr)
            if p is not None:
                _stop(p)
                setattr(self, attr, None)
        if self._netns_made:
            _run(["ip", "netns", "del", self.netns])
            leftovers.remove_netns(self.netns)
            self._netns_made = False
        leftovers.remove_temp_dir(self.root)

    # ---- faults --------------------------------------------------------------------------------------
    def set_paper(self, sheets: int) -> None:
        """Main tray level (0 = media-empty; jobs wait until paper is loaded) — ippeveprinter's media form."""
        # this ippeveprinter's form has two trays (size1/type1/level1, size2/...); the second is left unused (-2)
        self.web(f"/media?size1=iso_a4_210x297mm&type1=stationery&level1={sheets}&size2=&type2=&level2=-2")

    def set_toner(self, percent: int) -> None:
        self.web(f"/supplies?supply0={percent}&supply1={percent}")

    def set_fault(self, reason: str | None) -> None:
        """The printer jams (or its door opens) with *reason*, e.g. ``media-jam-error``, or the fault is cleared.

        A job reaching the faulted printer stops there with the reason set until the fault is cleared; it then
        completes (or is aborted after ``fault_hold`` seconds).  Clearing with no job waiting power-cycles
        ippeveprinter: its reasons otherwise keep the fault of an aborted job until the next job's print
        command runs, which is not what a cleared jam looks like.
        """
        if reason:
            self.fault_file.write_text(reason)
            return
        had = self.fault_file.exists()
        with contextlib.suppress(FileNotFoundError):
            self.fault_file.unlink()
        if had and not self.held_file.exists() and self.ippeve is not None:
            self.kill_printer()
            self.revive_printer()

    def kill_printer(self) -> None:
        """The printer vanishes (offline): CUPS keeps the job and retries."""
        if self.ippeve is not None:
            _stop(self.ippeve)
            self.ippeve = None

    def stop_cupsd(self) -> None:
        """The print server vanishes (the driver's connection fails)."""
        if self.cupsd is not None:
            _stop(self.cupsd)
            self.cupsd = None

    def start_cupsd(self) -> None:
        """The print server comes back with its queues (cupsd saved printers.conf when it stopped)."""
        if self.cupsd is None:
            with contextlib.suppress(FileNotFoundError):
                self.sock.unlink()
            self._cupsd()

    def revive_printer(self) -> None:
        if self.ippeve is None:
            self._ippeveprinter()
