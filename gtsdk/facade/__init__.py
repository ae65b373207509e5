"""Typed facades of the 14 module contracts, shared by the in-process terminal and the HTTPS client.

``terminal.idcard``, ``client.idcard`` and their async forms are facades: one method per
operation with keyword arguments typed as the contract's request fields and the contract's
result model as return type, so a misspelt module, operation, argument or result field fails
type checking.  Every ``timeout`` is in seconds.  :class:`Module` / :class:`AsyncModule` are
the generic handles for a module unknown at type-check time.

The per-module classes in :mod:`gtsdk.facade.modules` are generated from the contracts
(``python -m gtsdk.facade.generate``).
"""

from gtsdk.facade._base import (
    AsyncCaller,
    AsyncModule,
    AsyncModuleFacade,
    Caller,
    Level,
    Module,
    ModuleFacade,
    RequestLike,
    check_timeout,
)
from gtsdk.facade.modules import *  # noqa: F403 - the generated classes, listed in their __all__
from gtsdk.facade.modules import __all__ as _generated

__all__ = [
    "AsyncCaller",
    "AsyncModule",
    "AsyncModuleFacade",
    "Caller",
    "Level",
    "Module",
    "ModuleFacade",
    "RequestLike",
    "check_timeout",
    *_generated,
]
