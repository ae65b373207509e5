"""Bridge drivers next to calling the vendor directly, in one run (docs/bridges.md, "Cost").

    .venv/bin/python -m benchmarks.bridges [--reads N]

- native_bridge: one ID card read (Authenticate, Read_Content, three files read and removed, fields
  mapped onto IdCardData) through the bridge — the library in its worker process — against the same
  sequence with ctypes in this process, on the simulated vendor library.  The bridge's fixed cost is
  the round trip to the worker: measured here as one cheap call (Authenticate) through the bridge
  minus the same call made directly, times the calls a read makes.
- http_bridge: one read through the bridge against a bare httpx POST of the same request and a JSON
  parse, on the simulated middleware.

Wall-clock medians (the worker is another process, so CPU time of this one would hide it).  Goal
(issue 19): bridge ≤ 1.2 × direct + the fixed cost stated.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gtsdk.driver import OpContext
from gtsdk.modules.idcard import CardType, IdCardData, ReadRequest

REPO = Path(__file__).resolve().parents[1]


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
        day = lambda s: datetime.strptime(s, "%Y%m%d").date()  # noqa: E731
        return IdCardData(card_type=CardType.RESIDENT, name=text[0], sex=text[1],
                          sex_code={"男": "1", "女": "2"}.get(text[1], "9"), nation_code=text[2],
                          birth_date=day(text[3]), address=text[4], id_number=text[5], issuer=text[6],
                          valid_from=day(text[7]), valid_until=None if text[8] == "长期" else day(text[8]),
                          long_term=text[8] == "长期", photo_wlt=wlt, photo=photo)

    def auth_twice() -> int:
        return int(lib.Authenticate()) + int(lib.Authenticate())

    return read, auth_twice


def native(reads: int) -> dict[str, float]:
    from gtsdk.drivers.native_bridge.engine import NativeBridgeSettings, NativeEngine
    from gtsdk.simulators.vendors import acme_idreader

    work = Path(tempfile.mkdtemp(prefix="gtsdk-bench-bridge-"))
    sim = acme_idreader.start(work / "vendor")
    mapping = REPO / "examples" / "bridges" / "acme_idreader.yaml"
    engine = NativeEngine("idcard", NativeBridgeSettings(mapping=str(mapping), params=sim.settings["params"]),
                          lambda e, d: None)
    engine.connect()
    direct_folder = work / "direct"
    direct_folder.mkdir()
    direct_read, direct_pair = _direct_reader(sim.library, sim.state, direct_folder)
    req = ReadRequest()
    probe = engine.mapping.events.probe if engine.mapping.events else None
    assert probe is not None
    auth = engine.mapping.operations["read"].steps[0]  # Authenticate, ok: [1]
    pair = [auth, auth]  # one request of two calls, as a read makes

    def bridge_read() -> object:
        return engine.run("read", req, OpContext("bench", 10.0))

    def bridge_pair() -> object:
        with engine.lock:
            return engine.run_steps(pair, engine.base_scope(), OpContext("bench", 10.0))

    def bridge_one() -> object:
        return engine.invoke(probe, engine.base_scope(), OpContext("bench", 10.0))

    assert bridge_read() == direct_read()  # the same card either way
    try:
        out = interleaved({"direct_read_us": direct_read, "bridge_read_us": bridge_read,
                           "direct_pair_us": direct_pair, "bridge_pair_us": bridge_pair,
                           "bridge_one_us": bridge_one}, reads)
    finally:
        engine.close()
        sim.stop()
    out["fixed_us"] = out["bridge_pair_us"] - out["direct_pair_us"]
    return out


def http(reads: int) -> dict[str, float]:
    import httpx

    from gtsdk.drivers.http_bridge.engine import HttpBridgeSettings, HttpEngine
    from gtsdk.simulators.vendors import acme_middleware

    sim = acme_middleware.start(Path(tempfile.mkdtemp(prefix="gtsdk-bench-mw-")))
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
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=200)
    args = ap.parse_args([] if __name__ != "__main__" else None)
    n = native(args.reads)
    fixed = n["fixed_us"]
    print(f"native_bridge  direct ctypes read {n['direct_read_us']:8.0f} µs   bridge read {n['bridge_read_us']:8.0f} µs"
          f"   ratio {n['bridge_read_us'] / n['direct_read_us']:.2f}x")
    print(f"               two calls in one request: direct {n['direct_pair_us']:.1f} µs, through the worker "
          f"{n['bridge_pair_us']:.1f} µs → fixed IPC cost {fixed:.0f} µs per read "
          f"(one call alone through the worker: {n['bridge_one_us']:.1f} µs)")
    print(f"               bridge ≤ 1.2 × direct + fixed?  {n['bridge_read_us']:.0f} ≤ "
          f"{1.2 * n['direct_read_us'] + fixed:.0f}  → "
          f"{'yes' if n['bridge_read_us'] <= 1.2 * n['direct_read_us'] + fixed else 'NO'}"
          f"   (bridge − fixed) / direct = {(n['bridge_read_us'] - fixed) / n['direct_read_us']:.2f}x")
    h = http(args.reads)
    print(f"http_bridge    bare httpx read    {h['bare_read_us']:8.0f} µs   bridge read {h['bridge_read_us']:8.0f} µs"
          f"   ratio {h['bridge_read_us'] / h['bare_read_us']:.2f}x")


if __name__ == "__main__":
    main()
