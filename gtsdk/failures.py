"""Logging an exception that is carried on after (a driver hook, a listener, a device call in a driver's own
thread): every one is logged, by type and place only — never by its text, which may hold personal data.

The runtime uses these around every driver hook; drivers and simulators use them where they swallow an
exception of their own (docs/contributing.md, "Catching exceptions").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("gtsdk")


def place(e: BaseException) -> str:
    """`` at <file>:<line>`` of the frame that raised *e* (empty when it carries no traceback): where, not what."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""


def swallowed(module: str, what: str, e: BaseException, *, logger: logging.Logger | None = None) -> None:
    """Log (warning) that *what* of *module* raised *e* and the caller went on."""
    (logger or log).warning("%s: %s raised %s%s; carrying on", module, what, type(e).__name__, place(e))


@contextmanager
def carrying_on(module: str, what: str, *, logger: logging.Logger | None = None) -> Iterator[None]:
    """Run the block; if it raises, log it with :func:`swallowed` and go on after the block.

    For code that must survive whatever foreign code raises: the runtime around a driver hook or a listener
    (a status query, a disconnect or an audit listener must not take the device's worker down), a driver
    around a vendor library's release call.  ``GtsdkError`` is swallowed too — the caller asked to carry on.
    """
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the shared catch-all; logged by type and place
        swallowed(module, what, e, logger=logger)
