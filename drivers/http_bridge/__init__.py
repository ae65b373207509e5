"""http_bridge: drive a device through its vendor's local HTTP/WebSocket middleware, by a mapping file (7.4.4).

See docs/bridges.md.  One driver class per module, registered as ``<module>.http_bridge``.
"""

from typing import Any

from ..bridge_common.classes import make_classes
from .engine import HttpBridgeSettings, HttpEngine


def _features(engine: HttpEngine) -> dict[str, Any]:
    ev = engine.mapping.events
    return {"bridge": "http", "mapping": engine.mapping_path.name,
            "events": "websocket" if ev is not None and ev.websocket is not None else
            ("poll" if ev is not None else None)}


CLASSES = make_classes("http_bridge", "HttpBridge", HttpBridgeSettings, HttpEngine, _features)
globals().update(CLASSES)

__all__ = ["CLASSES", "HttpBridgeSettings", "HttpEngine", *CLASSES]
