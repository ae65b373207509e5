"""gtsdk — SDK for government-service integrated self-service terminals.

The 14 module contracts of clause 8.4 (:mod:`gtsdk.modules`), the terminal
runtime (:class:`Terminal`), a terminal on simulated devices
(:func:`simulated_terminal`), the error catalogue (:mod:`gtsdk.errors`).
"""

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

__version__ = "0.1.0"
__all__ = ["MODULES", "ErrorCode", "GtsdkError", "SimulatedTerminal", "Terminal", "__version__", "simulated_terminal"]
