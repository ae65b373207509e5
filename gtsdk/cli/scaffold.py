"""``gtsdk new-driver MODULE NAME``."""

from __future__ import annotations

from pathlib import Path

import click

from gtsdk import scaffold
from gtsdk.modules import MODULES


@click.command("new-driver")
@click.argument("module", type=click.Choice(list(MODULES)))
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
def new_driver(module: str, name: str, out: Path) -> None:
    """Scaffold a vendor driver plugin package for MODULE called NAME."""
    try:
        root = scaffold.write(module, name, out)
    except (ValueError, FileExistsError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"created {root}")
    click.echo(f"next: pip install -e {root} && gtsdk drivers && pytest {root}")
