"""Logging an exception the runtime carries on after (a driver hook, a listener): every one is logged, by
type and place only — never by its text, which may hold personal data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("gtsdk.runtime")


def swallowed(module: str, what: str, e: BaseException) -> None:
    """Log that *what* of *module* raised *e* and the runtime went on."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    log.warning("%s: %s raised %s%s; carrying on", module, what, type(e).__name__, where)


@contextmanager
def carrying_on(module: str, what: str) -> Iterator[None]:
    """Run the block; if it raises, log it with :func:`swallowed` and go on after the block.

    The one place the runtime catches whatever a driver hook or a listener raises (``except Exception``):
    a driver is third-party code, and a status query, a disconnect or an audit listener must not take the
    device's worker down.  ``GtsdkError`` is swallowed too — the caller asked to carry on.
    """
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the runtime's single catch-all; logged by type and place
        swallowed(module, what, e)
