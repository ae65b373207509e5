"""Bridge drivers next to calling the vendor directly, in one run (docs/bridges.md, "Cost").

    .venv/bin/python -m benchmarks.bridges [--reads N]

- native_bridge: one ID card read (Authenticate, Read_Content, three files read and removed, fields
  mapped onto IdCardData) through the bridge — the library in its worker process — against the same
  sequence with ctypes in this process, on the simulated vendor library, the library's files written
  on the same file system (RAM) either way.  The bridge's fixed cost is crossing to the worker and back
  (the frames both ways and the switch between processes): the same engine calling the worker's own
  code in this process (same board, same private folder, no frames; ``InProcessWorker``, for this
  benchmark only) is timed too, and the difference is that cost.  The round trip of one request of two
  cheap calls (Authenticate twice) through the worker, minus the same two calls made directly, is
  printed beside it.
- http_bridge: one read through the bridge against a bare httpx POST of the same request and a JSON
  parse, on the simulated middleware.

Wall-clock medians (the worker is another process, so CPU time of this one would hide it), the kinds
measured in interleaved rounds so that a change in the machine's load falls on all of them.  Goal
(issue 19): bridge ≤ 1.2 × direct + the fixed cost stated.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gtsdk.driver import OpContext
from gtsdk.drivers.native_bridge import worker
from gtsdk.drivers.native_bridge.process import Board, WorkerProcess, decode_answer
from gtsdk.modules.idcard import CardType, IdCardData, ReadRequest

REPO = Path(__file__).resolve().parents[1]


class InProcessWorker(WorkerProcess):
    """The worker's own code (worker.py) called in this process — the same board, the library's files in the same
    private folder, but no frames and no process — so that a read through the bridge can be timed without crossing
    to the worker and back.  For this benchmark only: a vendor library that crashed would take the process with it,
    and this process works in the private folder while it lives (the library writes into the current folder)."""

    def start(self) -> None:
        self.board = Board()
        self._board = worker.Board(os.dup(self.board.fd))  # the worker's side closes the descriptor it gets
        self._lib: worker.Library | None = None
        self._calls: dict[str, list[dict[str, Any]]] = {}
        self._answer: dict[str, Any] = {}
        self._home = os.getcwd()
        os.chdir(self.cwd)

    def alive(self) -> bool:
        return self.board is not None

    def send(self, msg: dict[str, Any], timeout: float) -> None:
        if msg["op"] == "load":
            self._lib = worker.Library(msg["path"], msg["convention"], msg["functions"], msg["encoding"])
        self._answer = {"ok": True, "pid": os.getpid()}

    def send_run(self, run: int, calls_json: str, within: float, timeout: float) -> None:
        calls = self._calls.get(calls_json)
        if calls is None:  # the engine encodes a request's calls once; here they are decoded once
            calls = self._calls[calls_json] = json.loads(calls_json)
        assert self._lib is not None
        self._answer = decode_answer(worker.run(self._lib, {"id": run, "calls": calls, "within": within},
                                                self._board))

    def receive(self, timeout: float, *, cancelled: Any = None) -> dict[str, Any]:
        return self._answer

    def kill(self) -> None:
        if self.board is not None:
            os.chdir(self._home)
            self.board.close()
            self.board = None

    def stop(self, grace: float = 1.0) -> None:
        self.kill()


def interleaved(fns: dict[str, Callable[[], object]], n: int, rounds: int = 10) -> dict[str, float]:
    """Median µs of each of *fns*, n calls each, taken in *rounds* alternating rounds."""
    for fn in fns.values():
        for _ in range(max(3, n // 10)):  # warm up
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    per_round = max(1, n // rounds)
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e6 for k, v in times.items()}


def _day(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def _direct_reader(library: Path, state: Path, folder: Path) -> tuple[Callable[[], IdCardData], Callable[[], int]]:
    os.environ["ACME_IDR_STATE"] = str(state)
    lib = ctypes.CDLL(str(library))
    for name in ("InitComm", "Authenticate", "Read_Content_Path"):
        getattr(lib, name).restype = ctypes.c_int
    lib.InitComm.argtypes = [ctypes.c_int]
    lib.Read_Content_Path.argtypes = [ctypes.c_char_p, ctypes.c_int]
    assert lib.InitComm(1001) == 1
    path = str(folder).encode()

    def read() -> IdCardData:
        assert lib.Authenticate() == 1
        assert lib.Read_Content_Path(path, 2) == 1
        text = (folder / "wz.txt").read_bytes().decode("gb18030").splitlines()
        wlt = (folder / "xp.wlt").read_bytes()
        photo = (folder / "zp.bmp").read_bytes()
        for n in ("wz.txt", "xp.wlt", "zp.bmp"):
            os.unlink(folder / n)
        return IdCardData(card_type=CardType.RESIDENT, name=text[0], sex=text[1],
                          sex_code={"男": "1", "女": "2"}.get(text[1], "9"), nation_code=text[2],
                          birth_date=_day(text[3]), address=text[4], id_number=text[5], issuer=text[6],
                          valid_from=_day(text[7]), valid_until=None if text[8] == "长期" else _day(text[8]),
                          long_term=text[8] == "长期", photo_wlt=wlt, photo=photo)

    def auth_twice() -> int:
        return int(lib.Authenticate()) + int(lib.Authenticate())

    return read, auth_twice


def native(reads: int) -> dict[str, float]:
    from gtsdk.drivers.bridge_common import workdir
    from gtsdk.drivers.native_bridge.engine import NativeBridgeSettings, NativeEngine
    from gtsdk.simulators.vendors import acme_idreader

    work = Path(tempfile.mkdtemp(prefix="gtsdk-bench-bridge-"))
    sim = acme_idreader.start(work / "vendor")
    mapping = REPO / "examples" / "bridges" / "acme_idreader.yaml"
    settings = NativeBridgeSettings(mapping=str(mapping), params=sim.settings["params"])
    engine = NativeEngine("idcard", settings, lambda e, d: None)
    engine.connect()

    # its own private folder: the folder's name comes from the mapping path, the same for both engines
    here_dir = Path(tempfile.mkdtemp(prefix="gtsdk-bench-here-", dir=workdir.default_base()))
    in_process = NativeEngine("idcard", settings.model_copy(update={"workdir": str(here_dir)}), lambda e, d: None)
    in_process.worker_class = InProcessWorker
    in_process.connect()
    # the library writes its files on the same kind of file system either way: the bridge's private folder is in
    # RAM (/dev/shm) where the machine has one, so the direct reader's folder is there too
    direct_folder = Path(tempfile.mkdtemp(prefix="gtsdk-bench-direct-", dir=workdir.default_base()))
    direct_read, direct_pair = _direct_reader(sim.library, sim.state, direct_folder)
    req = ReadRequest()
    probe = engine.mapping.events.probe if engine.mapping.events else None
    assert probe is not None
    auth = engine.mapping.operations["read"].steps[0]  # Authenticate, ok: [1]
    pair = [auth, auth]  # one request of two calls, as a read makes

    def bridge_read() -> object:
        return engine.run("read", req, OpContext("bench", 10.0))

    def in_process_read() -> object:
        return in_process.run("read", req, OpContext("bench", 10.0))

    def bridge_pair() -> object:
        with engine.lock:
            return engine.run_steps(pair, engine.base_scope(), OpContext("bench", 10.0))

    def bridge_one() -> object:
        return engine.invoke(probe, engine.base_scope(), OpContext("bench", 10.0))

    assert bridge_read() == direct_read() == in_process_read()  # the same card every way
    try:
        out = interleaved({"direct_read_us": direct_read, "bridge_read_us": bridge_read,
                           "in_process_read_us": in_process_read, "direct_pair_us": direct_pair,
                           "bridge_pair_us": bridge_pair, "bridge_one_us": bridge_one}, reads)
    finally:
        engine.close()
        in_process.close()
        shutil.rmtree(here_dir, ignore_errors=True)
        sim.stop()
        shutil.rmtree(direct_folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    out["boundary_us"] = out["bridge_read_us"] - out["in_process_read_us"]
    out["round_trip_us"] = out["bridge_pair_us"] - out["direct_pair_us"]
    return out


def http(reads: int) -> dict[str, float]:
    import httpx

    from gtsdk.drivers.http_bridge.engine import HttpBridgeSettings, HttpEngine
    from gtsdk.simulators.vendors import acme_middleware

    work = Path(tempfile.mkdtemp(prefix="gtsdk-bench-mw-"))
    sim = acme_middleware.start(work)
    mapping = REPO / "examples" / "bridges" / "acme_middleware.yaml"
    engine = HttpEngine("idcard", HttpBridgeSettings(mapping=str(mapping), params=sim.settings["params"]),
                        lambda e, d: None)
    engine.connect()
    bare = httpx.Client(base_url=sim.base_url, trust_env=False, timeout=5)
    req = ReadRequest()

    def bare_read() -> Any:
        body = bare.post("/api/idcard/read", json={"waitMs": 1000}).json()
        assert body["retCode"] == "0000"
        return body["data"]

    def bridge_read() -> object:
        return engine.run("read", req, OpContext("bench", 10.0))

    try:
        out = interleaved({"bare_read_us": bare_read, "bridge_read_us": bridge_read}, reads)
    finally:
        bare.close()
        engine.close()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=200)
    args = ap.parse_args([] if __name__ != "__main__" else None)
    n = native(args.reads)
    direct, bridge, here = n["direct_read_us"], n["bridge_read_us"], n["in_process_read_us"]
    fixed = n["boundary_us"]
    print(f"native_bridge  direct ctypes read {direct:8.0f} µs   bridge read {bridge:8.0f} µs   "
          f"ratio {bridge / direct:.2f}x")
    print(f"               the same read with the worker's code called in this process {here:.0f} µs "
          f"→ fixed cost (to the worker and back) {fixed:.0f} µs per read")
    print(f"               of which one request of two calls there and back: {n['round_trip_us']:.0f} µs "
          f"({n['bridge_pair_us']:.1f} µs through the worker, {n['direct_pair_us']:.1f} µs direct; "
          f"one call alone through the worker {n['bridge_one_us']:.1f} µs)")
    print(f"               bridge ≤ 1.2 × direct + fixed?  {bridge:.0f} ≤ {1.2 * direct + fixed:.0f}  → "
          f"{'yes' if bridge <= 1.2 * direct + fixed else 'NO'}   (bridge − fixed) / direct = "
          f"{(bridge - fixed) / direct:.2f}x")
    h = http(args.reads)
    print(f"http_bridge    bare httpx read    {h['bare_read_us']:8.0f} µs   bridge read {h['bridge_read_us']:8.0f} µs"
          f"   ratio {h['bridge_read_us'] / h['bare_read_us']:.2f}x")


if __name__ == "__main__":
    main()
