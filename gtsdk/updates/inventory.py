"""The allowed-software report (9.1.1.2 b: only approved software runs; 9.1.1.1 c): every distribution
installed in a version's environment, with its hashes, checked against the signed bundles it came from.

A distribution is *approved* when a wheel of the same project and version is in the version's wheelhouse
(``wheels.json`` lists each wheel with the SM3 digest the signed manifest carried) and every file the
installation wrote still has the SHA-256 its ``RECORD`` lists.  Anything else is flagged:

* ``notFromBundle`` — installed by hand (``pip install`` on the terminal), or a version no bundle carried;
* ``modified`` — a file differs from what was installed (or is missing);
* ``unowned`` — a file or folder in site-packages that no distribution installed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import re
from pathlib import Path
from typing import Any

from gtsdk.crypto import sm3

MAX_FILES_CHECKED = 200_000
_IGNORED_TOP = {"__pycache__", "_distutils_hack", "distutils-precedence.pth", "README.txt"}


def site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _file_ok(base: Path, rel: str, spec: str, size: str) -> bool:
    algo, _, want = spec.partition("=")
    try:
        data = (base / rel).read_bytes()
    except OSError:
        return False
    if size and size.isdigit() and int(size) != len(data):
        return False
    h = hashlib.new(algo, data).digest()
    return base64.urlsafe_b64encode(h).rstrip(b"=").decode() == want


def report(venv: Path, wheels: dict[str, str] | None = None) -> dict[str, Any]:
    """The report for the environment *venv*; *wheels* maps wheel file names from signed bundles to SM3."""
    sp = site_packages(venv)
    if sp is None:
        return {"environment": str(venv), "distributions": [], "unowned": [], "flagged": 0}
    approved: dict[tuple[str, str], tuple[str, str]] = {}
    for w, digest in (wheels or {}).items():
        parts = w[:-4].split("-")
        if len(parts) >= 2:
            approved[(_norm(parts[0]), parts[1])] = (w, digest)
    owned: set[str] = set()
    dists = []
    checked = 0
    for d in sorted(md.distributions(path=[str(sp)]), key=lambda d: _norm(d.metadata["Name"] or "")):
        name = d.metadata["Name"] or "?"
        record = d.read_text("RECORD") or ""
        files_ok = True
        for row in csv.reader(io.StringIO(record)):
            if not row:
                continue
            rel = row[0]
            owned.add(rel.split("/")[0])
            if len(row) >= 3 and row[1] and checked < MAX_FILES_CHECKED:
                checked += 1
                if not _file_ok(sp, rel, row[1], row[2]):
                    files_ok = False
        src = approved.get((_norm(name), d.version))
        flags = []
        if src is None:
            flags.append("notFromBundle")
        if not files_ok:
            flags.append("modified")
        dists.append({"name": name, "version": d.version, "recordSm3": sm3(record.encode()).hex(),
                      "wheel": src[0] if src else None, "wheelSm3": src[1] if src else None, "flags": flags})
    unowned = sorted(p.name for p in sp.iterdir()
                     if p.name not in owned and p.name not in _IGNORED_TOP and not p.name.endswith(".dist-info"))
    flagged = sum(1 for d in dists if d["flags"]) + len(unowned)
    return {"environment": str(venv), "distributions": dists, "unowned": unowned, "flagged": flagged}
