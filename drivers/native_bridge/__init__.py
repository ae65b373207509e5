"""native_bridge: drive a device through its vendor's native library (.so/.dll), by a mapping file (7.4.4).

See docs/bridges.md.  The library runs in a worker process (``worker.py``): a
crash or a hang in vendor code costs one operation (``hardwareError``), never
the service.  One driver class per module, registered as ``<module>.native_bridge``.
"""

from typing import Any

from ..bridge_common.classes import make_classes
from .engine import NativeBridgeSettings, NativeEngine


def _features(engine: NativeEngine) -> dict[str, Any]:
    m = engine.mapping
    return {"bridge": "native", "mapping": engine.mapping_path.name, "library": m.library.path.rsplit("/", 1)[-1],
            "convention": m.library.convention, "events": m.events is not None}


CLASSES = make_classes("native_bridge", "NativeBridge", NativeBridgeSettings, NativeEngine, _features)
globals().update(CLASSES)

__all__ = ["CLASSES", "NativeBridgeSettings", "NativeEngine", *CLASSES]
