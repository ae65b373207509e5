"""Logging an exception the runtime carries on after (a driver hook, a listener): every one is logged, by
type and place only — never by its text, which may hold personal data."""

from __future__ import annotations

import logging

log = logging.getLogger("gtsdk.runtime")


def swallowed(module: str, what: str, e: BaseException) -> None:
    """Log that *what* of *module* raised *e* and the runtime went on."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    log.warning("%s: %s raised %s%s; carrying on", module, what, type(e).__name__, where)
