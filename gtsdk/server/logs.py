"""No secret in the service's log lines.

The events route replaces a ``?token=`` secret in the request's scope before anything can log the path
(gtsdk/server/routes/events.py).  This filter is the second line: any record of uvicorn's loggers or ours whose
text holds ``token=<value>`` or a bearer token (``gts_<id>_<secret>``) is rewritten before a handler sees it.
"""

from __future__ import annotations

import logging
import re

_QUERY_TOKEN = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_SECRET = re.compile(r"\b(gts_[0-9a-f]{1,32}_)[A-Za-z0-9_\-]+")
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gtsdk.server", "gtsdk.server.auth",
           "gtsdk.server.connections", "gtsdk.server.pages")


def scrub(text: str) -> str:
    return _SECRET.sub(r"\1***", _QUERY_TOKEN.sub(r"\1***", text))


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception as e:  # noqa: BLE001 - a log argument's own __str__ may raise anything (and a filter that
            # raised would break the code that logged).  Left as it is, the handler's handleError would print the
            # record's raw arguments, a token among them: the record says only where and what went wrong.
            record.msg = f"unformattable log record ({type(e).__name__}) from {record.pathname}:{record.lineno}"
            record.args = None
            return True
        clean = scrub(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


_FILTER = SecretFilter()


def install() -> None:
    """Put the filter on the service's loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
