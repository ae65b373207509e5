"""``gtsdk devices``, ``gtsdk drivers``, ``gtsdk check-config``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from gtsdk.errors import ConfigError
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal, load_config, registry
from gtsdk.simulated import simulated_terminal


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def drivers(as_json: bool) -> None:
    """List installed driver plugins (entry-point group gtsdk.drivers)."""
    entries = registry.installed()
    if as_json:
        click.echo(json.dumps([e.__dict__ for e in entries], ensure_ascii=False, indent=2))
        return
    for e in entries:
        state = "ok" if e.error is None else f"NOT LOADABLE: {e.error}"
        click.echo(f"{e.module:<16} {e.name:<16} {e.distribution:<24} {e.target}  [{state}]")


@click.command("check-config")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def check_config(config: Path) -> None:
    """Validate a terminal config: module ids, drivers, driver settings."""
    try:
        cfg = load_config(config)
        Terminal(cfg, strict=True).stop()
    except ConfigError as e:
        raise click.ClickException(f"{config}: {e.detail}") from None
    click.echo(f"{config}: ok ({len(cfg.modules)} modules)")


@click.command()
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="terminal config (TOML)")
@click.option("--simulate", is_flag=True, help="back every module with its simulator")
@click.option("--wait", default=1.0, show_default=True, help="seconds to let devices connect before reporting")
@click.option("--json", "as_json", is_flag=True)
def devices(config: Path | None, simulate: bool, wait: float, as_json: bool) -> None:
    """Show each configured module: driver, state and reason."""
    try:
        cfg = load_config(config) if config else None
    except ConfigError as e:
        raise click.ClickException(e.detail) from None
    t = simulated_terminal(config=cfg) if simulate else Terminal(cfg)
    with t:
        time.sleep(wait)
        rows = []
        for mod_id in MODULES:
            st = t.device(mod_id).status()
            mc = t.devices[mod_id].config if mod_id in t.devices else None
            drv = mc.driver if mc is not None else "-"
            rows.append({"module": mod_id, "clause": MODULES[mod_id].clause, "driver": drv,
                         "state": st.state.value, "reason": st.reason})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['module']:<16} {r['clause']:<8} {r['driver']:<16} {r['state']:<14} {r['reason']}")
