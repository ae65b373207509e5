"""``gtsdk sim MODULE``: run one simulator alone and say where its device is.

It runs until SIGINT, SIGTERM or SIGHUP, so ``gtsdk sim idcard &`` keeps running in the background.
Commands (``action key=value ...``, e.g. ``insert card=resident``) go to the simulator's control from the
named pipe ``control`` in its work directory (``echo "insert card=resident" > DIR/control``), and with
``--stdin`` also from standard input, which then ends the simulator when it closes.  Replies are printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from gtsdk import leftovers
from gtsdk import sim as simulation
from gtsdk.errors import GtsdkError
from gtsdk.failures import swallowed
from gtsdk.modules import MODULES

#: longest command line read from the pipe or stdin (a longer one is refused, not buffered)
MAX_LINE = 64 * 1024


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _run_command(s: simulation.Simulation, line: str, lock: threading.Lock) -> None:
    parts = line.split()
    if not parts:
        return
    params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    with lock:  # one command at a time, from whichever source
        try:
            out = s.control(parts[0], {k: _value(v) for k, v in params.items()})
            click.echo(json.dumps(out, ensure_ascii=False))
        except GtsdkError as e:
            click.echo(f"error: {e.code}: {e.detail}")
        except Exception as e:  # noqa: BLE001 - a simulator bug must not end the simulator; printed and logged
            swallowed(s.module, f"control {parts[0]}", e)
            click.echo(f"error: internalError: {type(e).__name__}")
    sys.stdout.flush()


def _lines(f: TextIO) -> Iterator[str]:
    """Lines of *f* until it ends; a line longer than MAX_LINE is refused whole, never buffered."""
    too_long = False
    while True:
        chunk = f.readline(MAX_LINE + 1)
        if not chunk:
            return
        complete = chunk.endswith("\n")
        if too_long or (not complete and len(chunk) > MAX_LINE):
            too_long = not complete
            if complete:
                click.echo(f"error: command longer than {MAX_LINE} characters")
                sys.stdout.flush()
            continue
        yield chunk


def _serve(f: TextIO, s: simulation.Simulation, lock: threading.Lock, stop: threading.Event) -> None:
    for line in _lines(f):
        if stop.is_set():
            return
        _run_command(s, line, lock)


def _make_pipe(path: Path) -> TextIO:
    """The named pipe for commands, opened read-write so that writers coming and going never end it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.mkfifo(path, 0o600)
    return os.fdopen(os.open(path, os.O_RDWR), "r", encoding="utf-8", errors="replace")


@click.command()
@click.argument("module", type=click.Choice(list(MODULES)))
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="where the simulator keeps its files")
@click.option("--stdin", "use_stdin", is_flag=True, help="also read commands from standard input; stop when it closes")
@click.option("--driver", help="the simulator made for this driver, where the module has several (keyboard: onboard)")
def command(module: str, workdir: Path | None, use_stdin: bool, driver: str | None) -> None:
    """Run the simulator of MODULE until a signal (or, with --stdin, until standard input closes)."""
    own = workdir is None
    wd = workdir or leftovers.make_temp_dir(f"gtsdk-sim-{module.replace('_', '-')}-")
    try:
        s = simulation.start(module, wd, driver)
    except GtsdkError as e:
        if own:
            leftovers.remove_temp_dir(wd)
        raise click.ClickException(e.detail) from None
    pipe = wd / "control"
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    lock = threading.Lock()
    commands: TextIO | None = None
    reader: threading.Thread | None = None
    try:
        commands = _make_pipe(pipe)
        click.echo(f"{module}: {s.describe()}")
        click.echo(f"driver = {s.driver!r}; settings = {json.dumps(s.settings, ensure_ascii=False)}")
        click.echo("actions: " + ", ".join(f"{k} ({v})" for k, v in s.actions().items()))
        click.echo(f"commands: echo 'ACTION key=value ...' > {pipe}" + (" or on standard input" if use_stdin else ""))
        sys.stdout.flush()
        reader = threading.Thread(target=_serve, args=(commands, s, lock, stop), name="sim-control", daemon=True)
        reader.start()
        if use_stdin:
            def from_stdin() -> None:
                _serve(sys.stdin, s, lock, stop)
                stop.set()

            threading.Thread(target=from_stdin, name="sim-stdin", daemon=True).start()
        while not stop.wait(0.5):
            pass
    finally:
        stop.set()
        if reader is not None:  # wake the pipe's reader so that it sees the stop, then close the pipe
            with contextlib.suppress(OSError):
                fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, b"\n")
                os.close(fd)
            reader.join(timeout=2)
        if commands is not None:
            commands.close()
        with contextlib.suppress(OSError):
            pipe.unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        s.stop()
        if own:
            leftovers.remove_temp_dir(wd)
