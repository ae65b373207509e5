"""``gtsdk bridge test MAPPING``: dry-run a bridge mapping against the vendor library or middleware.

It loads the mapping (errors name the file, line and key), connects, runs the
operations and prints each step, what came back and the mapped contract result.
What came back is described (type and size), never shown, and the result of an
operation that returns personal data (clause 9.3.2) is masked: a dry run is
often made with a real card on a kiosk in service.  Then certify the bridged
device like any other driver (docs/bridges.md)::

    gtsdk certify-driver idcard.native_bridge --settings '{"mapping": "acme.yaml"}'
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

import click

from gtsdk.errors import GtsdkError


def _param(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write NAME=VALUE", param_hint="--param")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
        if not isinstance(out[key], str | int | float | bool):
            out[key] = raw
    return out


def mask(value: Any) -> str:
    """A personal value as a technician may see it in a dry run: its shape, not its content."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, date):
        return f"{value.year:04d}-**-**"
    if isinstance(value, Enum | bool | int | float):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, str):
        if len(value) <= 1:
            return "*" * len(value)
        return value[0] + "*" * (len(value) - 2) + value[-1] if len(value) > 2 else value[0] + "*"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {mask(v)}" for k, v in value.items()) + "}"
    return repr(value)


@click.group()
def command() -> None:
    """Bridge drivers: bring an installed kiosk's devices onto gtsdk by a mapping file (7.4.4)."""


@command.command("test")
@click.argument("mapping", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="a value for one of the mapping's params")
@click.option("--op", "ops", multiple=True, help="operation to run (default: every operation the mapping maps)")
@click.option("--request", "request", default="{}", help="request body (wire JSON) for the operations")
@click.option("--timeout", default=10.0, show_default=True, help="seconds each operation may take")
@click.option("--workdir", type=click.Path(file_okay=False), help="native: the library's private output folder")
def test(mapping: Path, params: tuple[str, ...], ops: tuple[str, ...], request: str, timeout: float,
         workdir: str | None) -> None:
    """Dry-run MAPPING: connect, run operations, print each step and the mapped result."""
    from gtsdk.driver import OpContext
    from gtsdk.drivers.bridge_common.opener import open_engine
    from gtsdk.runtime.device import parse_request

    events: list[str] = []
    try:
        engine = open_engine(mapping, _param(params), lambda name, data: events.append(name), workdir)
    except GtsdkError as e:
        raise click.ClickException(e.detail) from None
    m = engine.mapping
    spec = m.spec
    click.echo(f"{mapping}: {m.bridge} bridge for {spec.id} ({spec.clause} {spec.title_zh} / {spec.title_en}); "
               f"vendor {m.device.vendor or '?'} {m.device.model}".rstrip())
    engine.trace = lambda line: click.echo(f"    {line}")
    try:
        body = json.loads(request)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--request") from None
    failures = 0
    try:
        click.echo("connect")
        try:
            engine.connect()
        except GtsdkError as e:
            click.echo(f"  FAILED {e.code}: {e.detail}")
            raise SystemExit(1) from None
        info = engine.device_info(f"{m.bridge}_bridge", "")
        click.echo(f"  device: {info.vendor} {info.model} serial {info.serial or '-'}")
        wanted = list(ops) or [op for op in spec.operations if op in m.operations
                               and not m.operations[op].unsupported]
        for op in wanted:
            if op not in spec.operations:
                raise click.BadParameter(f"{spec.id} has no operation {op!r}", param_hint="--op")
            ospec = spec.operations[op]
            click.echo(f"{op}")
            try:
                req = parse_request(ospec.request, body)
                result = engine.run(op, req, OpContext(f"bridge-test-{op}", timeout))
            except GtsdkError as e:
                failures += 1
                click.echo(f"  FAILED {e.code}: {e.detail}")
                continue
            click.echo(f"  → {type(result).__name__}" + (" (personal data: masked)" if ospec.personal_data else ""))
            for name in type(result).model_fields:
                v = getattr(result, name)
                if v is None or v in ({}, [], "", b""):
                    continue
                shown = mask(v) if ospec.personal_data else (f"<{len(v)} bytes>" if isinstance(v, bytes) else repr(v))
                click.echo(f"    {name}: {shown}")
    finally:
        engine.trace = None
        engine.close()
    if events:
        click.echo(f"events: {', '.join(events)}")
    click.echo("ok" if not failures else f"{failures} operation(s) failed")
    if failures:
        raise SystemExit(1)
