"""The versions on a terminal's disk and the one pointer that says which runs.

```
<root>/versions/<version>/venv/             its own virtual environment (no system site packages)
<root>/versions/<version>/wheels/           every wheel it was installed from (the next version starts from these)
<root>/versions/<version>/config/terminal.toml
<root>/versions/<version>/bundle/           manifest.json and signature.json of the bundle that made it
<root>/versions/<version>/ready.json        written last, atomically: the version is complete
<root>/versions/<version>/failed.json       it failed (certification, crash loop, health) and is never switched to again
<root>/current -> versions/<version>        the running version: a symlink replaced by rename (atomic)
<root>/previous -> versions/<version>       the one to roll back to, kept ready
<root>/journal.json                         an unfinished switch or probation (read again after a crash)
<root>/trusted/*.pem                        trusted release keys
<root>/audit.sqlite                         the update audit log (SM3-chained, heads signed with the terminal key)
```

A pointer only ever names a version whose ``ready.json`` exists, so whatever instant a ``kill -9`` lands on, the
terminal comes back on exactly one complete version.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError

VERSION_DIR = "versions"


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomic and durable: temp file, fsync, rename, fsync of the directory."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / VERSION_DIR
        self.current_link = root / "current"
        self.previous_link = root / "previous"
        self.journal_path = root / "journal.json"
        self.trusted = root / "trusted"
        self.lock_path = root / "update.lock"

    def create(self) -> Layout:
        self.versions.mkdir(parents=True, exist_ok=True)
        self.trusted.mkdir(exist_ok=True)
        return self

    def version_dir(self, version: str) -> Path:
        return self.versions / version

    def is_ready(self, version: str) -> bool:
        return (self.version_dir(version) / "ready.json").is_file()

    def is_failed(self, version: str) -> bool:
        return (self.version_dir(version) / "failed.json").is_file()

    def ready_versions(self) -> list[str]:
        if not self.versions.is_dir():
            return []
        return sorted(p.name for p in self.versions.iterdir() if (p / "ready.json").is_file())

    def _target(self, link: Path) -> str | None:
        try:
            target = os.readlink(link)
        except OSError:
            return None
        name = Path(target).name
        return name if self.is_ready(name) else None

    @property
    def current(self) -> str | None:
        return self._target(self.current_link)

    @property
    def previous(self) -> str | None:
        return self._target(self.previous_link)

    def point(self, link: Path, version: str) -> None:
        """Make *link* name *version* by one rename (never a moment without a link)."""
        if not self.is_ready(version):
            raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"version {version} is not complete; not pointing at it")
        tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
        os.symlink(f"{VERSION_DIR}/{version}", tmp)
        os.replace(tmp, link)
        fsync_dir(link.parent)

    def journal(self) -> dict[str, Any] | None:
        return read_json(self.journal_path)

    def set_journal(self, doc: dict[str, Any] | None) -> None:
        if doc is None:
            try:
                self.journal_path.unlink()
            except FileNotFoundError:
                return
            fsync_dir(self.root)
        else:
            write_json(self.journal_path, doc)

    def mark_failed(self, version: str, code: str, detail: str) -> None:
        write_json(self.version_dir(version) / "failed.json", {"code": code, "detail": detail})

    def venv(self, version: str) -> Path:
        return self.version_dir(version) / "venv"

    def config(self, version: str) -> Path:
        return self.version_dir(version) / "config" / "terminal.toml"
