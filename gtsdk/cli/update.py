"""``gtsdk update …``: the terminal side of signed updates (docs/updates.md)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import click

from gtsdk.errors import GtsdkError

_ROOT = click.option("--root", type=click.Path(file_okay=False, path_type=Path),
                     help="update root (default: <gtsdk home>/software)")
_BUNDLE = click.argument("bundle_path", metavar="BUNDLE",
                         type=click.Path(exists=True, dir_okay=False, path_type=Path))


def _root(root: Path | None) -> Path:
    from gtsdk.home import home_path

    return (root or home_path() / "software").resolve()


def _updater(root: Path | None) -> Any:
    from gtsdk.updates import config as ucfg
    from gtsdk.updates.auditing import UpdateAudit
    from gtsdk.updates.environment import VenvEnvironment
    from gtsdk.updates.installer import Updater

    r = _root(root)
    r.mkdir(parents=True, exist_ok=True)
    try:
        cfg = ucfg.load(r)
    except GtsdkError as e:
        raise click.ClickException(e.detail) from None
    return Updater(r, identity=cfg.identity, environment=VenvEnvironment(), policy=cfg.policy,
                   audit=UpdateAudit(r, cfg.home)), cfg


def _fail(e: GtsdkError) -> click.ClickException:
    return click.ClickException(f"{e.code}: {e.detail}")


@click.group()
def command() -> None:
    """Install signed bundles side by side, switch, roll back, report allowed software."""


@command.command()
@click.argument("pub", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_ROOT
def trust(pub: Path, root: Path | None) -> None:
    """Trust the release public key PUB (PEM)."""
    from gtsdk.crypto import load_public_pem
    from gtsdk.updates.bundle import key_id
    from gtsdk.updates.trust import TrustStore

    key = load_public_pem(pub.read_bytes())
    path = TrustStore(_root(root) / "trusted").add(key)
    click.echo(f"trusted {key_id(key)} ({path})")


def _close(u: Any) -> None:
    """Nothing to close: each audit report opens and closes the log (gtsdk.updates.auditing)."""


@command.command("install-base")
@_BUNDLE
@_ROOT
def install_base(bundle_path: Path, root: Path | None) -> None:
    """First installation: verify BUNDLE, build its environment, make it current."""
    u, _ = _updater(root)
    try:
        v = u.install_base(bundle_path)
    except GtsdkError as e:
        raise _fail(e) from None
    finally:
        _close(u)
    click.echo(f"current: {v}")


@command.command()
@_BUNDLE
@_ROOT
@click.option("--switch/--no-switch", default=True, show_default=True,
              help="ask the supervisor to switch once staged")
def install(bundle_path: Path, root: Path | None, switch: bool) -> None:
    """Verify BUNDLE and install it beside the running version; the supervisor switches between transactions."""
    from gtsdk.updates.layout import write_json
    from gtsdk.updates.supervisor import REQUEST

    u, _ = _updater(root)
    try:
        m = u.stage(bundle_path)
    except GtsdkError as e:
        raise _fail(e) from None
    finally:
        _close(u)
    if switch:
        write_json(u.layout.root / REQUEST, {"version": m.version})
        click.echo(f"staged {m.version}; the supervisor switches to it between transactions")
    else:
        click.echo(f"staged {m.version}")


@command.command()
@_ROOT
@click.option("--json", "as_json", is_flag=True)
def status(root: Path | None, as_json: bool) -> None:
    """Current and previous version, versions on disk, an unfinished switch or probation."""
    from gtsdk.updates.layout import Layout

    lay = Layout(_root(root))
    doc = {"current": lay.current, "previous": lay.previous, "ready": lay.ready_versions(),
           "failed": [v for v in lay.ready_versions() if lay.is_failed(v)], "journal": lay.journal()}
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for k, v in doc.items():
        click.echo(f"{k:<9} {v}")


@command.command()
@_ROOT
@click.option("--reason", default="manual rollback", show_default=True)
def rollback(root: Path | None, reason: str) -> None:
    """Go back to the previous version now (the supervisor restarts the service on it)."""
    u, _ = _updater(root)
    try:
        v = u.rollback(reason)
    finally:
        _close(u)
    click.echo(f"current: {v}")


@command.command()
@_ROOT
def supervise(root: Path | None) -> None:
    """Run the current version's service; switch on request; roll back on a crash loop or health regression."""
    from gtsdk.updates.supervisor import Supervisor, https_health

    u, cfg = _updater(root)
    probe = None
    if cfg.health_url:
        token = cfg.health_token_file.read_text().strip() if cfg.health_token_file else None
        ca = cfg.home / "ca.pem" if cfg.home else None
        probe = https_health(cfg.health_url, ca=ca, token=token)
    sup = Supervisor(u, cfg.service, records_db=cfg.home / "records.sqlite" if cfg.home else None, health=probe)
    signal.signal(signal.SIGTERM, lambda *_: sup.request_stop())
    try:
        sup.run()
    except GtsdkError as e:
        raise _fail(e) from None
    finally:
        _close(u)


@command.command()
@_ROOT
@click.option("--env", "env", type=click.Path(file_okay=False, path_type=Path),
              help="virtual environment to report (default: the current version's)")
@click.option("--json", "as_json", is_flag=True)
def software(root: Path | None, env: Path | None, as_json: bool) -> None:
    """Installed distributions with hashes; flags anything not from a signed bundle (9.1.1.2 b)."""
    from gtsdk.updates.inventory import report
    from gtsdk.updates.layout import Layout, read_json

    lay = Layout(_root(root))
    cur = lay.current
    wheels: dict[str, str] = {}
    if env is None:
        if cur is None:
            raise click.ClickException("no version installed under the update root; name --env")
        env = lay.venv(cur)
        wheels = {k: str(v) for k, v in (read_json(lay.version_dir(cur) / "wheels.json") or {}).items()}
    doc = report(env, wheels)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for d in doc["distributions"]:
            click.echo(f"{d['name']:<28} {d['version']:<12} {d['recordSm3'][:16]}  {','.join(d['flags']) or 'ok'}")
        for p in doc["unowned"]:
            click.echo(f"{p:<28} {'':<12} {'':<16}  unowned")
    if doc["flagged"]:
        raise SystemExit(1)


@command.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow", "extra", multiple=True, metavar="VVVV:PPPP", help="another device to allow (repeatable)")
def usbguard(config: Path, extra: tuple[str, ...]) -> None:
    """usbguard rules allowing the USB devices the terminal configuration CONFIG names."""
    from gtsdk.runtime import load_config
    from gtsdk.updates.usbguard import UsbDevice, devices_of, rules

    try:
        cfg = load_config(config)
        more = []
        for x in extra:
            v, _, p = x.lower().partition(":")
            more.append(UsbDevice(vendor=v, product=p, name=f"--allow {x}"))
        click.echo(rules(devices_of(cfg), extra=more), nl=False)
    except (GtsdkError, TypeError) as e:
        raise click.ClickException(getattr(e, "detail", str(e))) from None
