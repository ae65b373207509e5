"""Rolling an update out to a simulated fleet, next to merely delivering the bundle's bytes.

    .venv/bin/python -m benchmarks.updates [--terminals 1000] [--canary 10] [--percents 50,100] [--wheel-kib 256]

One Mosquitto (TLS, per-terminal certificates), the platform (ingest worker, rollout thread, HTTPS API serving the
bundle) on SQLite in this process, and ``--terminals`` simulated terminals in other processes (50 each) — each a
real fleet agent with its own MQTT session and an update root holding version 1.0.  Measured:

1. **delivery**: every terminal downloads the bundle over HTTPS from the platform at once (32 at a time, as the
   rollout's terminals do when they receive their commands) — the bytes alone;
2. **rollout**: ``POST /api/v1/rollouts`` (canary, then the percentages) → 95 % and 100 % of the terminals
   reported ``updated`` to the platform: command, download, SM3 and SM2 checks, unpacking, the versioned site
   directory, the switch, probation (1 s) and the report in the next heartbeat (1 s);
3. the CPU seconds the platform process and the broker used during the rollout, and the per-stage times.

The bundle carries one pure-Python wheel and no changed driver (certification runs ``certify-driver`` against the
device, a few seconds per terminal that this machine would only serialise; tests/updates/test_updates_rollout.py
certifies).  Ratios are against the delivery time measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gtsdk.fleet.httpd import RunningApi
    from gtsdk.fleet.platform import Platform
    from gtsdk.fleet.users import User

PER_PROCESS = 50


def _wheel(tmp: Path, version: str, kib: int) -> Path:
    """A pure-Python wheel of *version* with *kib* KiB of incompressible payload, built by pip."""
    tree = tmp / f"bench-{version}"
    (tree / "bench_plugin").mkdir(parents=True, exist_ok=True)
    (tree / "bench_plugin" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (tree / "bench_plugin" / "payload.bin").write_bytes(os.urandom(kib * 1024))
    (tree / "pyproject.toml").write_text(f"""
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"
[project]
name = "bench-plugin"
version = "{version}"
[tool.setuptools]
packages = ["bench_plugin"]
[tool.setuptools.package-data]
bench_plugin = ["payload.bin"]
""")
    out = tmp / f"w-{version}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(tree)], check=True, timeout=300, capture_output=True)
    return next(out.glob("*.whl"))


# ---- the terminals' process ----------------------------------------------------------------------------------
def terminals_process(spec_path: str) -> None:
    from gtsdk.crypto import load_public_pem
    from gtsdk.fleet.agent import AgentConfig
    from gtsdk.fleet.simulate import SimTerminal, SimulatedFleet, plan_fleet
    from gtsdk.updates.installer import Policy, Updater
    from gtsdk.updates.remote import (
        InProcessControl,
        LocalSwitcher,
        SiteEnvironment,
        https_fetch,
        status,
        update_handler,
    )
    from gtsdk.updates.trust import Identity, TrustStore

    spec = json.loads(Path(spec_path).read_text())
    plans = {p.terminal_id: p for p in plan_fleet(spec["fleet_size"], seed=11)}
    release = load_public_pem(spec["release_pub"].encode())
    configs = []
    updaters: dict[str, Updater] = {}
    for t in spec["terminals"]:
        home = Path(t["home"])
        cfg = AgentConfig.from_table({"broker": spec["broker"], "terminal_id": t["id"], "region": t["region"],
                                      "heartbeat_interval": 1}, terminal={}, home=home)
        configs.append((plans[t["id"]], cfg))
        root = home / "software"
        if not (root / "current").exists():
            TrustStore(root / "trusted").add(release)
        u = Updater(root, identity=Identity(t["id"], region=t["region"]), environment=SiteEnvironment(),
                    control=InProcessControl(health=lambda: {"lights": "online"}),
                    policy=Policy(probation=1.0, health_grace=0.5))
        if u.current is None:
            u.install_base(Path(spec["base"]))
        updaters[t["id"]] = u
    switchers: list[LocalSwitcher] = []

    def extension(t: SimTerminal) -> tuple[dict[str, Any], Any]:
        u = updaters[t.plan.terminal_id]
        sw = LocalSwitcher(u, poll=0.25)
        switchers.append(sw)
        return ({"update": update_handler(u, fetch=https_fetch(t.cfg.identity.ca), request_switch=sw.request)},
                lambda: {"updates": status(u)})

    # many TLS handshakes at once starve each other on two cores: the terminals come up 20 at a time
    sim = SimulatedFleet(configs, speed=0.0, outage_rate=0.0, extension=extension)
    sim.start(offline={c.terminal_id for _p, c in configs})
    for i, t in enumerate(sim.terminals):
        sim.start_agent(t)
        if i % 20 == 19:
            assert t.agent is not None
            t.agent.wait_connected(30)
    print("ready", flush=True)
    # delivery baseline on request: every terminal downloads the bundle, 32 at a time
    for line in sys.stdin:
        cmd = line.strip()
        if cmd.startswith("deliver "):
            url = cmd.split(" ", 1)[1]
            ctx = ssl.create_default_context(cafile=str(configs[0][1].identity.ca))

            def get(_i: int, url: str = url, ctx: ssl.SSLContext = ctx) -> int:
                with urllib.request.urlopen(url, context=ctx, timeout=120) as r:
                    n = 0
                    while chunk := r.read(1 << 20):
                        n += len(chunk)
                    return n

            t0 = time.perf_counter()
            with ThreadPoolExecutor(spec["parallel"]) as ex:
                total = sum(ex.map(get, range(len(configs))))
            print(f"delivered {time.perf_counter() - t0:.3f} {total}", flush=True)
        elif cmd == "stop":
            break
    for sw in switchers:
        sw.stop()
    sim.stop()


# ---- the platform side -----------------------------------------------------------------------------------------
class _Bench:
    """The platform side of one run: broker, platform and its HTTPS API, the two bundles, the terminals' processes."""

    def __init__(self, a: argparse.Namespace) -> None:
        from gtsdk.fleet.lab import LocalFleet

        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix="gtsdk-bench-updates-"))
        self.fleet = LocalFleet(self.tmp / "fleet")
        self.procs: list[subprocess.Popen[str]] = []
        self.platform: Platform | None = None
        self.api: RunningApi | None = None

    def start_platform(self) -> tuple[Platform, RunningApi]:
        """Broker, platform on SQLite, its API; the release key; bundle 1.0 (the base) and 1.1 (the update)."""
        from gtsdk.crypto import SM2PrivateKey
        from gtsdk.fleet.api import build_app
        from gtsdk.fleet.httpd import start_background
        from gtsdk.fleet.platform import Platform, PlatformConfig
        from gtsdk.fleet.store import db
        from gtsdk.updates import bundle
        from gtsdk.updates.manifest import Manifest

        self.broker = self.fleet.start_broker("province")
        self.engine = db.open_engine(str(self.tmp / "fleet.sqlite"))
        db.create_schema(self.engine)
        home = self.fleet.home
        platform = self.platform = Platform(PlatformConfig(home=home.path, db="", broker=self.broker.url, workers=1,
                                                           rollout_interval=1.0), engine=self.engine).start()
        self.key = SM2PrivateKey.generate()
        (home.path / "release-keys").mkdir(exist_ok=True)
        (home.path / "release-keys" / "r.pem").write_bytes(self.key.public_key().to_pem())
        cert, tls_key = platform.home.https_files(["127.0.0.1"])
        api = self.api = start_background(build_app(platform), cert, tls_key)
        platform.rollouts.base_url = api.url
        self.base = self.tmp / "base.tar"
        bundle.build(self.base, Manifest(name="bench", version="1.0"), wheels=[_wheel(self.tmp, "1.0", 4)],
                     key=self.key)
        self.update = self.tmp / "update.tar"
        bundle.build(self.update, Manifest(name="bench", version="1.1"),
                     wheels=[_wheel(self.tmp, "1.1", self.a.wheel_kib)], key=self.key)
        return platform, api

    def start_terminals(self) -> None:
        """Enrol the terminals, start their processes, and wait until every one is online (1.0 installed)."""
        from gtsdk.fleet.simulate import plan_fleet

        a = self.a
        t0 = time.perf_counter()
        terms = []
        for p in plan_fleet(a.terminals, seed=11):
            home = self.tmp / "t" / p.terminal_id
            self.fleet.enrol_terminal(self.engine, p.terminal_id, p.region, home, "province")
            terms.append({"id": p.terminal_id, "region": p.region, "home": str(home)})
        print(f"enrolled {a.terminals} terminals in {time.perf_counter() - t0:.1f} s")
        # paho-mqtt's loop uses select(), which cannot watch descriptors above 1024: at most PER_PROCESS terminals
        # (a socket and three SQLite connections each) share a process
        parts = [terms[i:i + PER_PROCESS] for i in range(0, len(terms), PER_PROCESS)]
        t0 = time.perf_counter()
        for i, part in enumerate(parts):
            spec = self.tmp / f"spec-{i}.json"
            spec.write_text(json.dumps({"broker": self.broker.url, "terminals": part, "base": str(self.base),
                                        "fleet_size": a.terminals, "parallel": max(2, 32 // len(parts)),
                                        "release_pub": self.key.public_key().to_pem().decode()}))
            self.procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks.updates", "--terminals-proc",
                                                str(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for proc in self.procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a terminals' process did not start")
        deadline = time.monotonic() + 600
        while self.online() < a.terminals and time.monotonic() < deadline:
            time.sleep(0.5)
        print(f"{self.online()} terminals online after {time.perf_counter() - t0:.1f} s (install of 1.0 included)")

    def online(self) -> int:
        from sqlalchemy import func, select

        from gtsdk.fleet.store import schema as s

        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).where(s.terminals.c.online.is_(True))).scalar() or 0)

    def deliver(self, url: str, size: int) -> float:
        """1. the bytes alone: every process downloads *url* for its terminals at once; the seconds it took."""
        t0 = time.perf_counter()
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"deliver {url}\n")
            proc.stdin.flush()
        total = 0
        for proc in self.procs:
            assert proc.stdout is not None
            total += int(proc.stdout.readline().split()[2])
        deliver_s = time.perf_counter() - t0
        print(f"delivery: {self.a.terminals} x {size / 1024:.0f} KiB over HTTPS, about 32 at a time: {deliver_s:.2f} s "
              f"({total / deliver_s / 1e6:.1f} MB/s)")
        return deliver_s

    def rollout(self, platform: Platform, user: User, sm3: str, deliver_s: float) -> None:
        """2. and 3.: the rollout to 95 % and 100 % updated, its stages, and the CPU the platform and broker used."""
        import psutil

        from gtsdk.fleet.rollout import RolloutRequest

        me = psutil.Process()
        mosq = psutil.Process(self.broker.process.pid) if self.broker.process.pid else None
        cpu0, mq0 = me.cpu_times(), mosq.cpu_times() if mosq else None
        percents = [float(x) for x in self.a.percents.split(",") if x]
        t0 = time.perf_counter()
        doc = platform.rollouts.create(user, RolloutRequest(bundle=sm3, canary_count=self.a.canary, percents=percents,
                                                            failure_threshold=0.05))
        marks, stage_done = _watch(platform, doc["id"], t0)
        cpu1, mq1 = me.cpu_times(), mosq.cpu_times() if mosq else None
        _print_rollout(platform.rollouts.get(None, doc["id"], terminals=False), self.a, marks, stage_done, deliver_s)
        wall = marks.get("end", time.perf_counter() - t0)
        plat = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        print(f"  platform process CPU: {plat:.1f} s ({plat / wall:.0%} of one core over the rollout)")
        if mq0 and mq1:
            broker = (mq1.user + mq1.system) - (mq0.user + mq0.system)
            print(f"  broker CPU: {broker:.1f} s ({broker / wall:.0%} of one core)")

    def stop(self) -> None:
        """The terminals' processes (asked, then killed after 120 s), the API, the platform, the broker, the files."""
        for proc in self.procs:
            try:
                if proc.stdin:
                    proc.stdin.write("stop\n")
                    proc.stdin.flush()
            except BrokenPipeError:
                pass
        for proc in self.procs:
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.api is not None:
            self.api.stop()
        if self.platform is not None:
            self.platform.stop()
        self.fleet.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _watch(platform: Platform, rid: str, t0: float) -> tuple[dict[str, float], dict[int, float]]:
    """Seconds after *t0* at which 95 % were updated and the rollout ended; and at which each stage finished."""
    marks: dict[str, float] = {}
    stage_done: dict[int, float] = {}
    while time.perf_counter() - t0 < 1800:
        d = platform.rollouts.get(None, rid, terminals=False)
        for i, st in enumerate(d["stages"]):
            if i not in stage_done and st["counts"]["updated"] + st["counts"]["failed"] >= st["size"]:
                stage_done[i] = time.perf_counter() - t0
        if d["updated"] / d["total"] >= 0.95 and "95" not in marks:
            marks["95"] = time.perf_counter() - t0
        if d["state"] in ("done", "halted"):
            marks["end"] = time.perf_counter() - t0
            break
        time.sleep(0.2)
    return marks, stage_done


def _print_rollout(d: dict[str, Any], a: argparse.Namespace, marks: dict[str, float], stage_done: dict[int, float],
                   deliver_s: float) -> None:
    print(f"rollout: canary {a.canary}, then {a.percents} % — state {d['state']}, "
          f"{d['updated']} updated, {d['failed']} failed of {d['total']}")
    for i, st in enumerate(d["stages"]):
        if i in stage_done:
            print(f"  stage {st['name']:<7} ({st['size']:>4} terminals) finished at {stage_done[i]:6.1f} s")
    if "95" in marks:
        print(f"  95 % updated after {marks['95']:.1f} s = {marks['95'] / deliver_s:.1f}x the delivery time")
    if "end" in marks:
        print(f"  100 % after {marks['end']:.1f} s = {marks['end'] / deliver_s:.1f}x the delivery time")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--canary", type=int, default=10)
    ap.add_argument("--percents", default="50,100")
    ap.add_argument("--wheel-kib", type=int, default=256)
    ap.add_argument("--terminals-proc")
    a = ap.parse_args()
    if a.terminals_proc:
        terminals_process(a.terminals_proc)
        return

    from gtsdk.fleet.users import User

    bench = _Bench(a)
    try:
        platform, api = bench.start_platform()
        bench.start_terminals()
        user = User("bench", "province", "330000", None)
        up = bench.tmp / "upload.tar"
        shutil.copy(bench.update, up)
        sm3 = platform.rollouts.upload_file(user, up)["sm3"]
        deliver_s = bench.deliver(f"{api.url}/fleet/bundles/{sm3}", bench.update.stat().st_size)
        bench.rollout(platform, user, sm3, deliver_s)
    finally:
        bench.stop()


if __name__ == "__main__":
    threading.stack_size(512 * 1024)  # a thousand agents' threads
    main()
