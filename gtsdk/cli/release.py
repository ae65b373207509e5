"""``gtsdk release build|sign|verify``: make, sign and check update bundles (docs/updates.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gtsdk.errors import GtsdkError


def _fail(e: GtsdkError) -> click.ClickException:
    return click.ClickException(f"{e.code}: {e.detail}")


def _key(path: Path, pass_env: str | None) -> object:
    from gtsdk.crypto import load_private_pem

    password = os.environ.get(pass_env) if pass_env else None
    if pass_env and password is None:
        raise click.ClickException(f"environment variable {pass_env} is not set")
    return load_private_pem(path.read_bytes(), password)


_PATH = click.Path(dir_okay=False, path_type=Path)


@click.group()
def command() -> None:
    """Update bundles: wheels and/or a configuration, a manifest, an SM2 signature."""


@command.command()
@click.argument("out", type=_PATH)
@click.option("--name", default="gtsdk-terminal", show_default=True)
@click.option("--version", "version", required=True, help="PEP 440 version the terminal runs after the update")
@click.option("--wheel", "wheels", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a new terminal configuration (TOML)")
@click.option("--require", "requires", multiple=True, help="distribution to install (default: the wheels' projects)")
@click.option("--driver", "drivers", multiple=True, help="changed driver <module>.<driver>, certified on the terminal")
@click.option("--tier", type=click.Choice(["none", "bronze", "silver", "gold"]), default="bronze", show_default=True)
@click.option("--model", "models", multiple=True)
@click.option("--group", "groups", multiple=True)
@click.option("--region", "regions", multiple=True, help="GB/T 2260 prefix (2, 4 or 6 digits)")
@click.option("--terminal", "terminals", multiple=True)
@click.option("--min-gtsdk")
@click.option("--allow-downgrade", is_flag=True)
@click.option("--security", is_flag=True, help="a fix for a high-risk vulnerability (9.1.1.2 d)")
@click.option("--notes", default="")
@click.option("--sign-key", type=_PATH, help="release SM2 private key (PEM); sign later with `release sign`")
@click.option("--pass-env", metavar="VAR")
def build(out: Path, name: str, version: str, wheels: tuple[Path, ...], config: Path | None,
          requires: tuple[str, ...], drivers: tuple[str, ...], tier: str, models: tuple[str, ...],
          groups: tuple[str, ...], regions: tuple[str, ...], terminals: tuple[str, ...], min_gtsdk: str | None,
          allow_downgrade: bool, security: bool, notes: str, sign_key: Path | None, pass_env: str | None) -> None:
    """Build the bundle OUT."""
    from pydantic import ValidationError

    from gtsdk.updates import bundle
    from gtsdk.updates.manifest import Manifest

    if not wheels and config is None:
        raise click.UsageError("a bundle needs --wheel and/or --config")
    try:
        m = Manifest.model_validate({
            "name": name, "version": version, "requires": list(requires), "drivers": list(drivers),
            "requiredTier": None if tier == "none" else tier, "minGtsdk": min_gtsdk,
            "allowDowngrade": allow_downgrade, "security": security, "notes": notes,
            "targets": {"models": list(models), "groups": list(groups), "regions": list(regions),
                        "terminals": list(terminals)}})
    except ValidationError as e:
        raise click.ClickException(str(e.errors()[0]["msg"])) from None
    key = _key(sign_key, pass_env) if sign_key else None
    try:
        m = bundle.build(out, m, wheels=list(wheels), config=config, key=key)  # type: ignore[arg-type]
    except GtsdkError as e:
        raise _fail(e) from None
    click.echo(f"{out}: {m.name} {m.version}, {len(m.files)} files, {'signed' if key else 'UNSIGNED'}")


@command.command()
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_path", required=True, type=_PATH, help="release SM2 private key (PEM)")
@click.option("--pass-env", metavar="VAR")
def sign(bundle_path: Path, key_path: Path, pass_env: str | None) -> None:
    """Sign BUNDLE (replaces any signature)."""
    from gtsdk.updates import bundle

    try:
        bundle.sign(bundle_path, _key(key_path, pass_env))  # type: ignore[arg-type]
    except GtsdkError as e:
        raise _fail(e) from None
    click.echo(f"{bundle_path}: signed")


@command.command()
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pub", "pubs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="trusted release public key (PEM); repeatable")
@click.option("--json", "as_json", is_flag=True)
def verify(bundle_path: Path, pubs: tuple[Path, ...], as_json: bool) -> None:
    """Check BUNDLE's signature against the given keys and every file's SM3 digest."""
    import tempfile

    from gtsdk.crypto import load_public_pem
    from gtsdk.updates import bundle

    try:
        signed = bundle.read_signed(bundle_path)
        if signed.signature is None:
            raise GtsdkError("update.unsigned", "the bundle carries no signature.json")
        keys = {bundle.key_id(p): p for p in (load_public_pem(x.read_bytes()) for x in pubs)}
        pub = keys.get(signed.key_id or "")
        if pub is None:
            raise GtsdkError("update.untrustedKey", f"signed by {signed.key_id}, not by a key given with --pub")
        if not signed.verify_with(pub):
            raise GtsdkError("update.signatureInvalid", "the SM2 signature does not verify")
        with tempfile.TemporaryDirectory() as tmp:
            bundle.unpack(bundle_path, signed.manifest, Path(tmp))
    except GtsdkError as e:
        raise _fail(e) from None
    m = signed.manifest
    if as_json:
        click.echo(json.dumps({"ok": True, "keyId": signed.key_id, "manifest": m.wire()}, ensure_ascii=False))
        return
    click.echo(f"{bundle_path}: ok — {m.name} {m.version}, signed by {signed.key_id}, {len(m.files)} files "
               f"with SM3 digests matching")
