"""``gtsdk serve``: the local HTTPS service on 127.0.0.1:8801 (clauses 8.1–8.3)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gtsdk.errors import ConfigError
from gtsdk.runtime import Terminal, load_config
from gtsdk.runtime.config import TerminalConfig
from gtsdk.server.config import ServiceConfig
from gtsdk.simulated import simulated_terminal

HOME_HELP = "gtsdk home (CA, tokens, audit); default $GTSDK_HOME or ~/.local/share/gtsdk"


@click.command()
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="terminal config (TOML)")
@click.option("--simulate", is_flag=True, help="back every module with its simulator")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--port", type=int, default=None, help="port (default: service.port of the config, else 8801)")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="simulator files (with --simulate)")
@click.option("--no-audit", is_flag=True, help="do not write the audit log (tests only)")
@click.option("--demo", is_flag=True, help="serve the example pages /demo/ and /ops/ (docs/examples.md)")
def command(config: Path | None, simulate: bool, home: Path | None, port: int | None, workdir: Path | None,
            no_audit: bool, demo: bool = False) -> None:
    """Serve every module over HTTPS + WebSocket on 127.0.0.1 (and ::1)."""
    from gtsdk.server.config import parse_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(config) if config else TerminalConfig()
        service = parse_service(cfg.service, base_dir=config.parent if config else Path.cwd())
    except ConfigError as e:
        raise click.ClickException(e.detail) from None
    if demo:
        service = service.model_copy(update={"demo": True})
    own_wd: Path | None = None
    if simulate:
        from gtsdk import leftovers, sim

        sim.reap_once()  # daemons and folders of a service that crashed (kill -9) go first
        if workdir is None:  # removed at exit; after a crash, by the next host (gtsdk.leftovers)
            own_wd = workdir = leftovers.make_temp_dir("gtsdk-sim-")
        terminal: Terminal = simulated_terminal(workdir, config=cfg)
    else:
        terminal = Terminal(cfg)
    run(terminal, service, home, port=port, simulate=simulate, audit=not no_audit,
        on_stop=lambda: _remove(own_wd))


def run(terminal: Terminal, service: ServiceConfig, home: Path | None, *, port: int | None = None,
        simulate: bool = False, audit: bool = True, on_stop: Callable[[], None] | None = None) -> None:
    """Serve *terminal* until SIGTERM or SIGINT, then stop it (and its simulators) within the shutdown bound:
    in-flight operations get ``[service] shutdown_grace`` seconds, then they are cancelled on their devices."""
    from gtsdk.home import home_dir
    from gtsdk.server import tls
    from gtsdk.server.run import build, serve_forever
    from gtsdk.server.tokens import TokenStore

    def stop() -> None:
        terminal.stop()
        if on_stop is not None:
            on_stop()

    h = home_dir(home)
    files = tls.ensure(h)
    if service.non_loopback():
        click.echo(f"WARNING: listening on {service.non_loopback()}: other computers can reach this service "
                   "(clause 8.3 says they must not)", err=True)
    try:
        app = build(terminal, service, h, simulate=simulate, audit=audit)
    except ConfigError as e:
        stop()
        raise click.ClickException(e.detail) from None
    p = port if port is not None else service.port
    shown = [f"https://[{a}]:{p}" if ":" in a else f"https://{a}:{p}" for a in service.listen]
    click.echo(f"gtsdk service: {' and '.join(shown)}")
    click.echo(f"CA certificate: {files.ca_cert}  SHA-256 {tls.ca_fingerprint(h)}")
    if not any(t.active() for t in TokenStore(h).list()):
        click.echo(f"no tokens yet: create one with  gtsdk token --scope app --home {h}")
    terminal.start()
    try:
        host = "127.0.0.1" if "127.0.0.1" in service.listen else (service.listen or ["127.0.0.1"])[0]
        agent = _fleet_agent(terminal.config, terminal, h, app, f"https://{f'[{host}]' if ':' in host else host}:{p}")
    except ConfigError as e:
        stop()
        raise click.ClickException(e.detail) from None
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # finally below stops the simulators (cupsd, pcscd, ...) instead of orphaning them
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        serve_forever(app, port=p)
    except OSError as e:
        raise click.ClickException(f"cannot listen on port {p}: {e.strerror or e}") from None
    finally:
        if agent is not None:
            agent.stop()
        stop()


def _remove(own_wd: Path | None) -> None:
    if own_wd is not None:
        from gtsdk import leftovers

        leftovers.remove_temp_dir(own_wd)


def _fleet_agent(cfg: TerminalConfig, terminal: Terminal, home: Path, app: object, url: str) -> Any:
    """The fleet agent when the config has a [fleet] table (docs/fleet.md); None otherwise.  *url* is where this
    service listens (the ``conformance`` command certifies it)."""
    if not cfg.fleet:
        return None
    from gtsdk.fleet.service import start_agent
    return start_agent(cfg, terminal, home, audit=getattr(app, "audit", None), app=app, service_url=url)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
