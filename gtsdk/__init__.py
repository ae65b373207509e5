"""gtsdk — SDK for government-service integrated self-service terminals.

The 14 module contracts of clause 8.4 (:mod:`gtsdk.modules`), the terminal
runtime (:class:`Terminal`), a terminal on simulated devices
(:func:`simulated_terminal`), the HTTPS client (:mod:`gtsdk.client`), the
driver API (:mod:`gtsdk.driver`), the error catalogue (:mod:`gtsdk.errors`).

The names below load on first use, so ``import gtsdk.client`` or
``import gtsdk.errors`` does not start the runtime's imports.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from gtsdk._version import __version__
from gtsdk.errors import ErrorCode, GtsdkError

# onnxruntime (face matching, OCR) carries 1DS telemetry on Linux in recent releases: on import it writes
# $TMPDIR/.ses and a device identifier and queues usage events for upload, unless ORT_DISABLE_TELEMETRY=1 is
# set before it loads (microsoft/onnxruntime pull request 27379).  A terminal sends nothing to a third party
# and leaves nothing in the temp folder: off unless the operator set the variable.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:
    from gtsdk.modules import MODULES
    from gtsdk.runtime import Terminal
    from gtsdk.simulated import SimulatedTerminal, simulated_terminal

__all__ = ["MODULES", "ErrorCode", "GtsdkError", "SimulatedTerminal", "Terminal", "__version__", "simulated_terminal"]

_LAZY = {
    "MODULES": "gtsdk.modules",
    "Terminal": "gtsdk.runtime",
    "SimulatedTerminal": "gtsdk.simulated",
    "simulated_terminal": "gtsdk.simulated",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'gtsdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
