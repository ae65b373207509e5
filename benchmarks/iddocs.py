"""Identity documents: ID card text+photo read at 115200 baud vs wire time, and ICAO BAC+DG1+DG2 read time.

ID card: the simulator paces its replies at the line rate (10 bits/byte at 8N1), so wire time is real.
Baselines measured in the same run:
- the wire time of the 1295-byte 30 01 reply (112.4 ms at 115200) and of every frame of the read;
- a bare pyserial exchange of the same three commands (find, select, read) on the same pty: the floor.

Travel document: pcscd + vpcd + the simulated chip; baseline = the plain APDU round trip through pcscd
(GET CHALLENGE) times the number of APDUs the read needs.

Run: ``.venv/bin/python -m benchmarks.iddocs [--quick]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import serial

from gtsdk.drivers.sam_serial import codec
from gtsdk.drivers.sam_serial.codec import Command
from gtsdk.simulated import simulated_terminal


def med(xs: list[float]) -> float:
    return statistics.median(xs) * 1e3


def bench_idcard(n: int) -> None:
    from gtsdk.simulators import idcard as idsim

    baud = 115200
    wd = Path(tempfile.mkdtemp(prefix="bench-idcard-"))
    t = simulated_terminal(wd, modules=["idcard"])
    with t:
        sim = t.simulations["idcard"]
        assert isinstance(sim, idsim.IdCardSimulation)
        dev = sim.device
        times: list[float] = []
        for _ in range(n):
            sim.control("remove", {})
            end = time.monotonic() + 5
            while t.idcard.status().detail.get("cardPresent") and time.monotonic() < end:
                time.sleep(0.01)
            sim.control("insert", {"card": "resident"})
            t0 = time.perf_counter()
            t.idcard.read(timeout=5)
            times.append(time.perf_counter() - t0)
        sim.control("remove", {})
        # floor: raw pyserial, same pty, same paced simulator, no runtime, no parsing
        t.device("idcard").stop()
        raw: list[float] = []
        with serial.Serial(sim.settings["port"], baud, timeout=1) as ser:
            time.sleep(0.3)  # a reply to the driver's last poll may still be on its way
            ser.reset_input_buffer()
            for _ in range(n):
                dev.remove()
                dev.insert(sim.cards["resident"])
                t0 = time.perf_counter()
                for cmd, size in ((Command.FIND, 15), (Command.SELECT, 19), (Command.READ_BASE, 1295)):
                    ser.write(codec.build_request(cmd))
                    got = ser.read(size)
                    assert len(got) == size, (cmd, got.hex())
                raw.append(time.perf_counter() - t0)
    reply_wire = 1295 * 10 / baud * 1e3
    all_wire = (15 + 19 + 1295 + 3 * 10) * 10 / baud * 1e3
    d, r = med(times), med(raw)
    print(f"idcard text+photo read @ {baud} bd, n={n} (median):")
    print(f"  end-to-end Terminal.idcard.read   {d:7.1f} ms")
    print(f"  bare pyserial find+select+read    {r:7.1f} ms   (driver/bare = {d / r:.3f})")
    print(f"  wire time of the 1295-byte reply  {reply_wire:7.1f} ms   (end-to-end/wire = {d / reply_wire:.3f}, "
          f"overhead {100 * (d / reply_wire - 1):+.1f} %)")
    print(f"  wire time of all 6 frames         {all_wire:7.1f} ms   (end-to-end/wire = {d / all_wire:.3f})")


def bench_traveldoc(n: int) -> None:
    from gtsdk.simulators import travel_doc as tdsim

    wd = Path(tempfile.mkdtemp(prefix="bench-traveldoc-"))
    t = simulated_terminal(wd, modules=["travel_doc"])
    if "travel_doc" not in t.simulations:
        print("travel_doc: skipped (pcscd/vpcd unavailable)")
        t.stop()
        return
    with t:
        sim = t.simulations["travel_doc"]
        assert isinstance(sim, tdsim.TravelDocSimulation)
        sim.control("insert", {"doc": "passport"})
        t.travel_doc.read(mrz=tdsim.SAMPLES["passport"], timeout=10)  # warm-up
        res: dict[str, list[float]] = {"BAC+DG1": [], "BAC+DG1+DG2": [], "BAC+DG1+DG2+SOD (passive auth)": []}
        apdus: dict[str, int] = {}
        for _ in range(n):
            for label, photo, pa in (("BAC+DG1", False, False), ("BAC+DG1+DG2", True, False),
                                     ("BAC+DG1+DG2+SOD (passive auth)", True, True)):
                before = sim.chip.apdus if sim.chip else 0
                t0 = time.perf_counter()
                t.travel_doc.read(mrz=tdsim.SAMPLES["passport"], read_photo=photo, passive_auth=pa, timeout=10)
                res[label].append(time.perf_counter() - t0)
                apdus[label] = (sim.chip.apdus if sim.chip else 0) - before
        t.device("travel_doc").stop()
        from smartcard.CardRequest import CardRequest
        from smartcard.System import readers

        r = next(x for x in readers() if sim.reader in str(x))
        cr = CardRequest(timeout=5, readers=[r])
        svc = cr.waitforcard()
        conn = svc.connection
        conn.connect()
        conn.transmit(list(bytes.fromhex("00A4040C07A0000002471001")))
        rt: list[float] = []
        for _ in range(100):
            t0 = time.perf_counter()
            conn.transmit([0x00, 0x84, 0x00, 0x00, 0x08])
            rt.append(time.perf_counter() - t0)
        conn.disconnect()
        conn.release()
        del svc, cr
    rtt = med(rt)
    size = len(sim.document.files[0x0102]) if sim.document else 0
    print(f"travel_doc passport read via pcscd+vpcd, n={n} (median; DG2 = {size} bytes):")
    print(f"  plain APDU round trip through pcscd  {rtt:6.2f} ms")
    for label, xs in res.items():
        m = med(xs)
        floor = apdus[label] * rtt
        print(f"  {label:32s} {m:7.1f} ms  {apdus[label]:3d} APDUs  (vs APDU floor {floor:6.1f} ms: x{m / floor:.2f})")


def main() -> None:
    quick = "--quick" in sys.argv
    bench_idcard(5 if quick else 20)
    bench_traveldoc(3 if quick else 10)


if __name__ == "__main__":
    main()
