"""``gtsdk token``: create, list, revoke and rotate bearer tokens (clause 9.2.2 b)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gtsdk.cli.serve import HOME_HELP

home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)


def _store(home: Path | None) -> object:
    from gtsdk.home import home_dir
    from gtsdk.server.tokens import TokenStore

    return TokenStore(home_dir(home))


@click.group(invoke_without_command=True)
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["app", "maintenance"]),
              help="scope of the new token (repeat for both)")
@click.option("--app", "app_name", default="default", show_default=True,
              help="app the token belongs to ([service.apps.<name>] in the config)")
@click.option("--label", default="", help="free text shown by `gtsdk token list`")
@home_option
@click.pass_context
def command(ctx: click.Context, scopes: tuple[str, ...], app_name: str, label: str, home: Path | None) -> None:
    """Print a new token: gtsdk token --scope app [--app NAME] [--home DIR]."""
    if ctx.invoked_subcommand is not None:
        return
    if not scopes:
        raise click.UsageError("give --scope app and/or --scope maintenance (or a subcommand: list, revoke, rotate)")
    from gtsdk.server.tokens import TokenStore

    store = _store(home)
    assert isinstance(store, TokenStore)
    click.echo(store.create(list(scopes), app=app_name, label=label))


@command.command("list")
@home_option
@click.option("--json", "as_json", is_flag=True)
def list_tokens(home: Path | None, as_json: bool) -> None:
    """List tokens (ids, scopes, apps; never the secrets)."""
    from gtsdk.server.tokens import TokenStore, describe

    store = _store(home)
    assert isinstance(store, TokenStore)
    rows = [describe(t) for t in store.list()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "active" if r["active"] else ("revoked " + str(r["revoked"]) if r["revoked"] else "expired")
        click.echo(f"{r['id']}  {','.join(r['scopes']):<16} app={r['app']:<12} {state:<28} {r['label']}")


@command.command()
@click.argument("token_id")
@home_option
def revoke(token_id: str, home: Path | None) -> None:
    """Revoke a token by id (takes effect on the service's next request)."""
    from gtsdk.server.tokens import TokenStore

    store = _store(home)
    assert isinstance(store, TokenStore)
    if not store.revoke(token_id):
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {token_id}")


@command.command()
@click.argument("token_id")
@click.option("--grace", type=float, default=0.0, help="seconds the old token keeps working")
@home_option
def rotate(token_id: str, grace: float, home: Path | None) -> None:
    """Print a replacement token with the same scopes and app; the old one ends (after --grace)."""
    from gtsdk.server.tokens import TokenStore

    store = _store(home)
    assert isinstance(store, TokenStore)
    try:
        click.echo(store.rotate(token_id, grace))
    except KeyError:
        raise click.ClickException(f"no active token {token_id}") from None
