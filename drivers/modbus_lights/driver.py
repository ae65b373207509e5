"""Light-board driver (8.4 j): steady, flash and off per logical light over Modbus RTU.

Boards without a flash register are flashed **by the driver**: a daemon thread
(``gtsdk-lights-flash``) toggles the coils at the requested period and duty, sharing the
Modbus line with the worker through the line's lock.  A write the board does not answer is
counted (``flashErrors`` in the status detail) and retried at the next edge; the runtime's
periodic :meth:`poll` notices the silent board, marks the device offline and reconnects,
and :meth:`connect` re-applies every light's last requested state, so a board that was
power-cycled comes back showing what the application asked for.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from pydantic import Field

from gtsdk.driver import DeviceInfo, EventSink, HealthLevel, HealthResult, OpContext, StateSink, swallowed
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.lights import FlashRequest, LightRequest, Lights, LightsDriver
from gtsdk.transport import modbus_frames as rtu
from gtsdk.transport.modbus import ModbusLine, ModbusSettings

from . import codec

DEFAULT_LIGHTS = {"idcard": 0, "receipt": 1, "a4": 2, "qr": 3, "fingerprint": 4, "camera": 5, "signature": 6,
                  "travel_doc": 7}


class LightsSettings(ModbusSettings):
    lights: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)],
                 Annotated[int, Field(ge=0, le=0xFFFF)]] = Field(default_factory=lambda: dict(DEFAULT_LIGHTS),
                                   description="logical light name → channel (coil / register offset)")
    board_flash: codec.BoardFlash | None = Field(None, description="set when the board flashes by itself")


class _Want:
    __slots__ = ("duty", "level", "mode", "period_ms", "since")

    def __init__(self, mode: str, period_ms: int = 0, duty: float = 0.5) -> None:
        self.mode = mode
        self.period_ms = period_ms
        self.duty = duty
        self.since = time.monotonic()
        self.level: bool | None = None  # last level written by the flasher


class ModbusLightsDriver(LightsDriver[LightsSettings]):
    name = "modbus_rtu"
    version = "0.1"
    poll_interval = 2.0

    def __init__(self, settings: LightsSettings, emit: EventSink | None = None,
                 set_state: StateSink | None = None) -> None:
        super().__init__(settings, emit, set_state)
        self.s = self.settings
        self.line = ModbusLine(self.s)
        self._want: dict[str, _Want] = {n: _Want("off") for n in self.s.lights}
        self._lock = threading.Lock()  # guards _want (short, never held during I/O)
        #: orders light writes: an operation's write and the flasher's write never interleave, and the
        #: flasher writes only while the state it flashes is still the one asked for
        self._io = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flasher: threading.Thread | None = None
        self.flash_writes = 0
        self.flash_errors = 0

    # ---- lifecycle ----------------------------------------------------------------
    def connect(self) -> None:
        self.line.open()
        ctx = OpContext("lights-connect", max(2.0, 4 * self.s.answer_timeout))
        self._probe(ctx)
        for name, want in list(self._want.items()):  # recovery: show what was last asked for
            self._apply(name, want, ctx)
        if self.s.board_flash is None:
            self._stop.clear()
            self._flasher = threading.Thread(target=self._flash_loop, name="gtsdk-lights-flash", daemon=True)
            self._flasher.start()

    def disconnect(self) -> None:
        self._stop.set()
        self._wake.set()
        t, self._flasher = self._flasher, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=self.s.answer_timeout * (2 + self.s.retries) + 1)
        self.line.close()

    def _probe(self, ctx: OpContext) -> list[bool] | list[int]:
        """Coils (relay board) or mode registers (flash board) of channels 0..max."""
        n = max(self.s.lights.values(), default=0) + 1
        if self.s.board_flash is None:
            return self.line.read_bits(rtu.READ_COILS, 0, n, ctx)
        return self.line.read_registers(rtu.READ_HOLDING_REGISTERS, self.s.board_flash.mode_base, n, ctx)

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(vendor="generic", model="Modbus RTU light board", driver=self.name,
                          driver_version=self.version)

    def features(self) -> dict[str, Any]:
        return {"lights": sorted(self.s.lights), "flash": "board" if self.s.board_flash else "driver",
                "device": self.s.device, "baudrate": self.s.baudrate}

    def status_detail(self) -> dict[str, Any]:
        return {"states": self._states(), "flashWrites": self.flash_writes, "flashErrors": self.flash_errors}

    def health(self, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check")
        self._probe(ctx)
        return HealthResult(level=level, ok=True, text="light board answers", checks={"modbus": True})

    def poll(self, ctx: OpContext) -> None:
        """Check the board answers and still shows what was asked (a board that restarted
        comes back dark): steady lights that differ are written again."""
        seen = self._probe(ctx)
        board = self.s.board_flash
        for name, want in list(self._want.items()):
            ch = self.s.lights[name]
            if board is None:
                if want.mode != "flash" and seen[ch] != (want.mode == "on"):
                    self._apply(name, want, ctx)
            elif seen[ch] != codec.MODES[want.mode]:
                self._apply(name, want, ctx)

    # ---- operations -------------------------------------------------------------------
    def on(self, request: LightRequest, ctx: OpContext) -> Lights:
        return self._set(request.light, _Want("on"), ctx)

    def off(self, request: LightRequest, ctx: OpContext) -> Lights:
        return self._set(request.light, _Want("off"), ctx)

    def flash(self, request: FlashRequest, ctx: OpContext) -> Lights:
        return self._set(request.light, _Want("flash", request.period_ms, request.duty), ctx)

    # ---- internals --------------------------------------------------------------------
    def _states(self) -> dict[str, str]:
        with self._lock:
            return {n: w.mode for n, w in self._want.items()}

    def _set(self, name: str, want: _Want, ctx: OpContext) -> Lights:
        codec.resolve(self.s.lights, name)
        with self._io:
            self._apply(name, want, ctx)
            with self._lock:
                self._want[name] = want
        self._wake.set()
        return Lights(states=self._states())

    def _apply(self, name: str, want: _Want, ctx: OpContext) -> None:
        ch = codec.resolve(self.s.lights, name)
        dev, board = self.s.device, self.s.board_flash
        if want.mode == "flash" and board is not None:
            frames = codec.flash_frames(dev, ch, want.period_ms, want.duty, board)
        elif want.mode == "flash":  # the driver flashes: start lit, the flasher takes over
            frames = codec.steady_frames(dev, ch, True, None)
            want.level = True
            want.since = time.monotonic()
        else:
            frames = codec.steady_frames(dev, ch, want.mode == "on", board)
        for frame in frames:
            self.line.transact(frame, ctx)

    def _flash_loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wait = 0.5
            with self._lock:
                flashing = [(n, w) for n, w in self._want.items() if w.mode == "flash"]
            for name, w in flashing:
                elapsed = now - w.since
                level = codec.flash_level(elapsed, w.period_ms, w.duty)
                if level != w.level:
                    try:
                        ctx = OpContext("lights-flash", self.s.answer_timeout * (1 + self.s.retries) + 0.5)
                        frame = codec.steady_frames(self.s.device, self.s.lights[name], level, None)[0]
                        with self._io:
                            with self._lock:
                                current = self._want.get(name) is w
                            if not current:  # an operation changed this light meanwhile
                                continue
                            self.line.transact(frame, ctx)
                        w.level = level
                        self.flash_writes += 1
                    except GtsdkError:
                        self.flash_errors += 1
                        wait = min(wait, 0.2)
                        continue
                    except Exception as e:  # noqa: BLE001 - the flash thread outlives a bad write; counted, logged
                        swallowed("lights", "a flash write", e)
                        self.flash_errors += 1
                        continue
                wait = min(wait, codec.next_edge(time.monotonic() - w.since, w.period_ms, w.duty))
            self._wake.wait(max(0.001, wait))
            self._wake.clear()
