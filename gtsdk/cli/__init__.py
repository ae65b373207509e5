"""The ``gtsdk`` command.

Subcommands live in their own modules and load lazily, so ``gtsdk --help`` is
fast and a feature whose dependencies are missing does not break the others.
Each entry maps a command name to ``module:attribute`` (a click command).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

SUBCOMMANDS: dict[str, str] = {
    "serve": "gtsdk.cli.serve:command",
    "devices": "gtsdk.cli.core:devices",
    "drivers": "gtsdk.cli.core:drivers",
    "check-config": "gtsdk.cli.core:check_config",
    "new-driver": "gtsdk.cli.scaffold:new_driver",
    "sim": "gtsdk.cli.sim:command",
    "crypto": "gtsdk.cli.crypto:command",
    "audit": "gtsdk.cli.audit:command",
    "inspect": "gtsdk.cli.inspect:command",
    "ca": "gtsdk.cli.ca:command",
    "token": "gtsdk.cli.token:command",
    "models": "gtsdk.cli.models:command",
    "certify": "gtsdk.cli.certify:command",
    "certify-driver": "gtsdk.cli.certify:certify_driver",
    "bridge": "gtsdk.cli.bridge:command",
    "release": "gtsdk.cli.release:command",
    "update": "gtsdk.cli.update:command",
    "fleet": "gtsdk.cli.fleet:command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        present = []
        for name, target in SUBCOMMANDS.items():
            mod = target.split(":")[0]
            if importlib.util.find_spec(mod) is not None:
                present.append(name)
        return sorted(present)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        mod_name, attr = target.split(":")
        if importlib.util.find_spec(mod_name) is None:
            return None
        mod = importlib.import_module(mod_name)
        cmd: Any = getattr(mod, attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gtsdk")
def main() -> None:
    """gtsdk — SDK for government-service self-service terminals (政务服务集成式自助终端)."""
