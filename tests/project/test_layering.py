"""Import layering (issue #14 item 4): each package imports only its own layer and those below it.

Static imports, imports inside functions, ``if TYPE_CHECKING`` imports and ``importlib.import_module``
with a literal (or f-string) name all count, so no arrow runs up unseen — e.g. client → server,
runtime → simulators, drivers → server.  ``import gtsdk`` itself (the version, the lazily loaded
top-level names) is allowed everywhere.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

import gtsdk

REPO = Path(__file__).resolve().parents[2]
#: source folder → the package it installs as
ROOTS = {"gtsdk": "gtsdk", "drivers": "gtsdk.drivers", "simulators": "gtsdk.simulators",
         "conformance": "gtsdk.conformance"}

#: low to high; a module may import from its own layer and every layer before it
LAYERS: list[tuple[str, ...]] = [
    ("gtsdk._version", "gtsdk.errors", "gtsdk.failures", "gtsdk.home"),
    ("gtsdk.modules", "gtsdk.driver"),  # the contracts and the driver API
    # cross-cutting; the wire models of the service and of the terminal records (pydantic + contracts only)
    ("gtsdk.crypto", "gtsdk.vision", "gtsdk.transport", "gtsdk.wire",
     "gtsdk.records.schema", "gtsdk.records.api", "gtsdk.records.catalogue"),
    ("gtsdk.facade",),  # typed facades over the contracts
    ("gtsdk.drivers",),  # device logic: contracts + transports only
    ("gtsdk.runtime",),  # config, queues, events — no simulators, no service
    ("gtsdk.client",),  # the HTTPS client: no server
    ("gtsdk.sim", "gtsdk.simulators"),  # simulated devices (may reuse drivers' codecs)
    ("gtsdk.simulated",),  # a terminal on simulators: runtime + simulators
    ("gtsdk.audit", "gtsdk.records", "gtsdk.updates"),  # the records' store and outbox; signed updates
    ("gtsdk.server", "gtsdk.fleet"),
    ("gtsdk.conformance", "gtsdk.scaffold"),
    ("gtsdk.cli",),
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def layer_of(module: str) -> str | None:
    """The layer entry *module* belongs to (longest matching package), None for the root ``gtsdk``."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    return None


@dataclass(frozen=True)
class Arrow:
    source: str  # importing module
    target: str  # imported module
    line: int
    path: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    root = path.relative_to(REPO).parts[0]
    rel = path.relative_to(REPO / root).with_suffix("")
    return ".".join([ROOTS[root], *(p for p in rel.parts if p != "__init__")])


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if node.level:  # relative: from . import x / from ..codec import y
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if prefix == "gtsdk":  # from gtsdk import sim → gtsdk.sim; Terminal → gtsdk.runtime; __version__ → gtsdk
        return [_root_name(a.name) for a in node.names]
    # from gtsdk.records import api → gtsdk.records.api (a submodule); from gtsdk.wire import X → gtsdk.wire
    return [f"{prefix}.{a.name}" if _is_module(f"{prefix}.{a.name}") else prefix for a in node.names]


def _is_module(name: str) -> bool:
    parts = name.split(".")
    for folder, package in ROOTS.items():
        head = package.split(".")
        if parts[: len(head)] == head and (len(head) > 1 or parts[1:2] not in (["drivers"], ["simulators"],
                                                                             ["conformance"])):
            base = REPO.joinpath(folder, *parts[len(head):])
            return base.with_suffix(".py").exists() or (base / "__init__.py").exists()
    return False


def _root_name(name: str) -> str:
    """Where a name imported from the root package lives."""
    if name in gtsdk._LAZY:
        return gtsdk._LAZY[name]
    if _is_module(f"gtsdk.{name}"):
        return f"gtsdk.{name}"
    return "gtsdk.errors" if name in ("ErrorCode", "GtsdkError") else "gtsdk"


def _dynamic_target(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("…")`` / ``import_module(f"gtsdk.simulators.{m}")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name != "import_module" or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).rstrip(".") or None
    return None


def arrows(source: str, module: str, path: str, is_package: bool = False) -> list[Arrow]:
    """Every import of a gtsdk module in *source* (any depth, any form)."""
    out: list[Arrow] = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = _resolve_from(node, module, is_package)
        elif isinstance(node, ast.Call) and (t := _dynamic_target(node)) is not None:
            targets = [t]
        out += [Arrow(module, t, getattr(node, "lineno", 0), path) for t in targets
                if t == "gtsdk" or t.startswith("gtsdk.")]
    return out


def upward(arrow: Arrow) -> bool:
    src, dst = layer_of(arrow.source), layer_of(arrow.target)
    if dst is None or src is None:  # the root package: version and lazy names only
        return False
    return RANK[dst] > RANK[src]


@functools.cache  # one walk of the tree for the module's three tests (~1 s of CPU each)
def all_arrows() -> tuple[Arrow, ...]:
    out: list[Arrow] = []
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            if ".venv" in path.parts or "build" in path.parts:
                continue
            out += arrows(path.read_text(encoding="utf-8"), module_name(path), str(path.relative_to(REPO)),
                          path.name == "__init__.py")
    return tuple(out)


def test_every_package_has_a_layer() -> None:
    unplaced = {a.source for a in all_arrows() if layer_of(a.source) is None and a.source != "gtsdk"}
    assert not unplaced, f"place these in LAYERS: {sorted(unplaced)}"


def test_the_contracts_private_base_is_reached_only_through_public_modules() -> None:
    users = {a.source for a in all_arrows() if a.target == "gtsdk.modules._base"}
    outside = {u for u in users if u != "gtsdk.modules" and not u.startswith("gtsdk.modules.")}
    assert outside == {"gtsdk.driver"}, outside


def test_no_import_runs_up() -> None:
    found = all_arrows()
    assert any(a.source == "gtsdk.runtime.terminal" and a.target == "gtsdk.facade" for a in found)  # it sees them
    bad = [str(a) for a in found if upward(a)]
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


@pytest.mark.parametrize("module, source", [
    ("gtsdk.client.sync", "from gtsdk.server import models"),
    ("gtsdk.client", "import gtsdk.server.app"),
    ("gtsdk.runtime.terminal", "from gtsdk import sim as simulation"),
    ("gtsdk.runtime.terminal", "from gtsdk import simulated_terminal"),
    ("gtsdk.runtime.terminal", "def f():\n    from gtsdk.simulators import idcard"),
    ("gtsdk.runtime.device", "import importlib\nimportlib.import_module(f'gtsdk.simulators.{m}')"),
    ("gtsdk.drivers.escpos.driver", "from gtsdk.server.app import ServiceApp"),
    ("gtsdk.drivers.escpos.driver", "from gtsdk.runtime import Terminal"),
    ("gtsdk.modules.idcard", "if TYPE_CHECKING:\n    from gtsdk.facade import IdCard"),
    ("gtsdk.wire", "from gtsdk.client import Client"),
    ("gtsdk.client.sync", "from gtsdk.records import outbox"),
])
def test_an_upward_arrow_is_caught(module: str, source: str) -> None:
    found = arrows(source, module, "<test>")
    assert found and any(upward(a) for a in found), found


@pytest.mark.parametrize("module, source", [
    ("gtsdk.server.app", "from gtsdk import wire as wm\nimport gtsdk"),
    ("gtsdk.client.sync", "from gtsdk.records.schema import Catalogue"),  # the records' wire contract
    ("gtsdk.client.sync", "from gtsdk.wire import SealedData"),
    ("gtsdk.drivers.escpos.driver", "from gtsdk.driver import OpContext\nfrom . import codec"),
    ("gtsdk.simulated", "from gtsdk import sim as simulation\nfrom gtsdk.runtime import Terminal"),
])
def test_a_downward_or_sideways_arrow_is_allowed(module: str, source: str) -> None:
    assert not any(upward(a) for a in arrows(source, module, "<test>"))
