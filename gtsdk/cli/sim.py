"""``gtsdk sim MODULE``: run one simulator alone and say where its device is.

Commands typed on stdin (``action key=value ...``) go to the simulator's
control, so a person or another program can insert a card or pull the paper.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from gtsdk import sim as simulation
from gtsdk.errors import GtsdkError
from gtsdk.modules import MODULES


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@click.command()
@click.argument("module", type=click.Choice(list(MODULES)))
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="where the simulator keeps its files")
def command(module: str, workdir: Path | None) -> None:
    """Run the simulator of MODULE until stdin closes or Ctrl-C."""
    wd = workdir or Path(tempfile.mkdtemp(prefix=f"gtsdk-sim-{module}-"))
    try:
        s = simulation.start(module, wd)
    except GtsdkError as e:
        raise click.ClickException(e.detail) from None
    click.echo(f"{module}: {s.describe()}")
    click.echo(f"driver = {s.driver!r}; settings = {json.dumps(s.settings, ensure_ascii=False)}")
    click.echo("actions: " + ", ".join(f"{k} ({v})" for k, v in s.actions().items()))
    sys.stdout.flush()
    try:
        for line in sys.stdin:
            parts = line.split()
            if not parts:
                continue
            params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            try:
                out = s.control(parts[0], {k: _value(v) for k, v in params.items()})
                click.echo(json.dumps(out, ensure_ascii=False))
            except GtsdkError as e:
                click.echo(f"error: {e.code}: {e.detail}")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        s.stop()
