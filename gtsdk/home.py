"""The gtsdk home directory: CA, server certificate, tokens, audit database.

``--home`` wins, then ``GTSDK_HOME``, then the per-user data directory
(``$XDG_DATA_HOME/gtsdk`` or ``~/.local/share/gtsdk``).  The directory is
created readable by its owner only, and secret files are written with mode
0600 (clause 9.2.1 b: the CA key is kept secret).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def home_path(explicit: str | Path | None = None) -> Path:
    """Where the home is, without creating it (a client looking for the CA)."""
    if explicit:
        base = Path(explicit)
    elif os.environ.get("GTSDK_HOME"):
        base = Path(os.environ["GTSDK_HOME"])
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gtsdk"
    return base.expanduser().resolve()


def home_dir(explicit: str | Path | None = None) -> Path:
    """The home, created (mode 0700) when missing."""
    base = home_path(explicit)
    if not base.exists():
        base.mkdir(parents=True, mode=0o700)
    return base


def write_private(path: Path, data: bytes) -> None:
    """Write *data* atomically to *path* with mode 0600 from the first byte on."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_public(path: Path, data: bytes) -> None:
    write_private(path, data)
    os.chmod(path, 0o644)
