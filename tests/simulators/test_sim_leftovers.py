"""Nothing a simulator host started outlives it (issue #18 item 9).

After ``kill -9`` of ``gtsdk serve --simulate`` its daemons (pcscd, cupsd, ippeveprinter, avahi, dbus) used to
be orphaned — 13 after three crashes — a later service silently reused the orphaned pcscd, and
/tmp/gtsdk-sim-* and /tmp/gtsdk-cups-* stayed.  Now the daemons die with their owner (parent-death signal),
and the next host reaps what the ledger says the dead owner left: by recorded PID and start time, never by
name.  Processes are counted by the PIDs recorded, not by name."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gtsdk import leftovers

BIN = Path(sys.executable).parent / "gtsdk"


def wait_until(cond, limit: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"{what} within {limit} s")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


# ---- the reaper on a hand-made ledger --------------------------------------------------------------------
def _dead_owner() -> tuple[int, int]:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    start = leftovers.start_time(p.pid)
    p.wait()
    assert start is not None and leftovers.start_time(p.pid) is None
    return p.pid, start


@pytest.mark.daemons
def test_reap_kills_recorded_processes_deletes_namespaces_and_folders(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    orphan = subprocess.Popen(["sleep", "120"])
    bystander = subprocess.Popen(["sleep", "120"])  # recorded with another start time: a reused PID
    ns = f"gtsdk-test-{os.getpid()}"
    assert subprocess.run(["ip", "netns", "add", ns], check=False).returncode == 0
    inside = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "120"])
    folder = tmp_path / "gtsdk-left-behind"
    (folder / "sub").mkdir(parents=True)
    outside = tmp_path / "not-ours"  # not a gtsdk-* folder: never removed, whatever a ledger says
    outside.mkdir()
    try:
        wait_until(lambda: leftovers.start_time(inside.pid) is not None, 5, "sleep in the namespace started")
        pid, start = _dead_owner()
        o_start, b_start = leftovers.start_time(orphan.pid), leftovers.start_time(bystander.pid)
        assert o_start is not None and b_start is not None
        (state / f"{pid}-{start}.json").write_text(json.dumps({
            "owner": {"pid": pid, "start": start},
            "processes": [{"pid": orphan.pid, "start": o_start, "label": "pcscd"},
                          {"pid": bystander.pid, "start": b_start + 1, "label": "cupsd"}],
            "dirs": [str(folder), str(outside)], "netns": [ns]}))
        me = leftovers.start_time(os.getpid())
        alive_ledger = state / f"{os.getpid()}-{me}.json"  # an owner that still runs is left alone
        alive_ledger.write_text(json.dumps({"processes": [{"pid": bystander.pid, "start": b_start}]}))

        out = leftovers.reap(state)

        assert out.owners == 1 and out.netns == 1 and out.dirs == 1, out
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert inside.wait(timeout=5) == -signal.SIGKILL  # whatever ran in the namespace is ours
        assert bystander.poll() is None, "a process with another start time was killed"
        assert not netns_exists(ns) and not folder.exists() and outside.exists()
        assert sorted(p.name for p in state.iterdir()) == [alive_ledger.name]
        assert not leftovers.reap(state), "a second reap found something"
    finally:
        for p in (orphan, bystander, inside):
            if p.poll() is None:
                p.kill()
                p.wait()
        if netns_exists(ns):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def test_spawned_daemons_die_with_their_owner(tmp_path: Path) -> None:
    """The parent-death signal: an owner killed with SIGKILL takes its daemons along at once."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        "from gtsdk import leftovers\n"
        "import threading\n"
        # started from a worker thread that then ends: the daemon must survive that, and die with the process
        "t = threading.Thread(target=lambda: print(leftovers.spawn(['sleep', '120'], label='sleep').pid, flush=True))\n"
        "t.start(); t.join()\n"
        "time.sleep(120)\n")
    env = {**os.environ, "GTSDK_SIM_STATE": str(tmp_path / "state")}
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout is not None
        daemon = int(owner.stdout.readline())
        start = leftovers.start_time(daemon)
        assert start is not None
        time.sleep(1.0)  # the spawning worker thread has ended by now
        assert leftovers.alive(daemon, start), "the daemon died with the thread that asked for it"
        ledger = json.loads(next((tmp_path / "state").glob("*.json")).read_text())
        assert [p["pid"] for p in ledger["processes"]] == [daemon]
        owner.kill()
        owner.wait(timeout=10)
        wait_until(lambda: not leftovers.alive(daemon, start), 5, "the daemon did not die with its owner")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


# ---- the service, end to end -----------------------------------------------------------------------------
class Service:
    def __init__(self, home: Path, state: Path, log: Path) -> None:
        self.port = free_port()
        self.home = home
        self.state = state
        self.log = log.open("w")
        env = {**os.environ, "GTSDK_SIM_STATE": str(state)}
        env.pop("PCSCLITE_CSOCK_NAME", None)
        self.p = subprocess.Popen([str(BIN), "serve", "--simulate", "--home", str(home), "--port", str(self.port)],
                                  stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.start = leftovers.start_time(self.p.pid)

    def wait_serving(self, limit: float = 180) -> None:
        def up() -> bool:
            assert self.p.poll() is None, f"the service exited: {self.log.name}"
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(up, limit, "the service did not start listening")

    def health(self) -> int:
        ctx = ssl.create_default_context(cafile=str(self.home / "ca.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/v1/health", context=ctx, timeout=20) as r:
            return int(r.status)

    def ledger(self) -> dict[str, list[object]]:
        path = self.state / f"{self.p.pid}-{self.start}.json"
        data: dict[str, list[object]] = json.loads(path.read_text())
        return data

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=30)
        self.log.close()


@pytest.mark.daemons
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_of_the_service_leaves_nothing_and_the_next_one_serves(tmp_path: Path) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    first = Service(home, state, tmp_path / "first.log")
    second: Service | None = None
    recorded: list[dict[str, object]] = []
    try:
        first.wait_serving()
        led = first.ledger()
        recorded = [p for p in led["processes"] if isinstance(p, dict)]
        labels = {str(p["label"]) for p in recorded}
        assert {"pcscd", "cupsd", "ippeveprinter", "avahi-daemon", "dbus-daemon"} <= labels, labels
        dirs = [Path(str(d)) for d in led["dirs"]]
        nss = [str(n) for n in led["netns"]]
        assert any(d.name.startswith("gtsdk-sim-") for d in dirs) and any(d.name.startswith("gtsdk-cups-")
                                                                          for d in dirs), dirs
        assert nss and all(netns_exists(n) for n in nss)

        first.kill()  # SIGKILL: no cleanup code of the service runs
        wait_until(lambda: not any(leftovers.alive(int(str(p["pid"])), int(str(p["start"]))) for p in recorded),
                   10, "daemons of the killed service still run")

        second = Service(home, state, tmp_path / "second.log")
        second.wait_serving()
        assert second.health() == 200
        assert not any(d.exists() for d in dirs), [d for d in dirs if d.exists()]
        assert not any(netns_exists(n) for n in nss)
        assert not (state / f"{first.p.pid}-{first.start}.json").exists()
        pcscd = [p["pid"] for p in second.ledger()["processes"] if isinstance(p, dict) and p["label"] == "pcscd"]
        assert pcscd and pcscd[0] not in {p["pid"] for p in recorded}, "the second service reused a pcscd"

        mine = [p for p in second.ledger()["processes"] if isinstance(p, dict)]
        second.p.send_signal(signal.SIGTERM)  # a clean stop leaves nothing either
        assert second.p.wait(timeout=60) == 0 or second.p.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
        assert not any(leftovers.alive(int(str(p["pid"])), int(str(p["start"]))) for p in mine)
        assert not list(state.glob("*.json")), list(state.iterdir())
    finally:
        for svc in (first, second):
            if svc is not None:
                svc.kill()
        for p in recorded:  # never leave daemons behind, even when a check failed
            pid, start = int(str(p["pid"])), int(str(p["start"]))
            if leftovers.alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        leftovers.reap(state)
