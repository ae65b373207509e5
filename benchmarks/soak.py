"""Soak: an accelerated day of the terminal service, watched for growth (issue #18).

``gtsdk serve --simulate`` (every module on its simulator) runs as a subprocess for ``--minutes`` (default 30)
while this process drives it the way a busy day would, compressed:

* ``--workers`` clients run mixed operations on all 14 modules (card reads with the card presented anew,
  signatures, fingerprints, prints, scans, recordings, speech, image processing, lights, sensors, keyboard);
* one client polls ``GET /v1/<module>/status`` (the latency judged below);
* ``--events`` WebSocket event clients stay subscribed (the typed client reconnects them);
* ``--held`` idle keep-alive connections are held open, each touching ``/v1/health`` every 15 s, and a tenth
  of them is replaced every minute;
* every 10 s a fault is injected through ``POST /v1/sim/<module>`` (unplug, stop answering, garbled frames,
  paper out, jam, …) and undone 3 s later.

Every 5 s the service process is sampled (psutil: RSS, open fds, threads; and the RSS of the simulator
processes it started). A table per minute shows operations, errors, status latency p50/p95/p99, operation
p50/p99, and the resources at the end of the minute. Judged against the same run's first minutes:

* no growth after warm-up (``--warmup`` minutes, default 8 — the all-modules run measured 1,500-2,000 operations
  of bounded caches filling: audit commits, SQLite pages, allocators — or the minute after the event ring filled
  if later):
  last-minute RSS <= warm-up RSS x 1.10 + 8 MB, fds and threads <= warm-up + 8;
* p99 status latency of every later minute within 2x of the first minute's.

The service's event ring (``[terminal] event_history``, 10,000 events by default, about 1.4 KB each) grows until
full, and at these rates (about 300 events a minute) the default ring fills in 30-odd minutes, so a shorter run
would see it as growth. The soak runs the service with a ring of ``--event-history`` events (default 1,000: full
in about 3 minutes, within the warm-up) and judges from the later of the warm-up and the minute after it filled.

Run: ``.venv/bin/python -m benchmarks.soak [--minutes 30]`` (``GTSDK_SOAK_MINUTES`` also sets it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
CONFIG = "[service]\nrate_limit = 100000.0\nrate_burst = 100000\n"
#: the soak's event ring: ~3 minutes of its events, so the ring is full before the judged minutes begin
SOAK_EVENT_HISTORY = 1_000
#: (module, action, params) to break a device and the action that mends it
FAULTS: tuple[tuple[str, str, dict[str, Any], str, dict[str, Any]], ...] = (
    ("lights", "stop_answering", {}, "answer", {}),
    ("sensors", "garble", {}, "answer", {}),
    ("qr_scanner", "unplug", {}, "replug", {}),
    ("idcard", "unplug", {}, "replug", {}),
    ("receipt_printer", "paper_out", {}, "load_paper", {}),
    ("a4_printer", "jam", {}, "clear_fault", {}),
    ("fingerprint", "unplug", {}, "replug", {}),
    ("signature_pad", "unplug", {}, "replug", {}),
    ("microphone", "unplug", {}, "replug", {}),
    ("voice", "unplug", {}, "replug", {}),
    ("travel_doc", "unplug", {}, "replug", {}),
)


def _png() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(img).rectangle((40, 30, 280, 210), outline="black", width=3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Minute:
    status_ms: list[float] = field(default_factory=list)
    op_ms: list[float] = field(default_factory=list)
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[float, int, int, float, int]] = field(default_factory=list)  # rss MB, fds, threads, kids
    seq: int = 0  # the highest event seq the service had published by the end of the minute


#: the service keeps its newest 10,000 events for clients that reconnect (gtsdk/runtime/events.py, about 1.4 KB
#: each; ``[terminal] event_history``): the ring is part of the warm-up until it is full, so growth is judged
#: from the later of the warm-up and the minute the ring filled
EVENT_RING = 10_000


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


class Soak:
    def __init__(self, base: Path, minutes: float, workers: int, events: int, held: int, seed: int) -> None:
        from gtsdk.server import tls
        from gtsdk.server.tokens import TokenStore

        self.base, self.minutes, self.workers, self.n_events, self.n_held = base, minutes, workers, events, held
        self.home = base / "home"
        self.home.mkdir(parents=True)
        tls.ensure(self.home)
        tokens = TokenStore(self.home)
        self.app_token = tokens.create(["app"], app="soak")
        self.maint_token = tokens.create(["maintenance"], app="soak")
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.t0 = 0.0
        self.minutes_data: list[Minute] = []
        self.lock = threading.Lock()
        self.png = _png()
        self.events_seen = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.disabled: set[str] = set()
        self.trace_memory = False
        self.only: set[str] = set()  # --modules: the workers' operations on these modules only
        self.ring = SOAK_EVENT_HISTORY  # --event-history: the service's event ring

    # ---- the service ------------------------------------------------------------------------------
    def start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        (self.base / "terminal.toml").write_text(f"[terminal]\nevent_history = {self.ring}\n\n{CONFIG}")
        (self.base / "tmp").mkdir()
        env = {**os.environ, "TMPDIR": str(self.base / "tmp"), "GTSDK_SOAK_TRACE": str(self.base / "tracemalloc.txt")}
        entry = TRACED_ENTRY if self.trace_memory else "from gtsdk.cli import main; main()"
        cmd = [sys.executable, "-c", entry, "serve", "--simulate", "--home",
               str(self.home), "--port", str(self.port), "--config", str(self.base / "terminal.toml"),
               "--workdir", str(self.base / "sim")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.base / "service.log", "wb"), env=env)  # noqa: SIM115
        import httpx

        ctx = ssl.create_default_context(cafile=str(self.home / "ca.pem"))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"service exited; see {self.base / 'service.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/health", verify=ctx, timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise SystemExit("service did not answer /v1/health within 90 s")
        with self.client(self.app_token) as c:
            for entry in c.services().modules:
                if entry.state == "disabled" or entry.driver is None:  # no simulator (camera without a face photo)
                    self.disabled.add(entry.module)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, token: str) -> Any:
        from gtsdk.client import Client

        return Client(self.url, token, ca=self.home / "ca.pem", timeout=60)

    def minute(self) -> Minute:
        i = int((time.monotonic() - self.t0) // 60)
        with self.lock:
            while len(self.minutes_data) <= i:
                self.minutes_data.append(Minute())
            return self.minutes_data[i]

    # ---- the day's work -----------------------------------------------------------------------------
    def tasks(self, c: Any, m: Any) -> list[tuple[str, float, Callable[[], Any]]]:
        def later(delay: float, fn: Callable[[], Any]) -> None:
            t = threading.Timer(delay, lambda: _quiet(fn))
            t.daemon = True
            t.start()

        def idcard() -> None:
            _quiet(lambda: m.sim("idcard", "remove"))
            m.sim("idcard", "insert")
            c.idcard.read(timeout=10)

        def travel_doc() -> None:
            c.travel_doc.open()
            m.sim("travel_doc", "insert", mrz=MRZ)
            c.travel_doc.read(mrz=MRZ, timeout=30)

        def signature() -> None:
            c.signature_pad.open()
            later(0.3, lambda: m.sim("signature_pad", "sign", what="张三", then="ok"))
            c.signature_pad.get_signature(prompt="请签名", timeout=20)

        def fingerprint() -> None:
            c.fingerprint.open()
            m.sim("fingerprint", "place_finger", person="zhangsan")
            c.fingerprint.capture(timeout=20)
            _quiet(lambda: m.sim("fingerprint", "remove_finger"))

        def qr() -> None:
            c.qr_scanner.open()
            later(0.2, lambda: m.sim("qr_scanner", "present", text="https://zwfw.example/q/GT-0001"))
            c.qr_scanner.read(timeout=10)

        def receipt() -> None:
            c.receipt_printer.init()
            c.receipt_printer.print(elements=[{"type": "text", "text": "政务服务自助终端"},
                                              {"type": "qr", "data": "GT-0001", "size": 4}])
            c.receipt_printer.cut(partial=True, feed_lines=2)

        def a4() -> None:
            job = c.a4_printer.print(document=PDF, format="pdf", copies=1, timeout=30)
            c.a4_printer.job_status(job_id=job.job_id)

        def microphone() -> None:
            c.microphone.open()
            c.microphone.start_recording(sample_rate=16000, channels=1, max_duration=1.0)
            time.sleep(0.3)
            c.microphone.stop_recording()

        def lights() -> None:
            light = self.rng.choice(["idcard", "qr", "receipt"])
            c.lights.on(light=light)
            c.lights.flash(light=light, period=0.5)
            c.lights.off(light=light)

        out: list[tuple[str, float, Callable[[], Any]]] = [
            ("idcard", 4, idcard), ("travel_doc", 1, travel_doc), ("signature_pad", 1, signature),
            ("fingerprint", 2, fingerprint), ("qr_scanner", 3, qr), ("receipt_printer", 2, receipt),
            ("a4_printer", 1, a4), ("microphone", 1, microphone), ("lights", 4, lights),
            ("sensors", 4, lambda: c.sensors.read()),
            ("imaging", 2, lambda: c.imaging.crop(image=self.png, rect={"x": 40, "y": 30, "width": 240,
                                                                          "height": 180}, format="png")),
            ("voice", 1, lambda: c.voice.speak(text="请放置证件", wait=True, timeout=20)),
            ("keyboard", 2, lambda: (c.keyboard.show(layout="idNumber", field="id"), c.keyboard.hide())),
            ("camera", 1, lambda: c.camera.capture(timeout=10)),
        ]
        return [t for t in out if t[0] not in self.disabled and (not self.only or t[0] in self.only)]

    def worker(self, n: int) -> None:
        from gtsdk.client import ServiceError

        with self.client(self.app_token) as c, self.client(self.maint_token) as m:
            tasks = self.tasks(c, m)
            weights = [w for _, w, _ in tasks]
            while not self.stop.is_set():
                name, _, fn = self.rng.choices(tasks, weights)[0]
                t = time.perf_counter()
                try:
                    fn()
                    ok, code = True, ""
                except ServiceError as e:
                    ok, code = False, f"{name}:{e.code}"
                except Exception as e:  # noqa: BLE001 - a benchmark counts every client failure by its type
                    ok, code = False, f"{name}:{type(e).__name__}"
                ms = (time.perf_counter() - t) * 1000
                mi = self.minute()
                with self.lock:
                    mi.op_ms.append(ms)
                    if ok:
                        mi.ok += 1
                    else:
                        mi.errors[code] += 1
                if not ok:
                    self.stop.wait(0.2)  # a device that fails at once is not hammered

    def status_poller(self) -> None:
        with self.client(self.app_token) as c:
            mods = [e.module for e in c.services().modules]
            while not self.stop.is_set():
                t = time.perf_counter()
                try:
                    c.status(self.rng.choice(mods))
                    ms = (time.perf_counter() - t) * 1000
                    mi = self.minute()
                    with self.lock:
                        mi.status_ms.append(ms)
                except Exception as e:  # noqa: BLE001 - a benchmark counts every client failure by its type
                    mi = self.minute()
                    with self.lock:
                        mi.errors[f"status:{type(e).__name__}"] += 1
                self.stop.wait(0.05)

    def event_client(self) -> None:
        with self.client(self.app_token) as c:
            for ev in c.events():
                mi = self.minute()
                with self.lock:
                    self.events_seen += 1
                    mi.seq = max(mi.seq, ev.seq)
                if self.stop.is_set():
                    return

    def held_connections(self) -> None:
        import httpx

        ctx = ssl.create_default_context(cafile=str(self.home / "ca.pem"))

        def fresh() -> httpx.Client:
            return httpx.Client(base_url=self.url, verify=ctx, timeout=30)

        conns = [fresh() for _ in range(self.n_held)]
        last_churn = time.monotonic()
        try:
            while not self.stop.is_set():
                for cl in conns:
                    with contextlib.suppress(httpx.HTTPError):
                        cl.get("/v1/health")
                if time.monotonic() - last_churn >= 60:
                    last_churn = time.monotonic()
                    for i in range(min(len(conns), max(1, self.n_held // 10))):
                        conns[i].close()
                        conns[i] = fresh()
                    self.rng.shuffle(conns)
                self.stop.wait(15)
        finally:
            for cl in conns:
                cl.close()

    def faults(self) -> None:
        with self.client(self.maint_token) as m:
            while not self.stop.wait(10):
                mod, act, params, undo, uparams = self.rng.choice(FAULTS)
                if mod in self.disabled:
                    continue
                _quiet(functools.partial(m.sim, mod, act, **params))
                self.stop.wait(3)
                _quiet(functools.partial(m.sim, mod, undo, **uparams))

    def sampler(self) -> None:
        import psutil

        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        while not self.stop.wait(5):
            try:
                kids = p.children(recursive=True)
                kid_rss = 0
                for k in kids:
                    with contextlib.suppress(psutil.Error):
                        kid_rss += k.memory_info().rss
                row = (p.memory_info().rss / 2**20, p.num_fds(), p.num_threads(), kid_rss / 2**20, len(kids))
            except psutil.Error:
                return
            mi = self.minute()
            with self.lock:
                mi.samples.append(row)

    # ---- run and judge --------------------------------------------------------------------------------
    def run(self) -> int:
        self.start()
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(self.workers)]
        threads += [threading.Thread(target=f, daemon=True) for f in (self.status_poller, self.held_connections,
                                                                       self.faults, self.sampler)]
        threads += [threading.Thread(target=self.event_client, daemon=True) for _ in range(self.n_events)]
        for t in threads:
            t.start()
        print(f"soak: {self.minutes:g} min, {self.workers} workers, {self.n_events} event clients, {self.n_held} "
              f"held connections, faults every 10 s; modules without a simulator: {sorted(self.disabled) or '-'}")
        print(HEADER, flush=True)
        shown = 0
        end = self.t0 + self.minutes * 60
        traced = False
        while time.monotonic() < end:
            if self.trace_memory and not traced and time.monotonic() - self.t0 >= self.warmup * 60:
                traced = True
                self._snapshot()
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            done = int((time.monotonic() - self.t0) // 60)
            while shown < min(done, len(self.minutes_data)):
                print(self.line(shown), flush=True)
                shown += 1
        if self.trace_memory:
            self._snapshot()
        self.stop.set()
        for t in threads:
            t.join(20)
        self.shutdown()
        if self.trace_memory and (self.base / "tracemalloc.txt").exists():
            print("memory allocated since the end of warm-up (tracemalloc, top 25 lines):")
            print((self.base / "tracemalloc.txt").read_text())
        while shown < len(self.minutes_data) and shown < int(self.minutes):
            print(self.line(shown), flush=True)
            shown += 1
        return self.judge()

    def _snapshot(self) -> None:
        """Ask the traced service for a snapshot (the second one is compared with the first)."""
        assert self.proc is not None
        ready = self.base / "tracemalloc.ready"
        flag = self.base / "tracemalloc.txt" if ready.exists() else ready
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not flag.exists():
            time.sleep(0.2)

    def line(self, i: int) -> str:
        mi = self.minutes_data[i]
        s = mi.samples[-1] if mi.samples else (float("nan"), 0, 0, float("nan"), 0)
        errs = sum(mi.errors.values())
        return (f"{i + 1:>4} {mi.ok:>6} {errs:>6} {len(mi.status_ms):>7} {pct(mi.status_ms, 50):>8.1f} "
                f"{pct(mi.status_ms, 95):>8.1f} {pct(mi.status_ms, 99):>8.1f} {pct(mi.op_ms, 50):>8.0f} "
                f"{pct(mi.op_ms, 99):>8.0f} {s[0]:>8.1f} {s[1]:>5} {s[2]:>5} {s[3]:>8.1f} {s[4]:>4}")

    def shutdown(self) -> None:
        import psutil

        assert self.proc is not None
        kids: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            print("service did not stop within 60 s of SIGTERM: killed")
            self.proc.kill()
            self.proc.wait(10)
        left = [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
        if left:
            print(f"left running after a clean stop (killed now): {[k.name() for k in left]}")
            for k in left:
                with contextlib.suppress(psutil.Error):
                    k.kill()

    def judge(self) -> int:
        full = [m for m in self.minutes_data[: int(self.minutes)] if m.samples and m.status_ms]
        if len(full) < 2:
            print("too short to judge")
            return 0
        errors: Counter[str] = Counter()
        for m in full:
            errors.update(m.errors)
        print(f"operations {sum(m.ok for m in full)} ok, {sum(errors.values())} errors "
              f"({', '.join(f'{k} {v}' for k, v in errors.most_common(8))}); events received {self.events_seen}")
        seqs = [m.seq for m in full]
        filled = next((i + 1 for i, q in enumerate(seqs) if q >= self.ring), None)
        # the ring grows until full (~1.4 KB an event): growth is judged from the later of the warm-up and the
        # minute after the one it filled in, when there are minutes left to judge
        w = max(1, int(self.warmup))
        if filled is not None and filled + 1 > w:
            w = filled + 1
        w = min(len(full) - 1, w)
        base, last = full[w - 1], full[-1]
        print(f"events published {seqs[-1]} (~{seqs[-1] / len(full):.0f} a minute); the service's event ring "
              f"({self.ring:,} events) " + (f"filled in minute {filled}" if filled else "never filled") +
              ("" if filled is not None and filled < w else
               f"; it was not full before the baseline minute {w}: up to its ~{1.4 * self.ring / 1000:.0f} MB counts "
               "as growth below (a longer run judges from the minute after it filled)"))

        def med(m: Minute, i: int) -> float:
            return statistics.median(s[i] for s in m.samples)

        rss0, rss1 = med(base, 0), med(last, 0)
        fd0, fd1 = med(base, 1), med(last, 1)
        th0, th1 = med(base, 2), med(last, 2)
        kid0, kid1 = med(base, 3), med(last, 3)
        p99_first = pct(full[0].status_ms, 99)
        ratios = [pct(m.status_ms, 99) / p99_first for m in full[1:]]
        over = [i + 2 for i, r in enumerate(ratios) if r > 2.0]
        ok_ops = sum(m.ok for m in full)
        verdicts = [
            ("operations succeed (the injected faults aside)",
             f"{ok_ops} ok, {sum(errors.values())} errors", sum(errors.values()) <= max(ok_ops, 1) * 0.25),
            ("service RSS", f"{rss0:.1f} -> {rss1:.1f} MB ({rss1 / rss0:.2f}x)", rss1 <= rss0 * 1.10 + 8),
            ("open fds", f"{fd0:.0f} -> {fd1:.0f}", fd1 <= fd0 + 8),
            ("threads", f"{th0:.0f} -> {th1:.0f}", th1 <= th0 + 8),
            ("simulator processes RSS", f"{kid0:.1f} -> {kid1:.1f} MB ({kid1 / kid0 if kid0 else 0:.2f}x)",
             kid1 <= kid0 * 1.10 + 16),
            ("p99 status latency vs minute 1",
             f"{p99_first:.1f} ms; later minutes {min(ratios):.2f}x-{max(ratios):.2f}x, median "
             f"{statistics.median(ratios):.2f}x; over 2x: {over or 'none'}", not over),
        ]
        per_min = (rss1 - rss0) / max(1, len(full) - w)
        # a warm-up that ends flattens out; growth that does not shows in the second half as much as in the first
        half = w + (len(full) - w) // 2
        late = (rss1 - med(full[half - 1], 0)) / max(1, len(full) - half)
        print(f"after warm-up and the ring (minute {w} -> minute {len(full)}; RSS {per_min:+.2f} MB a minute, "
              f"{late:+.2f} MB a minute from minute {half}):")
        for name, text, good in verdicts:
            print(f"  {'ok  ' if good else 'FAIL'} {name}: {text}")
        return 0 if all(g for _, _, g in verdicts) else 1

    warmup: float = 8


#: the service with tracemalloc; SIGUSR1 takes a snapshot, the next SIGUSR1 writes the difference
TRACED_ENTRY = """
import os, signal, tracemalloc
from pathlib import Path
tracemalloc.start(8)
out = Path(os.environ["GTSDK_SOAK_TRACE"])
first = []
def snap(signum, frame):
    s = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    if not first:
        first.append(s)
        (out.parent / "tracemalloc.ready").write_text("")
        return
    lines = [str(d) for d in s.compare_to(first[0], "lineno")[:25]]
    # the whole stack of the five largest: a line inside a C extension (pycups) says little on its own
    for d in s.compare_to(first[0], "traceback")[:5]:
        lines += ["", f"{d.size_diff / 1e3:+.1f} KB in {d.count_diff:+d} blocks, allocated at:"]
        lines += d.traceback.format(most_recent_first=True)
    out.write_text("\\n".join(lines) + "\\n")
signal.signal(signal.SIGUSR1, snap)
from gtsdk.cli import main
main()
"""

HEADER = (" min     ok   errs  status   st-p50   st-p95   st-p99   op-p50   op-p99   rss-MB   fds   thr  sim-MB "
          "sims\n" + " " * 29 + "(ms)     (ms)     (ms)     (ms)     (ms)")


def _quiet(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):
        fn()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("GTSDK_SOAK_MINUTES", "30")))
    ap.add_argument("--warmup", type=float, default=8, help="minutes before growth is judged")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--events", type=int, default=3)
    ap.add_argument("--held", type=int, default=50)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (home, service.log)")
    ap.add_argument("--modules", default="", help="comma-separated: operations on these modules only (to find "
                                                   "which one grows)")
    ap.add_argument("--trace-memory", action="store_true",
                    help="run the service under tracemalloc and print what was allocated after warm-up (slower)")
    ap.add_argument("--event-history", type=int, default=SOAK_EVENT_HISTORY,
                    help="the service's event ring ([terminal] event_history; the service's own default is "
                         f"{EVENT_RING:,}, which fills in about 30 minutes at the soak's rates)")
    a, _ = ap.parse_known_args(argv if argv is not None else sys.argv[1:])
    base = Path(tempfile.mkdtemp(prefix="gtsdk-soak-"))
    soak = Soak(base, a.minutes, a.workers, a.events, a.held, a.seed)
    soak.warmup = a.warmup
    soak.trace_memory = a.trace_memory
    soak.only = {m for m in a.modules.split(",") if m}
    soak.ring = a.event_history
    try:
        rc = soak.run()
    finally:
        if soak.proc is not None and soak.proc.poll() is None:
            soak.proc.kill()
            soak.proc.wait(10)
        if a.keep:
            print(f"work dir: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    if rc:
        raise SystemExit(rc)


if __name__ == "__main__":
    main()
