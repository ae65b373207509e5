"""One driver class per module contract for a bridge, made from the contract itself.

The registry checks that a driver is a subclass of its module's abstract driver
class, so a bridge that serves any module needs a class per module: each one
subclasses the module's driver class and hands every operation to the bridge
engine.  Entry points name them ``<module>.native_bridge`` →
``gtsdk.drivers.native_bridge:IdcardNativeBridge`` and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gtsdk.driver import DeviceInfo, HealthLevel, HealthResult, Model, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES

from .mapping import optional

VERSION = "1.0"


def class_name(module: str, suffix: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in module.split("_")) + suffix


def make_classes(driver_name: str, suffix: str, settings_model: type, engine: Callable[..., Any],
                 features: Callable[[Any], dict[str, Any]]) -> dict[str, type]:
    """``{class name: class}`` for every module of clause 8.4."""
    out: dict[str, type] = {}
    for module, spec in MODULES.items():
        cls = _make(module, spec.driver_class, driver_name, settings_model, engine, features)
        cls.__name__ = cls.__qualname__ = class_name(module, suffix)
        out[cls.__name__] = cls
    return out


def _make(module: str, base: type, driver_name: str, settings_model: type, engine: Callable[..., Any],
          features: Callable[[Any], dict[str, Any]]) -> type:
    def __init__(self: Any, settings: Any, emit: Any = None, set_state: Any = None) -> None:
        getattr(base, "__init__")(self, settings, emit, set_state)  # noqa: B009 - the module's driver class
        self.bridge = engine(module, settings, self._emit_event)
        self.poll_interval = self.bridge.poll_interval
        ops = self.bridge.mapping.operations
        mapped = tuple(op for op in optional(MODULES[module]) if op in ops and not ops[op].unsupported)
        self.__class__ = specialise(type(self), mapped)

    def _emit_event(self: Any, event: str, data: dict[str, Any]) -> None:
        self.emit(event, data)

    def connect(self: Any) -> None:
        self.bridge.connect()

    def disconnect(self: Any) -> None:
        self.bridge.disconnect()

    def device_info(self: Any) -> DeviceInfo:
        info: DeviceInfo = self.bridge.device_info(driver_name, VERSION)
        return info

    def features_(self: Any) -> dict[str, Any]:
        return features(self.bridge)

    def health(self: Any, level: HealthLevel, ctx: OpContext) -> HealthResult:
        if level is HealthLevel.INTERACTIVE:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "no interactive health check through a bridge")
        ok = bool(self.bridge.ping())
        return HealthResult(level=level, ok=ok, text="the vendor interface answers" if ok else
                            "the vendor interface does not answer", checks={"vendor": ok})

    def poll(self: Any, ctx: OpContext) -> None:
        self.bridge.poll(ctx)

    def status_detail(self: Any) -> dict[str, Any]:
        detail: dict[str, Any] = {"bridge": driver_name, "restarts": getattr(self.bridge, "restarts", 0)}
        if getattr(self.bridge, "last_failure", ""):
            detail["lastFailure"] = self.bridge.last_failure
        if self.bridge.present is not None:
            detail["present"] = self.bridge.present
        return detail

    ns: dict[str, Any] = {
        "module": module, "name": driver_name, "version": VERSION, "settings_model": settings_model,
        "__init__": __init__, "_emit_event": _emit_event, "connect": connect, "disconnect": disconnect,
        "device_info": device_info, "features": features_, "health": health, "poll": poll,
        "status_detail": status_detail, "__module__": f"gtsdk.drivers.{driver_name}",
    }
    spec = MODULES[module]
    for op in spec.operations:
        if op not in optional(spec):
            ns[op] = _operation(op)
    return type(f"{module}_{driver_name}", (base,), ns)


_SPECIALISED: dict[tuple[type, tuple[str, ...]], type] = {}


def specialise(cls: type, mapped: tuple[str, ...]) -> type:
    """*cls* plus the optional operations a mapping maps (capabilities list exactly those)."""
    if not mapped:
        return cls
    key = (cls, mapped)
    if key not in _SPECIALISED:
        sub = type(cls.__name__, (cls,), {"__module__": cls.__module__, **{op: _operation(op) for op in mapped}})
        sub.__qualname__ = cls.__qualname__
        _SPECIALISED[key] = sub
    return _SPECIALISED[key]


def _operation(op: str) -> Callable[..., Model]:
    def run(self: Any, request: Model, ctx: OpContext) -> Model:
        result: Model = self.bridge.run(op, request, ctx)
        return result

    run.__name__ = op
    return run
