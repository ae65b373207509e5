"""The travel-document simulator's pcscd belongs to its process (issue #18 items 5 and 13).

Each process runs its own pcscd in private network and mount namespaces: vpcd's TCP ports are not reachable
from the host's network namespace (let alone the LAN), simulators in different processes never share or stop
each other's pcscd (the long-session stall: one process stopped the machine-wide pcscd another was using),
there is no machine-wide limit of two, and a virtual chip that raises does not leave pcscd waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _netstat import interfaces, listeners, netns, socket_inodes

from gtsdk import leftovers
from gtsdk.errors import GtsdkError
from gtsdk.runtime.config import ModuleConfig, TerminalConfig
from gtsdk.runtime.terminal import Terminal
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators.travel_doc import SAMPLES, TravelDocSimulation

pytestmark = [pytest.mark.peer, pytest.mark.daemons]

REPO = Path(__file__).resolve().parents[2]
VPCD_PORTS = {35963, 35964}

#: another process with its own simulated reader: "read" reads a document, "quit" stops
OTHER = r'''
import json, sys
from pathlib import Path
from gtsdk.runtime.config import ModuleConfig, TerminalConfig
from gtsdk.simulated import SimulatedTerminal, simulated_terminal
from gtsdk.simulators.travel_doc import SAMPLES
t = simulated_terminal(Path(sys.argv[1]), modules=["travel_doc"])  # a folder of the test's tmp_path
if "travel_doc" not in t.simulations:
    print(json.dumps({"error": t.devices["travel_doc"].disabled_reason}), flush=True)
    raise SystemExit(1)
t.start()
sim = t.simulations["travel_doc"]
print(json.dumps({"ready": sim.host.proc.pid, "reader": sim.reader}), flush=True)
for line in sys.stdin:
    if line.strip() == "quit":
        break
    sim.control("insert", {"doc": "cs"})
    try:
        d = t.travel_doc.read(mrz=SAMPLES["cs"], timeout=10, read_photo=False)
        print(json.dumps({"read": d.document_type}), flush=True)
    except Exception as e:
        print(json.dumps({"read": None, "error": str(e)}), flush=True)
    sim.control("remove", {})
t.stop()
print(json.dumps({"stopped": True}), flush=True)
'''


class Other:
    """A simulated reader in another process."""

    def __init__(self, tmp: Path, name: str) -> None:
        script = tmp / f"{name}.py"
        script.write_text(OTHER)
        self.p = subprocess.Popen([sys.executable, str(script), str(tmp / f"{name}-home")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        self.info = self.reply(60)
        assert "ready" in self.info, f"a simulator in another process did not start: {self.info}"

    def reply(self, timeout: float) -> dict[str, object]:
        import select

        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert ready, "the other process did not answer in time"
        line = self.p.stdout.readline()
        assert line, "the other process ended"
        out: dict[str, object] = json.loads(line)
        return out

    def send(self, cmd: str, timeout: float = 30) -> dict[str, object]:
        assert self.p.stdin is not None
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.reply(timeout)

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.wait(timeout=20)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait(timeout=10)


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path_factory.mktemp("traveldoc-iso"), modules=["travel_doc"])
    if "travel_doc" not in t.simulations:
        t.stop()
        pytest.skip(f"PC/SC peer unavailable: {t.devices['travel_doc'].disabled_reason}")
    with t:
        yield t


def _sim(t: SimulatedTerminal) -> TravelDocSimulation:
    s = t.simulations["travel_doc"]
    assert isinstance(s, TravelDocSimulation)
    return s


def _read(t: SimulatedTerminal, sim: TravelDocSimulation) -> str:
    sim.control("insert", {"doc": "cs"})
    try:
        return str(t.travel_doc.read(mrz=SAMPLES["cs"], timeout=10, read_photo=False).document_type)
    finally:
        sim.control("remove", {})


def test_pcscd_and_vpcd_listen_only_inside_a_private_namespace(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    assert sim.host.proc is not None
    pid = sim.host.proc.pid
    assert netns(pid) != netns(), "pcscd runs in the host's network namespace"
    assert interfaces(pid) == ["lo"], "pcscd's namespace has an interface besides lo"
    inside = [x for x in listeners(pid) if x.port in VPCD_PORTS]
    assert inside, "vpcd's ports not found in pcscd's namespace (the check would prove nothing)"
    # from the host's namespace: no socket of pcscd listens, and nothing of ours listens off loopback
    host = listeners()
    owned = socket_inodes(pid)
    assert not [x for x in host if x.inode in owned], "pcscd holds a listening socket in the host namespace"
    daemons = [int(p["pid"]) for p in leftovers.ledger().processes.values()]
    assert pid in daemons, "pcscd is not in the ledger"
    ours = set().union(*(socket_inodes(d) for d in daemons))
    exposed = [x for x in host if x.inode in ours and not x.loopback]
    assert not exposed, f"simulator daemons listen on non-loopback addresses: {exposed}"


def test_simulators_in_other_processes_neither_share_nor_stop_our_pcscd(term: SimulatedTerminal,
                                                                        tmp_path: Path) -> None:
    sim = _sim(term)
    assert _read(term, sim) == "CS"
    # two more processes: three simulated readers on one machine (vpcd's two ports used to be the limit)
    a, c = Other(tmp_path, "a"), Other(tmp_path, "c")
    try:
        pids = {sim.host.proc.pid if sim.host.proc else 0, a.info["ready"], c.info["ready"]}
        assert len(pids) == 3, "processes share a pcscd"
        assert a.send("read")["read"] == "CS" and c.send("read")["read"] == "CS"
        assert _read(term, sim) == "CS"
        a.close()  # its pcscd stops: ours and c's stay
        assert a.p.returncode == 0
        assert _read(term, sim) == "CS"
        assert c.send("read")["read"] == "CS"
    finally:
        a.close()
        c.close()
    assert _read(term, sim) == "CS"


def test_a_chip_that_raises_does_not_stall_the_reader(term: SimulatedTerminal, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = _sim(term)
    sim.control("insert", {"doc": "cs"})
    assert sim.chip is not None
    real = sim.chip.handle
    calls = {"n": 0}

    def flaky(apdu: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("chip bug")
        return real(apdu)

    monkeypatch.setattr(sim.chip, "handle", flaky)
    t0 = time.monotonic()
    with pytest.raises(GtsdkError):  # the first APDU gets 6F00: the read fails with a code, at once
        term.travel_doc.read(mrz=SAMPLES["cs"], timeout=10, read_photo=False)
    assert time.monotonic() - t0 < 9, "the read waited for its deadline: vpcd was left without an answer"
    d = term.travel_doc.read(mrz=SAMPLES["cs"], timeout=10, read_photo=False)
    assert d.document_type == "CS"
    sim.control("remove", {})


def test_readers_per_process_then_a_clear_refusal(term: SimulatedTerminal, tmp_path: Path) -> None:
    from gtsdk.simulators import travel_doc
    from gtsdk.simulators.travel_doc.pcscd import SLOTS, PcscHost

    host = _sim(term).host
    more: list[travel_doc.TravelDocSimulation] = []
    try:
        while len(host.users) < SLOTS:  # the session's terminal may hold a reader of this process too
            more.append(travel_doc.start(tmp_path / f"r{len(more)}"))
        readers = {_sim(term).reader, *(m.reader for m in more)}
        assert all(m.host is host for m in more) and len(readers) == len(more) + 1
        assert set(PcscHost.reader(s) for s in range(SLOTS)) <= set(travel_doc.pcscd.readers())
        last = more[-1]  # on the second vpcd entry (its own copy of the library): a reader like the first
        assert last.reader == PcscHost.reader(SLOTS - 1)
        cfg = TerminalConfig()
        cfg.modules["travel_doc"] = ModuleConfig(module="travel_doc", driver="icao_pcsc", settings=last.settings)
        with Terminal(cfg) as other:
            last.control("insert", {"doc": "cd"})  # each reader is its own: a card in one is in no other
            with pytest.raises(GtsdkError) as e:
                term.travel_doc.read(mrz=SAMPLES["cd"], timeout=1.5, read_photo=False)
            assert e.value.code == "timeOut"
            d = other.travel_doc.read(mrz=SAMPLES["cd"], timeout=10, read_photo=False)
            assert d.document_type == "CD"
            last.control("remove", {})
        with pytest.raises(GtsdkError) as e:
            travel_doc.start(tmp_path / "one-too-many")
        assert e.value.code == "noDevice" and "another process" in e.value.detail
    finally:
        for m in more:
            m.stop()
    assert host.running, "stopping simulators stopped the process's pcscd"
    assert _read(term, _sim(term)) == "CS"


def test_the_client_socket_is_private(term: SimulatedTerminal) -> None:
    sim = _sim(term)
    sock = os.environ.get("PCSCLITE_CSOCK_NAME", "")
    assert sock == str(sim.host.socket) and Path(sock).is_socket()
    assert not sock.startswith("/run/pcscd/"), "the machine's pcscd socket path is used"
