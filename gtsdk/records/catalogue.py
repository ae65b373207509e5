"""The 事项 catalogue on the terminal (6.3, 7.1.3 a, 10.1.1.1): which services it offers and what each needs.

A TOML (or JSON) file in the gtsdk home, ``catalogue.toml`` unless ``[records] catalogue`` names another::

    version = "2026.1"

    [[entries]]
    code = "social"                     # 事项编码 (the 实施清单 code in a real deployment)
    name_zh = "社保卡补办"
    name_en = "Replace social security card"
    department = "人力资源和社会保障局"
    category = "社保"
    modules = ["idcard", "camera", "signature_pad", "receipt_printer"]
    on_terminal = true                  # can be finished on the terminal (全程自助办理)
    typical_duration = 180              # seconds

Every entry is validated against :class:`~gtsdk.records.schema.CatalogueEntry`; a bad one is refused with a
``configError`` naming the entry and the key.  Without a file the example catalogue shipped with gtsdk is used
(the four services of the demo page).  An entry whose modules are not all usable right now is served with
``available = false`` and the modules that are missing.

The fleet platform can push a new catalogue to a running terminal (docs/fleet.md, ``pushCatalogue``): it is
validated by :func:`parse` like the file, written over the file atomically by :func:`write_file` (in the file's
own format, so the next start reads the same catalogue) and swapped in by the record store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gtsdk.driver import Model
from gtsdk.errors import ConfigError
from gtsdk.modules import MODULES
from gtsdk.records.schema import Catalogue, CatalogueEntry

EXAMPLE = "example_catalogue.toml"
MAX_ENTRIES = 2000
MAX_FILE_BYTES = 2 * 1024 * 1024


class ServedEntry(CatalogueEntry):
    """A catalogue entry as ``GET /v1/catalogue`` serves it: with whether it can be offered right now."""

    available: bool = True
    missing_modules: list[str] = Field(default_factory=list, description="required modules that are not usable now")


class ServedCatalogue(Model):
    version: str
    source: str = Field(description="'home', 'config' or 'example'")
    entries: list[ServedEntry]


def parse(data: dict[str, Any], source: str) -> Catalogue:
    if not isinstance(data, dict):
        raise ConfigError(source, "must be a table with version and entries")
    unknown = set(data) - {"version", "entries"}
    if unknown:
        raise ConfigError(f"{source}: {sorted(unknown)[0]}", "unknown key; expected version and [[entries]]")
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: entries", "at least one [[entries]] table is needed")
    if len(entries) > MAX_ENTRIES:
        raise ConfigError(f"{source}: entries", f"more than {MAX_ENTRIES} entries")
    parsed: list[CatalogueEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(entries):
        name = f"entries[{i}]" + (f" ({raw.get('code')})" if isinstance(raw, dict) and raw.get("code") else "")
        try:
            entry = CatalogueEntry.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(_snake(str(p)) for p in err.get("loc", ()))  # the file's spelling, not the wire's
            raise ConfigError(f"{source}: {name}.{loc}" if loc else f"{source}: {name}", err["msg"]) from None
        bad = [m for m in entry.modules if m not in MODULES]
        if bad:
            raise ConfigError(f"{source}: {name}.modules", f"unknown module ids {bad}; known: {', '.join(MODULES)}")
        if entry.code in seen:
            raise ConfigError(f"{source}: {name}.code", "duplicate code")
        seen.add(entry.code)
        parsed.append(entry)
    version = data.get("version")
    if version is None:  # unversioned file: the content decides
        body = json.dumps([e.model_dump(mode="json") for e in parsed], sort_keys=True, ensure_ascii=False)
        version = "sha-" + hashlib.sha256(body.encode()).hexdigest()[:12]
    if not isinstance(version, str | int | float) or not str(version) or len(str(version)) > 64:
        raise ConfigError(f"{source}: version", "must be a short string")
    return Catalogue(version=str(version), entries=parsed)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def load_file(path: Path) -> Catalogue:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(str(path), f"larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not UTF-8") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(str(path), f"not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {e}") from None
    return parse(data, path.name)


def to_file_data(cat: Catalogue) -> dict[str, Any]:
    """*cat* in the file's spelling (snake_case keys, absent values left out), as :func:`parse` reads it."""
    return {"version": cat.version, "entries": [e.model_dump(mode="json", exclude_none=True) for e in cat.entries]}


def write_file(path: Path, cat: Catalogue, *, header: str = "") -> None:
    """Write *cat* to *path* — TOML, or JSON for a ``.json`` path — atomically: a temporary file beside it is
    written and synced, then renamed over it, so a crash leaves the old file or the new one, never half of one.

    *header* (TOML only) becomes comment lines at the top, e.g. who pushed it and when."""
    data = to_file_data(cat)
    if path.suffix == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        try:
            import tomli_w
        except ImportError:
            raise ConfigError(str(path), "writing TOML needs tomli-w (pip install gtsdk[fleet])") from None
        comments = "".join(f"# {line}\n" for line in header.splitlines())
        text = comments + tomli_w.dumps(data)
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ConfigError(str(path), f"larger than {MAX_FILE_BYTES} bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load(home: Path, configured: Path | None) -> tuple[Catalogue, str]:
    """(catalogue, source): the configured file, else ``<home>/catalogue.toml``, else the shipped example."""
    if configured is not None:
        return load_file(configured), "config"
    own = home / "catalogue.toml"
    if own.exists():
        return load_file(own), "home"
    text = resources.files("gtsdk.records").joinpath(EXAMPLE).read_text(encoding="utf-8")
    return parse(tomllib.loads(text), EXAMPLE), "example"


def needed_by_all(cat: Catalogue) -> set[str]:
    """Modules every service finished on the terminal needs: losing one makes the terminal unusable (level 1)."""
    sets = [set(e.modules) for e in cat.entries if e.on_terminal]
    if not sets:
        return set()
    out = sets[0]
    for s in sets[1:]:
        out &= s
    return out


def served(cat: Catalogue, source: str, usable: set[str]) -> ServedCatalogue:
    out = []
    for e in cat.entries:
        missing = [m for m in e.modules if m not in usable]
        out.append(ServedEntry(**e.model_dump(), available=not missing, missing_modules=missing))
    return ServedCatalogue(version=cat.version, source=source, entries=out)
