"""Open any mapping file with the engine its ``bridge:`` key names (for ``gtsdk bridge test``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtsdk.errors import ConfigError

from .mapping import MappingError
from .yamlpos import YamlProblem, parse

if TYPE_CHECKING:
    from ..http_bridge.engine import HttpEngine
    from ..native_bridge.engine import NativeEngine

KINDS = {"native": "native_bridge", "http": "http_bridge"}


def bridge_kind(path: Path) -> str:
    """``native`` or ``http``; MappingError naming the line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), f"cannot read the mapping file: {type(e).__name__}") from None
    try:
        doc = parse(text)
    except YamlProblem as e:
        raise MappingError(str(path), e.line, e.column, e.path, e.problem) from None
    kind = doc.data.get("bridge") if isinstance(doc.data, dict) else None
    if kind not in KINDS:
        _, (line, col) = doc.where(("bridge",))
        raise MappingError(str(path), line, col, ("bridge",), f"must be one of {', '.join(KINDS)}")
    return str(kind)


def open_engine(path: Path, params: dict[str, Any], emit: Callable[[str, dict[str, Any]], None],
                workdir: str | None = None) -> NativeEngine | HttpEngine:
    kind = bridge_kind(path)
    if kind == "native":
        from ..native_bridge.engine import NativeBridgeSettings, NativeEngine
        from ..native_bridge.mapping import load as load_native

        module = load_native(path).module
        return NativeEngine(module, NativeBridgeSettings(mapping=str(path), params=params, workdir=workdir), emit)
    from ..http_bridge.engine import HttpBridgeSettings, HttpEngine
    from ..http_bridge.mapping import load as load_http

    module = load_http(path).module
    return HttpEngine(module, HttpBridgeSettings(mapping=str(path), params=params), emit)
