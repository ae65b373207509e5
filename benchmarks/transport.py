"""What the transports cost over the library calls they wrap, each against a baseline measured in the same run.

- serial: a 64-byte echo round trip through ``SerialLink`` (write + read_exact with a deadline) on an
  unpaced pty, against bare pyserial on the same pty (``timeout`` reads), and against the previous
  ``SerialLink`` read loop, which set ``ser.timeout`` (one tcsetattr) for every 50 ms read slice;
- USB: a 64-byte bulk echo round trip through ``UsbLink`` against raw pyusb calls on the same fake-bus
  device (simulators/_usb.py): the cost of deadlines, error mapping and the packet buffer;
- PC/SC: one APDU (GET CHALLENGE) through ``PcscCard.transmit`` — a hop to the session's thread that
  bounds the exchange — against ``SCardTransmit`` called directly on the same card through pcscd + vpcd
  (skipped with the reason when pcscd/vpcd are not available).

Run: ``.venv/bin/python -m benchmarks.transport [--quick]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import serial

from gtsdk.driver import OpContext
from gtsdk.simulators._pty import PtyDevice
from gtsdk.transport.serial import SerialLink

PAYLOAD = bytes(range(64))


def med_us(xs: list[float]) -> float:
    return statistics.median(xs) * 1e6


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, mine: list[float], base: list[float], base_name: str) -> None:
    m, b = med_us(mine), med_us(base)
    print(f"{name:<34} median {m:8.1f} µs | {base_name:<34} {b:8.1f} µs | ratio {m / b:5.2f}", flush=True)


class Echo(PtyDevice):
    def on_bytes(self, data: bytes) -> None:
        self.send(data)


def bench_serial(n: int) -> None:
    dev = Echo(link=Path(tempfile.mkdtemp(prefix="bench-transport-")) / "ttyECHO").start()
    try:
        link = SerialLink(str(dev.link), 115200, answer_timeout=1.0)
        link.open()

        ctx = OpContext("bench", 3600.0)  # one operation for the whole loop: the deadline checks, not its set-up

        def through_link() -> None:
            link.write(PAYLOAD, ctx)
            link.read_exact(len(PAYLOAD), ctx)

        mine = timed(through_link, n)
        link.close()
        with serial.Serial(str(dev.link), 115200, timeout=1.0) as ser:

            def bare() -> None:
                ser.write(PAYLOAD)
                ser.flush()
                got = b""
                while len(got) < len(PAYLOAD):
                    got += ser.read(len(PAYLOAD) - len(got))

            base = timed(bare, n)

            def reconfigure_per_slice() -> None:  # the previous SerialLink._read_some
                ser.write(PAYLOAD)
                ser.flush()
                got = b""
                while len(got) < len(PAYLOAD):
                    ser.timeout = 0.05
                    got += ser.read(len(PAYLOAD) - len(got))

            old = timed(reconfigure_per_slice, n)
        row("serial 64 B echo, SerialLink", mine, base, "bare pyserial")
        row("serial 64 B echo, SerialLink", mine, old, "previous read loop (tcsetattr/slice)")
    finally:
        dev.stop()


def bench_usb(n: int) -> None:
    import usb.core

    from gtsdk.simulators._usb import Endpoint, FakeUsbBackend, PacketQueue, UsbDescription
    from gtsdk.transport.usb import UsbLink, UsbMatch

    class Loop:
        def __init__(self) -> None:
            self.q = PacketQueue()

        def usb_out(self, endpoint: int, data: bytes) -> None:
            self.q.put(data)

        def usb_in(self, endpoint: int, size: int, timeout: float) -> bytes | None:
            return self.q.get(size, timeout)

        def usb_control(self, *args: object) -> bytes | None:
            return None

    be = FakeUsbBackend(UsbDescription(0x1234, 0x0001, 0xFF, (Endpoint(0x02), Endpoint(0x82))), Loop())
    try:
        link = UsbLink(UsbMatch.of(0x1234, 0x0001), backend=be)
        link.open()

        ctx = OpContext("bench", 3600.0)

        def through_link() -> None:
            link.write(PAYLOAD, ctx)
            link.read_exact(len(PAYLOAD), ctx)

        mine = timed(through_link, n)
        link.close()
        dev = usb.core.find(idVendor=0x1234, backend=be)
        dev.set_configuration()

        def raw() -> None:
            dev.write(0x02, PAYLOAD, 1000)
            bytes(dev.read(0x82, 64, 1000))

        base = timed(raw, n)
        usb.util.dispose_resources(dev)
        row("USB 64 B bulk echo, UsbLink", mine, base, "raw pyusb, same fake device")
    finally:
        be.release()


def bench_pcsc(n: int) -> None:
    try:
        from smartcard import scard

        from gtsdk import sim as simulation
        from gtsdk.errors import GtsdkError
        from gtsdk.transport.pcsc import PcscReader
    except ImportError as e:
        print(f"PC/SC: skipped ({e})")
        return
    try:
        sim = simulation.start("travel_doc", Path(tempfile.mkdtemp(prefix="bench-pcsc-")))
    except GtsdkError as e:
        print(f"PC/SC: skipped ({e.detail})")
        return
    apdu = bytes.fromhex("0084000008")
    try:
        sim.control("insert", {"doc": "passport"})
        reader = PcscReader(sim.settings["reader"], socket=sim.settings.get("pcsc_socket"))
        reader.open()
        card = reader.wait_card(OpContext("b", 10))
        ctx = OpContext("bench", 3600.0)
        mine = timed(lambda: card.transmit(apdu, ctx), n)
        card.close()
        _, hcontext = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _, hcard, proto = scard.SCardConnect(hcontext, reader.name, scard.SCARD_SHARE_SHARED,
                                              scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        base = timed(lambda: scard.SCardTransmit(hcard, proto, list(apdu)), n)
        scard.SCardDisconnect(hcard, scard.SCARD_UNPOWER_CARD)
        scard.SCardReleaseContext(hcontext)
        reader.close()
        row("PC/SC APDU, PcscCard.transmit", mine, base, "SCardTransmit directly")
    finally:
        sim.stop()


def main() -> None:
    n = 200 if "--quick" in sys.argv else 2000
    bench_serial(n)
    bench_usb(n)
    bench_pcsc(max(50, n // 4))


if __name__ == "__main__":
    main()
