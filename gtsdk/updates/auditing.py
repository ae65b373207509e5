"""The update audit log, ``<root>/audit.sqlite``: the SM3-chained log of gtsdk.audit, its daily heads signed by the
terminal's SM2 key (``AuditLog(root, signer=Signer(home)).verify()`` checks both).

Several processes report into it — the supervisor (switch, rollback, confirmation), ``gtsdk update install``
and the service answering the platform's ``update`` command (refusals, staging) — while the chain is kept in the
memory of one :class:`~gtsdk.audit.AuditLog`.  So each report opens the log under an exclusive lock, appends,
signs the day's head and closes it: the next writer starts from the hash on disk.  Reports are a handful per
update, the cost of opening is nothing next to them.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from gtsdk.audit import AuditLog, Signer


class UpdateAudit:
    def __init__(self, root: Path, home: Path | None = None) -> None:
        self.root = root
        self.home = home
        self._lock = threading.Lock()

    def record(self, **row: Any) -> None:
        with self._lock:
            fd = os.open(self.root / "audit.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                log = AuditLog(self.root, signer=Signer(self.home) if self.home is not None else None)
                try:
                    log.record(**row)
                finally:
                    log.close(sign=self.home is not None)
            finally:
                os.close(fd)
