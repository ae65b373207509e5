"""Driver discovery through the ``gtsdk.drivers`` entry-point group.

Entry point names are ``<module id>.<driver name>`` so two modules may each have
a driver called e.g. ``modbus_rtu``.  A vendor's separately installed package
registers the same way gtsdk's own drivers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from gtsdk.driver import Driver
from gtsdk.errors import ConfigError
from gtsdk.modules import MODULES

GROUP = "gtsdk.drivers"

_extra: dict[str, type[Driver]] = {}


@dataclass
class DriverEntry:
    module: str
    name: str
    target: str
    distribution: str
    error: str | None = None


def register(module: str, name: str, cls: type[Driver]) -> None:
    """Register a driver class in-process (apps and tests; plugins use entry points)."""
    _check_class(f"{module}.{name}", module, cls)
    _extra[f"{module}.{name}"] = cls


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _check_class(key: str, module: str, cls: object) -> None:
    if module not in MODULES:
        raise ConfigError(key, f"unknown module id {module!r}")
    base = MODULES[module].driver_class
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(key, f"{cls!r} is not a subclass of {base.__module__}.{base.__name__}")


def load(module: str, name: str, *, key: str | None = None) -> type[Driver]:
    """The driver class for ``<module>.<name>``; ConfigError naming *key* otherwise."""
    key = key or f"modules.{module}.driver"
    full = f"{module}.{name}"
    if full in _extra:
        return _extra[full]
    eps = _entry_points()
    ep = eps.get(full)
    if ep is None:
        known = sorted(n.split(".", 1)[1] for n in list(eps) + list(_extra) if n.startswith(module + "."))
        raise ConfigError(key, f"unknown driver {name!r} for {module}; installed: {', '.join(known) or 'none'}")
    try:
        cls = ep.load()
    except Exception as e:  # noqa: BLE001 - a plugin's import may raise anything; reported as ConfigError
        raise ConfigError(key, f"driver {full} failed to load: {type(e).__name__}: {e}") from None
    _check_class(key, module, cls)
    loaded: type[Driver] = cls
    return loaded


def installed() -> list[DriverEntry]:
    """Every registered driver, with the load error of those that cannot load."""
    out: list[DriverEntry] = []
    for name, ep in sorted(_entry_points().items()):
        module, _, drv = name.partition(".")
        dist = ep.dist.name if ep.dist is not None else "?"
        entry = DriverEntry(module, drv, ep.value, dist)
        try:
            load(module, drv)
        except ConfigError as e:
            entry.error = e.detail.split(": ", 1)[-1]
        out.append(entry)
    for name, cls in sorted(_extra.items()):
        module, _, drv = name.partition(".")
        out.append(DriverEntry(module, drv, f"{cls.__module__}:{cls.__qualname__}", "(in-process)"))
    return out
