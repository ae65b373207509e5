"""``gtsdk models``: build, list and verify the face models (ONNX + manifest) in the model cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gtsdk.errors import GtsdkError


def _dir(directory: str | None) -> Path:
    from gtsdk.vision.models import cache_dir

    return Path(directory) if directory else cache_dir()


@click.group("models")
def command() -> None:
    """Face models: convert the packaged models to ONNX, list and verify them."""


@command.command("build")
@click.option("--dir", "directory", default=None, help="model cache (default GTSDK_HOME/models or user cache)")
@click.option("--force", is_flag=True, help="rebuild even if present")
@click.argument("names", nargs=-1)
def build(directory: str | None, force: bool, names: tuple[str, ...]) -> None:
    """Convert the built-in models (all, or NAMES) from their PyPI packages into the cache."""
    from gtsdk.vision import models

    d = _dir(directory)
    try:
        for n in names or tuple(models.BUILTIN):
            p = models.build(n, d, force=force)
            m = models.Manifest.load(p)
            click.echo(f"{m.name:18} {m.slot:10} {m.sha256[:16]}  {models.model_path(m)}")
    except GtsdkError as e:
        raise click.ClickException(f"{e.code}: {e.detail}") from None


@command.command("list")
@click.option("--dir", "directory", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_(directory: str | None, as_json: bool) -> None:
    """Models in the cache (built-in and vendor manifests)."""
    from gtsdk.vision import models

    d = _dir(directory)
    rows = []
    for p in sorted(d.glob("*.json")) if d.exists() else []:
        try:
            m = models.Manifest.load(p)
        except GtsdkError:
            continue
        rows.append({"name": m.name, "slot": m.slot, "file": m.file, "sha256": m.sha256, "licence": m.licence,
                     "metric": m.metric, "threshold": m.threshold})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    built = {r["name"] for r in rows}
    for r in rows:
        click.echo(f"{r['name']:18} {r['slot']:10} {r['metric']:16} {r['threshold']:<6} {r['licence']}")
    for n in models.BUILTIN:
        if n not in built:
            click.echo(f"{n:18} (not built; `gtsdk models build {n}`)")


@command.command("verify")
@click.option("--dir", "directory", default=None)
def verify(directory: str | None) -> None:
    """Check every model file against the sha256 in its manifest; exit 1 on any mismatch."""
    from gtsdk.vision import models

    d = _dir(directory)
    bad = 0
    for p in sorted(d.glob("*.json")) if d.exists() else []:
        try:
            m = models.Manifest.load(p)
            models.verify(m)
            click.echo(f"ok       {m.name}")
        except GtsdkError as e:
            bad += 1
            click.echo(f"REFUSED  {p.stem}: {e.detail}")
    if bad:
        raise SystemExit(1)
