"""docs/writing-a-driver.md shows a complete driver that imports only public names (issue #14 item 4); this
runs that very block through the runtime (pyserial's loop:// echoes like the documented board)."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.runtime import Terminal, parse_config, registry

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "writing-a-driver.md"


def doc_driver_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return str(next(b for b in blocks if "class AcmeLights(" in b))


def _load(tmp_path: Path) -> ModuleType:
    path = tmp_path / "acme_lights_doc.py"
    path.write_text(doc_driver_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("acme_lights_doc", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["acme_lights_doc"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_documented_driver_imports_only_public_names() -> None:
    names: list[str] = []  # module.name for every imported name
    for node in ast.walk(ast.parse(doc_driver_source())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    ours = [m for m in names if m.split(".")[0] == "gtsdk"]
    assert ours and not [m for m in ours if any(p.startswith("_") for p in m.split("."))], ours
    assert {m.rsplit(".", 1)[0] for m in ours} == {"gtsdk.driver", "gtsdk.modules.lights"}


def test_the_documented_driver_runs_through_the_runtime(tmp_path: Path) -> None:
    mod = _load(tmp_path)
    registry.register("lights", "acme_doc", mod.AcmeLights)
    assert mod.AcmeLights.settings_model is mod.AcmeSettings  # set by the type argument
    cfg = parse_config({"modules": {"lights": {"driver": "acme_doc", "port": "loop://", "lights": ["idcard", "qr"]}}})
    with Terminal(cfg, strict=True) as t:
        assert t.lights.on(light="idcard", timeout=2).states == {"idcard": "on", "qr": "off"}
        assert t.lights.flash(light="qr", period=0.5).states["qr"] == "flash"
        with pytest.raises(GtsdkError) as e:
            t.lights.on(light="printer")
        assert (e.value.code, e.value.field) == (ErrorCode.INVALID_DATA, "light")
        assert t.lights.capabilities().device.vendor == "Acme"
    with pytest.raises(ConfigError) as c:
        Terminal(parse_config({"modules": {"lights": {"driver": "acme_doc", "port": "loop://", "prot": 1}}}),
                 strict=True)
    assert "modules.lights.prot" in c.value.detail
