"""The private directory a vendor library writes its output files into.

Those files (``wz.txt``, ``zp.bmp``, ``fp.dat``) hold personal data: they live
in RAM when the machine has /dev/shm, in a folder only the service's user can
enter, are read and removed after every operation, and whatever a killed
predecessor left behind is removed when the next service starts — the folder's
name depends only on the user, the module and the mapping, so the successor
finds it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError


def default_base() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def _private_dir(p: Path, key: str) -> None:
    try:
        p.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(p)
    except OSError as e:
        raise ConfigError(key, f"cannot create {p}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        raise ConfigError(key, f"{p} exists and is not a folder of this user")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(p, 0o700)


def prepare(module: str, mapping: Path, configured: str | None) -> Path:
    """The worker directory for *module* driven by *mapping* (created 0700, emptied)."""
    key = f"modules.{module}.workdir"
    if configured:
        base = Path(configured)
        _private_dir(base, key)
        path = base
    else:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        base = default_base() / f"gtsdk-bridge-{uid}"
        _private_dir(base, key)
        digest = hashlib.sha256(str(mapping.resolve()).encode()).hexdigest()[:10]
        path = base / f"{module}-{digest}"
        _private_dir(path, key)
    wipe(path)
    return path


def wipe(path: Path | str) -> None:
    """Remove everything inside *path* (not *path* itself); never follows symlinks."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    except OSError as e:
        raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"cannot clean the worker folder: {e.strerror}") from None
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass


def remove(path: Path) -> None:
    wipe(path)
    try:
        path.rmdir()
    except OSError:
        pass


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def read(path: Path | str, name: str, max_size: int) -> bytes | None:
    """The file *name* the library wrote (None when absent); refuses links and anything over *max_size*."""
    return read_path(os.path.join(path, name), name, max_size)


def read_path(path: str, name: str, max_size: int) -> bytes | None:
    """:func:`read` of the file at *path* (joined already), called *name* in errors."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"cannot open the library's {name}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the library's {name} is not a regular file")
        if st.st_size > max_size:
            raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the library's {name} is larger than {max_size} bytes")
        want = st.st_size + 1  # the whole file and the sign of its end in one read
        data = os.read(fd, want)
        if len(data) < want:  # a short read of a regular file is its end: nothing more was written
            return data
        chunks = [data]  # the library is still writing it: read on, bounded
        total = len(data)
        while total <= max_size:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            chunks.append(chunk)
        raise GtsdkError(ErrorCode.HARDWARE_ERROR, f"the library's {name} is larger than {max_size} bytes")
    finally:
        os.close(fd)
