"""``gtsdk audit``: export and verify the audit log (clause 9.3.3 b)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gtsdk.cli.serve import HOME_HELP
from gtsdk.errors import ConfigError

home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)


def _open(home: Path | None) -> object:
    from gtsdk.audit import AuditLog
    from gtsdk.home import home_dir

    h = home_dir(home)
    if not (h / "audit.sqlite").exists():
        raise click.ClickException(f"no audit log in {h}")
    return AuditLog(h, readonly=True)  # never writes or signs: the service may be running


@click.group()
def command() -> None:
    """The SM3-chained audit log of every operation."""


@command.command()
@home_option
@click.option("--since", help="ISO date or time (UTC when no zone)")
@click.option("--until", help="ISO date or time, exclusive")
@click.option("--module")
@click.option("--operation")
@click.option("--person", help="full ID number (matched by keyed hash) or masked form 11**************34")
@click.option("--code", help="result code, e.g. timeOut")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
def export(home: Path | None, since: str | None, until: str | None, module: str | None, operation: str | None,
           person: str | None, code: str | None, fmt: str) -> None:
    """Print matching records (ID numbers masked)."""
    from gtsdk.audit import COLUMNS, AuditLog

    log = _open(home)
    assert isinstance(log, AuditLog)
    try:
        rows = log.query(since=since, until=until, module=module, operation=operation, person=person, code=code,
                         limit=100_000)
    except ConfigError as e:
        raise click.ClickException(e.detail or e.code) from None
    except ValueError as e:
        raise click.ClickException(f"bad --since/--until: {e}") from None
    finally:
        log.close(sign=False)
    if fmt == "csv":
        import csv
        import sys

        cols = ["id", *[c for c in COLUMNS if c != "subject_key"], "hash"]
        w = csv.DictWriter(sys.stdout, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        return
    for r in rows:
        click.echo(json.dumps(r, ensure_ascii=False))


@command.command()
@home_option
def verify(home: Path | None) -> None:
    """Recompute the hash chain, check the signed heads (daily and audit-head.json); exit 1 on any problem."""
    from gtsdk.audit import AuditLog

    log = _open(home)
    assert isinstance(log, AuditLog)
    try:
        res = log.verify()
    finally:
        log.close(sign=False)
    head = f", last signed head at row {res.head_row}" if res.head_row is not None else ""
    click.echo(f"{res.rows} records, chain {res.algorithm}, {res.signed_days} signed day heads{head}")
    for p in res.problems:
        click.echo(f"PROBLEM: {p}")
    if not res.ok:
        raise SystemExit(1)
    click.echo("ok")
