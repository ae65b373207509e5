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
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gtsdk.driver import OpContext
from gtsdk.modules.idcard import CardType, IdCardData, ReadRequest

REPO = Path(__file__).resolve().parents[1]


def median_us(fn: Callable[[], object], n: int) -> float:
    for _ in range(max(3, n // 10)):  # warm up
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


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

    return read, lambda: int(lib.Authenticate())


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
    direct_read, direct_auth = _direct_reader(sim.library, sim.state, direct_folder)
    req = ReadRequest()
    probe = engine.mapping.events.probe if engine.mapping.events else None
    assert probe is not None

    def bridge_read() -> object:
        return engine.run("read", req, OpContext("bench", 10.0))

    def bridge_auth() -> object:
        return engine.invoke(probe, engine.base_scope(), OpContext("bench", 10.0))

    assert bridge_read() == direct_read()  # the same card either way
    try:
        out = {"direct_read_us": median_us(direct_read, reads), "bridge_read_us": median_us(bridge_read, reads),
               "direct_call_us": median_us(direct_auth, reads * 3), "bridge_call_us": median_us(bridge_auth, reads * 3)}
    finally:
        engine.close()
        sim.stop()
    out["ipc_per_call_us"] = out["bridge_call_us"] - out["direct_call_us"]
    out["calls_per_read"] = 2
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
        out = {"bare_read_us": median_us(bare_read, reads), "bridge_read_us": median_us(bridge_read, reads)}
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
    fixed = n["ipc_per_call_us"] * n["calls_per_read"]
    print(f"native_bridge  direct ctypes read {n['direct_read_us']:8.0f} µs   bridge read {n['bridge_read_us']:8.0f} µs"
          f"   ratio {n['bridge_read_us'] / n['direct_read_us']:.2f}x")
    print(f"               one call: direct {n['direct_call_us']:.1f} µs, through the worker "
          f"{n['bridge_call_us']:.1f} µs → fixed IPC cost {n['ipc_per_call_us']:.0f} µs/call, "
          f"{fixed:.0f} µs per read ({n['calls_per_read']} calls)")
    print(f"               bridge ≤ 1.2 × direct + fixed?  {n['bridge_read_us']:.0f} ≤ "
          f"{1.2 * n['direct_read_us'] + fixed:.0f}  → "
          f"{'yes' if n['bridge_read_us'] <= 1.2 * n['direct_read_us'] + fixed else 'NO'}"
          f"   (bridge − fixed) / direct = {(n['bridge_read_us'] - fixed) / n['direct_read_us']:.2f}x")
    h = http(args.reads)
    print(f"http_bridge    bare httpx read    {h['bare_read_us']:8.0f} µs   bridge read {h['bridge_read_us']:8.0f} µs"
          f"   ratio {h['bridge_read_us'] / h['bare_read_us']:.2f}x")


if __name__ == "__main__":
    main()
