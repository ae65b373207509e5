"""Terminal configuration: a TOML file mapping each module id to a driver.

```toml
[terminal]
id = "T-0001"

[modules.idcard]
driver = "sam_serial"
port = "/dev/ttyUSB0"
baudrate = 115200
```

Keys the runtime consumes itself are listed in :data:`RUNTIME_KEYS`; every
other key of a module table is a driver setting, validated by the driver's
settings model so a typo is reported with its full key path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtsdk.errors import ConfigError
from gtsdk.modules import MODULES

#: module-table keys owned by the runtime, with their meaning
RUNTIME_KEYS = {
    "driver": "driver name (entry point <module>.<driver>)",
    "enabled": "false disables the module",
    "timeout": "default operation timeout in seconds",
    "reconnect_interval": "seconds between reconnect attempts while the device is absent",
    "auto_open": "open the device at start (default true)",
}
TOP_LEVEL_KEYS = {"terminal", "modules", "service", "simulate", "records", "fleet"}


@dataclass
class ModuleConfig:
    module: str
    driver: str
    enabled: bool = True
    timeout: float | None = None
    reconnect_interval: float = 2.0
    auto_open: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class TerminalConfig:
    terminal: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, ModuleConfig] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    simulate: dict[str, Any] = field(default_factory=dict)
    #: the [records] table (gtsdk.records.config)
    records: dict[str, Any] = field(default_factory=dict)
    fleet: dict[str, Any] = field(default_factory=dict)  # the fleet agent's table (gtsdk.fleet.agent, docs/fleet.md)
    source: str = "<memory>"


def _number(key: str, value: Any, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"must be a number, got {type(value).__name__}")
    if value < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {value}")
    return float(value)


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


def parse_config(data: dict[str, Any], source: str = "<memory>") -> TerminalConfig:
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(key, f"unknown top-level table; expected one of {sorted(TOP_LEVEL_KEYS)}")
    cfg = TerminalConfig(source=source)
    for name in ("terminal", "service", "simulate", "records", "fleet"):
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(name, "must be a table")
        setattr(cfg, name, dict(value))
    modules = data.get("modules", {})
    if not isinstance(modules, dict):
        raise ConfigError("modules", "must be a table of module tables")
    for mod_id, table in modules.items():
        cfg.modules[mod_id] = _module_config(mod_id, table)
    return cfg


def _module_config(mod_id: str, table: Any) -> ModuleConfig:
    """One ``[modules.<id>]`` table: the runtime's keys checked, every other key left to the driver's settings."""
    key = f"modules.{mod_id}"
    if mod_id not in MODULES:
        raise ConfigError(key, f"unknown module id; known ids (clause 8.4): {', '.join(MODULES)}")
    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table")
    driver = table.get("driver")
    if not isinstance(driver, str) or not driver:
        raise ConfigError(f"{key}.driver", "missing: name the driver, e.g. driver = \"sam_serial\"")
    mc = ModuleConfig(module=mod_id, driver=driver)
    for k, v in table.items():
        kk = f"{key}.{k}"
        if k == "driver":
            continue
        if k == "enabled":
            mc.enabled = _boolean(kk, v)
        elif k == "auto_open":
            mc.auto_open = _boolean(kk, v)
        elif k == "timeout":
            mc.timeout = _number(kk, v, minimum=0.001)
        elif k == "reconnect_interval":
            mc.reconnect_interval = _number(kk, v, minimum=0.05)
        else:
            mc.settings[k] = v
    return mc


#: events kept for clients that reconnect (``since``) unless ``[terminal] event_history`` says otherwise
EVENT_HISTORY = 10_000


def event_history(cfg: TerminalConfig) -> int:
    """``[terminal] event_history``: how many events the bus keeps for clients that reconnect (at least 100)."""
    value = cfg.terminal.get("event_history", EVENT_HISTORY)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("terminal.event_history", f"must be a whole number, got {type(value).__name__}")
    if not 100 <= value <= 1_000_000:
        raise ConfigError("terminal.event_history", f"must be between 100 and 1000000, got {value}")
    return value


def load_config(path: str | Path) -> TerminalConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(p), f"cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"not valid TOML: {e}") from None
    return parse_config(data, source=str(p))
