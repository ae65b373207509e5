"""The service as its own process, for the restart tests: in-memory test drivers (no simulators to start), the
real build, TLS and uvicorn.  Prints ``READY <port>`` once it listens; SIGTERM stops it cleanly."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import SupportsIndex

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _records_fixtures import CATALOGUE, FakeCards
from _runtime_fixtures import RecordingLights, wait_for

from gtsdk.runtime import Terminal, registry
from gtsdk.runtime.config import parse_config
from gtsdk.server.config import parse_service
from gtsdk.server.run import bind, build, close_app, uvicorn_config


def _event_sleep(seconds: float | SupportsIndex, /) -> None:
    threading.Event().wait(max(0.0, float(seconds)))


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    # libfaketime with an unfaked monotonic clock breaks Python >= 3.11's time.sleep (clock_nanosleep with
    # TIMER_ABSTIME gets a negative time: wolfcw/libfaketime issue #426); timed waits on a lock are unaffected
    time.sleep = _event_sleep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--heartbeat", type=float, default=0.2)
    args = ap.parse_args()
    registry.register("lights", "recording", RecordingLights)
    registry.register("idcard", "fakecards", FakeCards)
    if not (args.home / "catalogue.toml").exists():
        args.home.mkdir(parents=True, exist_ok=True)
        (args.home / "catalogue.toml").write_text(CATALOGUE, encoding="utf-8")
    cfg = parse_config({"terminal": {"id": "T-RESTART"},
                        "modules": {"lights": {"driver": "recording"}, "idcard": {"driver": "fakecards"}},
                        "records": {"heartbeat": args.heartbeat, "inspections": []}})
    t = Terminal(cfg).start()
    wait_for(lambda: all(d.state.value == "online" for d in t.devices.values()), 5)
    app = build(t, parse_service({}), args.home)
    socks = bind(["127.0.0.1"], 0)
    import asyncio

    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, args.home))

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=socks))
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"READY {socks[0].getsockname()[1]}", flush=True)
        await task

    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(serve())
    finally:
        close_app(app)
        t.stop()


if __name__ == "__main__":
    main()
