"""Serial peripherals: scan-to-event latency and Modbus command round trips vs wire time.

The simulators pace their output at the configured baud rate (a pty ignores it), so wire
time is real: 10 bits per byte at 8N1.  Baselines measured in the same run:

- scanner: a bare pyserial reader on the same pty (read until CR) — the floor any driver has;
- Modbus: pymodbus' own ``ModbusSerialClient`` against the same pymodbus server.

Run: ``.venv/bin/python -m benchmarks.peripherals_serial [--quick]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import serial

from gtsdk.runtime import Terminal
from gtsdk.runtime.config import ModuleConfig, TerminalConfig
from gtsdk.transport import modbus_frames as rtu
from gtsdk.transport.modbus import ModbusLine, ModbusSettings


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1e3, xs[min(len(xs) - 1, int(len(xs) * 0.95))] * 1e3


def wire_ms(nbytes: int, baud: int) -> float:
    return nbytes * 10 / baud * 1e3


def bench_scan(baud: int, n: int) -> None:
    from gtsdk.simulators import qr_scanner as qs

    work = Path(tempfile.mkdtemp(prefix="bench-qr-"))
    sim = qs.start(work, baudrate=baud, mode="continuous")
    payloads = [qs.render_and_decode(f"https://zwfw.example.gov.cn/q?id={i:06d}".encode()) for i in range(8)]
    size = len(payloads[0]) + 1
    # baseline: a bare pyserial reader on the scanner's port (the device is in continuous mode from start)
    sim.device.mode = "continuous"
    base: list[float] = []
    with serial.Serial(sim.settings["port"], baud, timeout=2) as ser:
        for i in range(n):
            t0 = time.perf_counter()
            threading.Thread(target=sim.device.present, args=(payloads[i % 8],)).start()
            ser.read_until(b"\r")
            base.append(time.perf_counter() - t0)
            time.sleep(0.005)
    cfg = TerminalConfig()
    cfg.modules["qr_scanner"] = ModuleConfig(module="qr_scanner", driver="serial_scanner",
                                             settings={**sim.settings, "duplicate_window": 0})
    got = threading.Event()
    stamp: list[float] = []
    lat: list[float] = []
    with Terminal(cfg) as t:
        def on_event(ev: Any) -> None:
            if ev.type == "codeScanned":
                stamp.append(time.perf_counter())
                got.set()

        t.events.subscribe(on_event, ["qr_scanner"])
        while t.qr_scanner.status().state.value != "online":
            time.sleep(0.01)
        for i in range(n):
            got.clear()
            t0 = time.perf_counter()
            threading.Thread(target=sim.device.present, args=(payloads[i % 8],)).start()
            if not got.wait(5):
                raise RuntimeError("no codeScanned event")
            lat.append(stamp[-1] - t0)
            time.sleep(0.005)
    # triggered mode: read() → trigger command on the wire → the waiting code comes back
    trig = qs.start(work / "trig", baudrate=baud, mode="triggered")
    cfg = TerminalConfig()
    cfg.modules["qr_scanner"] = ModuleConfig(module="qr_scanner", driver="serial_scanner", settings=trig.settings)
    rt: list[float] = []
    with Terminal(cfg) as t:
        while t.qr_scanner.status().state.value != "online":
            time.sleep(0.01)
        for i in range(n):
            trig.device.present(payloads[i % 8])  # waits for the trigger
            t0 = time.perf_counter()
            t.qr_scanner.read(timeout=5)
            rt.append(time.perf_counter() - t0)
            time.sleep(0.01)
    trig.stop()
    sim.stop()
    tm, tp = stats(rt)
    tw = wire_ms(3 + size, baud)
    print(f"trigger→read {baud:>6} baud  SYN T CR + {size} B  wire {tw:6.2f} ms | terminal read median {tm:6.2f} "
          f"p95 {tp:6.2f} ms | ×wire {tm / tw:4.2f}")
    bm, bp = stats(base)
    dm, dp = stats(lat)
    w = wire_ms(size, baud)
    print(f"scan→event  {baud:>6} baud  {size} B  wire {w:6.2f} ms | bare pyserial median {bm:6.2f} p95 {bp:6.2f} | "
          f"driver event median {dm:6.2f} p95 {dp:6.2f} ms | ×wire {dm / w:4.2f}  ×bare {dm / bm:4.2f}  "
          f"overhead {dm - bm:+.2f} ms")


def bench_modbus(baud: int, n: int) -> None:
    from gtsdk.simulators import lights as ls
    from gtsdk.simulators import sensors as ss

    work = Path(tempfile.mkdtemp(prefix="bench-mb-"))
    lsim = ls.start(work / "l", baudrate=baud)
    ssim = ss.start(work / "s", baudrate=baud)
    results: dict[str, tuple[float, float]] = {}
    for backend in ("pymodbus", "native"):
        line = ModbusLine(ModbusSettings(port=lsim.settings["port"], baudrate=baud, backend=backend,
                                         answer_timeout=1.0, retries=0))
        line.open()
        xs = []
        for i in range(n):
            t0 = time.perf_counter()
            line.write_coil(i % 8, bool(i % 2))
            xs.append(time.perf_counter() - t0)
        results[f"{backend} coil"] = stats(xs)
        line.close()
        line = ModbusLine(ModbusSettings(port=ssim.settings["port"], baudrate=baud, backend=backend,
                                         answer_timeout=1.0, retries=0))
        line.open()
        xs = []
        for _ in range(n):
            t0 = time.perf_counter()
            line.read_registers(rtu.READ_INPUT_REGISTERS, 0, 10)
            xs.append(time.perf_counter() - t0)
        results[f"{backend} read10"] = stats(xs)
        line.close()
    # the whole stack: Terminal → queue → driver → line → board and back
    cfg = TerminalConfig()
    cfg.modules["lights"] = ModuleConfig(module="lights", driver="modbus_rtu", settings=lsim.settings)
    xs = []
    with Terminal(cfg) as t:
        t.lights.off(light="idcard")
        for i in range(n):
            t0 = time.perf_counter()
            (t.lights.on if i % 2 else t.lights.off)(light="idcard")
            xs.append(time.perf_counter() - t0)
    results["terminal lights.on/off"] = stats(xs)
    lsim.stop()
    ssim.stop()
    wires = {"coil": wire_ms(8 + 8, baud), "read10": wire_ms(8 + 25, baud), "terminal lights.on/off": wire_ms(16, baud)}
    for name, (med, p95) in results.items():
        kind = name.split()[-1] if not name.startswith("terminal") else name
        w = wires[kind]
        base = results.get(f"pymodbus {kind}", (med, p95))[0] if not name.startswith("terminal") else \
            results["pymodbus coil"][0]
        print(f"modbus {baud:>6} baud  {name:<24} wire {w:6.2f} ms | median {med:6.2f} p95 {p95:6.2f} ms | "
              f"×wire {med / w:4.2f}  ×pymodbus-client {med / base:4.2f}")


def main() -> None:
    quick = "--quick" in sys.argv
    n = 20 if quick else 100
    for baud in (9600, 115200):
        bench_scan(baud, n // 2 if baud == 9600 else n)
    for baud in (9600, 115200):
        bench_modbus(baud, n)


if __name__ == "__main__":
    main()
