"""``<root>/updates.toml``: who this terminal is (for bundle targets), how its service is run and watched, and
the rollback policy.  Kept beside the versions, not in the terminal configuration that bundles replace.

```toml
terminal_id = "T-0001"
model = "GT-K200"
region = "440305"            # GB/T 2260
groups = ["canary"]
home = "/var/lib/gtsdk"      # the service's gtsdk home (records.sqlite, terminal key)
service = ["{venv}/bin/gtsdk", "serve", "--config", "{config}", "--home", "/var/lib/gtsdk"]
health_url = "https://127.0.0.1:8801/v1/services"
health_token_file = "/etc/gtsdk/maintenance.token"
simulate_devices = false     # certify against gtsdk's simulators (test benches only)

[policy]                     # seconds
transaction_wait = 600
crash_restarts = 3
crash_window = 120
health_grace = 60
probation = 300
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gtsdk.errors import ConfigError
from gtsdk.updates.installer import Policy
from gtsdk.updates.trust import Identity

DEFAULT_SERVICE = ("{venv}/bin/gtsdk", "serve", "--config", "{config}")
KEYS = {"terminal_id", "model", "region", "groups", "home", "service", "health_url", "health_token_file",
        "simulate_devices", "policy"}


@dataclass
class UpdatesConfig:
    identity: Identity
    home: Path | None = None
    service: list[str] = field(default_factory=lambda: list(DEFAULT_SERVICE))
    health_url: str | None = None
    health_token_file: Path | None = None
    policy: Policy = field(default_factory=Policy)


def _str(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(key, "must be a string")
    return v


def parse(data: dict[str, Any], *, default_id: str = "terminal") -> UpdatesConfig:
    for k in data:
        if k not in KEYS:
            raise ConfigError(k, f"unknown key; expected one of {sorted(KEYS)}")
    groups = data.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ConfigError("groups", "must be a list of strings")
    ident = Identity(terminal_id=_str("terminal_id", data.get("terminal_id", default_id)),
                     model=_str("model", data.get("model", "")), region=_str("region", data.get("region", "")),
                     groups=frozenset(groups))
    service = data.get("service", list(DEFAULT_SERVICE))
    if not isinstance(service, list) or not service or not all(isinstance(s, str) for s in service):
        raise ConfigError("service", "must be a non-empty list of strings")
    policy = Policy()
    table = data.get("policy", {})
    if not isinstance(table, dict):
        raise ConfigError("policy", "must be a table")
    names = {f.name: f for f in fields(Policy)}
    for k, v in table.items():
        if k not in names:
            raise ConfigError(f"policy.{k}", f"unknown key; expected one of {sorted(names)}")
        want = type(getattr(policy, k))
        if want is bool:
            if not isinstance(v, bool):
                raise ConfigError(f"policy.{k}", "must be true or false")
        elif isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ConfigError(f"policy.{k}", "must be a number >= 0")
        setattr(policy, k, want(v))
    sim = data.get("simulate_devices", False)
    if not isinstance(sim, bool):
        raise ConfigError("simulate_devices", "must be true or false")
    policy.simulate_devices = sim
    home = data.get("home")
    token = data.get("health_token_file")
    url = data.get("health_url")
    return UpdatesConfig(identity=ident, home=Path(_str("home", home)) if home is not None else None,
                         service=list(service), health_url=_str("health_url", url) if url is not None else None,
                         health_token_file=Path(_str("health_token_file", token)) if token is not None else None,
                         policy=policy)


def load(root: Path) -> UpdatesConfig:
    path = root / "updates.toml"
    if not path.is_file():
        return parse({})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError("updates.toml", str(e)) from None
    return parse(data)
