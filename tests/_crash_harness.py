"""Crash consistency (issue #18): ``kill -9`` the terminal service at random points under load, restart it, and
check what survived.

Each round starts the service as a subprocess (by default a light one: the real ``gtsdk.server`` over a few
in-process simulators; ``--full`` runs ``gtsdk serve --simulate`` with every module), drives operations from
several clients while tokens are created, rotated and revoked, and kills it with SIGKILL after a random
delay.  After each restart:

* the audit chain verifies (``AuditLog.verify``, head file included);
* every operation answered 200 to a client is in the audit log (acknowledged = committed);
* no request id appears twice (no duplicate rows);
* every token whose creation returned authenticates, every revoked one is refused;
* no process started by a killed service survives it (``expect_no_orphans``, on by default: the daemons of
  the simulators die with their owner and a new host reaps a crashed predecessor's ledger, gtsdk.leftovers);
* (``expect_clean_tmp``) nothing is left in the service's TMPDIR after the last, clean stop but the empty
  ledger folder.

``tests/server/test_crash_consistency.py`` runs a few rounds; for many::

    .venv/bin/python tests/_crash_harness.py --rounds 50 [--full] [--seed 7] [--expect-clean-tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

LIGHT_MODULES = ("idcard", "lights", "sensors", "qr_scanner", "signature_pad")
#: operations the clients send (module, operation, body; timeouts in ms on the wire); qr reads time out on purpose
LOAD: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("lights", "on", {"light": "idcard"}), ("lights", "off", {"light": "idcard"}),
    ("lights", "flash", {"light": "qr", "period_ms": 200}), ("sensors", "read", {}),
    ("idcard", "read", {"timeout": 3000}), ("qr_scanner", "read", {"timeout": 100}),
)
SERVICE = """
import sys
from pathlib import Path
from gtsdk.server.config import parse_service
from gtsdk.server.run import build, serve_forever
from gtsdk.simulated import simulated_terminal
home, port, workdir, modules = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4].split(",")
terminal = simulated_terminal(workdir, modules=modules)
app = build(terminal, parse_service({"rate_limit": 100000, "rate_burst": 100000}, base_dir=home), home,
            simulate=True)
terminal.start()
try:
    serve_forever(app, port=port)
finally:
    terminal.stop()
"""
FULL_CONFIG = "[service]\nrate_limit = 100000.0\nrate_burst = 100000\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Outcome:
    rounds: int = 0
    acknowledged: int = 0
    answered_other: int = 0
    audited: int = 0
    tokens_checked: int = 0
    orphans: list[str] = field(default_factory=list)
    leftover_tmp: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Harness:
    def __init__(self, base: Path, *, full: bool = False, seed: int | None = None, clients: int = 4,
                 expect_no_orphans: bool = True, expect_clean_tmp: bool = False, head_interval: float = 0.5) -> None:
        self.base, self.full, self.clients = base, full, clients
        self.expect_no_orphans, self.expect_clean_tmp = expect_no_orphans, expect_clean_tmp
        self.home = base / "home"
        self.tmp = base / "tmp"  # the service's TMPDIR: what it leaves there is visible
        self.home.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(exist_ok=True)
        self.rng = random.Random(seed)
        self.head_interval = head_interval
        self.acked: set[str] = set()
        self.live_tokens: set[str] = set()
        self.revoked_tokens: set[str] = set()
        self.out = Outcome()
        self.proc: subprocess.Popen[bytes] | None = None
        self._ack_lock = threading.Lock()
        self._kill_after_acks: int | None = None
        self._killed_kids: list[psutil.Process] | None = None
        self.port = 0
        from gtsdk.server import tls
        from gtsdk.server.tokens import TokenStore

        tls.ensure(self.home)
        self.tls = ssl.create_default_context(cafile=str(self.home / "ca.pem"))
        self.tokens = TokenStore(self.home)
        self.app_token = self.tokens.create(["app"], app="crash")
        self.maint_token = self.tokens.create(["maintenance"], app="crash")

    # ---- the service ------------------------------------------------------------------------------
    def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, "TMPDIR": str(self.tmp), "GTSDK_AUDIT_HEAD_INTERVAL": str(self.head_interval)}
        workdir = self.base / f"sim{self.out.rounds}"
        if self.full:
            cfg = self.base / "terminal.toml"
            cfg.write_text(FULL_CONFIG)
            cmd = [sys.executable, "-c", "from gtsdk.cli import main; main()", "serve", "--simulate", "--home",
                   str(self.home), "--port", str(self.port), "--config", str(cfg), "--workdir", str(workdir)]
        else:
            cmd = [sys.executable, "-c", SERVICE, str(self.home), str(self.port), str(workdir),
                   ",".join(LIGHT_MODULES)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.base / "service.log", "ab"), env=env)  # noqa: SIM115
        deadline = time.monotonic() + 60
        with self.client(self.app_token) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"service exited with {self.proc.returncode}; see {self.base}/service.log")
                with contextlib.suppress(httpx.HTTPError):
                    if c.get("/v1/health").status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise RuntimeError("service did not answer /v1/health within 60 s")
        with self.client(self.maint_token) as c:  # a card on the simulated reader, so reads name a person
            c.post("/v1/sim/idcard", json={"action": "insert", "params": {}})

    def client(self, token: str, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=f"https://127.0.0.1:{self.port}", verify=self.tls,
                            headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def kill(self) -> list[psutil.Process]:
        """SIGKILL the service; return the processes it had started (candidates for orphans)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return []
        try:
            kids: list[psutil.Process] = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kids = []
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return kids

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    # ---- load -------------------------------------------------------------------------------------
    def _client_loop(self, n: int, stop: threading.Event) -> None:
        seq = 0
        with self.client(self.app_token) as c:
            while not stop.is_set():
                mod, op, body = self.rng.choice(LOAD)
                rid = f"r{self.out.rounds}-{n}-{seq}"
                seq += 1
                try:
                    r = c.post(f"/v1/{mod}/{op}", json=body, headers={"X-Request-Id": rid})
                except httpx.HTTPError:
                    return  # the service is gone
                if r.status_code == 200:
                    self.acked.add(rid)
                    self.out.acknowledged += 1
                    if self._kill_after_acks is not None:
                        with self._ack_lock:
                            self._kill_after_acks -= 1
                            if self._kill_after_acks == 0:  # the moment an answer arrives: the tightest race
                                self._killed_kids = self.kill()
                                return
                else:
                    self.out.answered_other += 1

    def _token_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            tok = self.tokens.create(["app"], app="churn")
            self.live_tokens.add(tok)
            if len(self.live_tokens) > 3:
                old = self.rng.choice(sorted(self.live_tokens - {tok}))
                if self.tokens.revoke(old.split("_")[1]):
                    self.live_tokens.discard(old)
                    self.revoked_tokens.add(old)
            stop.wait(0.05)

    def round(self) -> None:
        """One round: load, kill -9 at a random moment, restart, check."""
        stop = threading.Event()
        # half the rounds kill at a random time, half right after the n-th answer 200 reaches a client
        self._kill_after_acks = self.rng.randint(1, 20) if self.rng.random() < 0.5 else None
        self._killed_kids = None
        threads = [threading.Thread(target=self._client_loop, args=(i, stop), daemon=True)
                   for i in range(self.clients)]
        threads.append(threading.Thread(target=self._token_loop, args=(stop,), daemon=True))
        for t in threads:
            t.start()
        if self._kill_after_acks is None:
            time.sleep(self.rng.uniform(0.3, 2.5))
            kids = self.kill()
        else:
            deadline = time.monotonic() + 60
            while self._killed_kids is None and time.monotonic() < deadline:
                time.sleep(0.01)
            kids = self._killed_kids if self._killed_kids is not None else self.kill()
        stop.set()
        for t in threads:
            t.join(30)
        self.out.rounds += 1
        time.sleep(0.5)
        self._orphans(kids)
        self.start()
        self.check()

    def _orphans(self, kids: list[psutil.Process]) -> None:
        alive = [p for p in kids if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        self.out.orphans += [f"{p.pid} {p.name()}" for p in alive]
        for p in alive:  # reported (a problem with expect_no_orphans), then ended by PID so nothing is left
            with contextlib.suppress(psutil.Error):
                p.kill()

    # ---- checks -----------------------------------------------------------------------------------
    def check(self) -> None:
        from gtsdk.audit import SELF_MODULE, AuditLog

        log = AuditLog(self.home, readonly=True)
        try:
            res = log.verify()
            rows = log.query(limit=100_000)
        finally:
            log.close(sign=False)
        if not res.ok:
            self.out.problems += [f"round {self.out.rounds}: verify: {p}" for p in res.problems]
        ids = Counter(r["request_id"] for r in rows if r["module"] != SELF_MODULE)
        self.out.audited = len(rows)
        dup = [k for k, n in ids.items() if n > 1]
        if dup:
            self.out.problems.append(f"round {self.out.rounds}: duplicate rows for {sorted(dup)[:5]}")
        lost = self.acked - set(ids)
        if lost:
            self.out.problems.append(f"round {self.out.rounds}: {len(lost)} acknowledged operations not audited, "
                                     f"e.g. {sorted(lost)[:5]}")
        for tok in list(self.live_tokens)[:2] + list(self.revoked_tokens)[-2:]:
            with self.client(tok) as c:
                code = c.post("/v1/lights/on", json={"light": "idcard"}).status_code
            self.out.tokens_checked += 1
            want = 200 if tok in self.live_tokens else 401
            if code != want:
                self.out.problems.append(f"round {self.out.rounds}: token answered {code}, expected {want}")

    def finish(self) -> Outcome:
        """Stop the last service cleanly and list what it and its killed predecessors left in TMPDIR."""
        self.stop()
        ledger = f"gtsdk-sim-state-{os.getuid()}"  # gtsdk.leftovers' ledger folder: stays, empty
        left = sorted(p.name for p in self.tmp.iterdir()
                      if not (p.name == ledger and p.is_dir() and not any(p.iterdir())))
        self.out.leftover_tmp = left
        if self.expect_clean_tmp and left:
            self.out.problems.append(f"left in TMPDIR after a clean stop: {left[:5]}")
        if self.expect_no_orphans and self.out.orphans:
            self.out.problems.append(f"orphaned processes: {self.out.orphans[:5]}")
        return self.out


def run(base: Path, rounds: int, **kw: Any) -> Outcome:
    h = Harness(base, **kw)
    try:
        h.start()
        for _ in range(rounds):
            h.round()
    finally:
        out = h.finish()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--full", action="store_true", help="gtsdk serve --simulate (every module) instead of a few")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--allow-orphans", action="store_true", help="report orphan processes without failing")
    ap.add_argument("--expect-clean-tmp", action="store_true", help="fail on anything left in the TMPDIR")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a new temp dir)")
    a = ap.parse_args()
    import tempfile

    base = a.dir or Path(tempfile.mkdtemp(prefix="gtsdk-crash-"))
    t0 = time.monotonic()
    out = run(base, a.rounds, full=a.full, seed=a.seed, clients=a.clients, expect_no_orphans=not a.allow_orphans,
              expect_clean_tmp=a.expect_clean_tmp)
    print(json.dumps({**out.__dict__, "seconds": round(time.monotonic() - t0, 1), "dir": str(base)}, indent=2))
    if out.problems:
        sys.exit(1)
    if a.dir is None:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
