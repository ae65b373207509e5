"""Scaffold a vendor driver plugin package for one module contract.

The generated package registers its driver in the ``gtsdk.drivers`` entry-point
group, holds a driver class with every operation of the contract to fill in,
and tests that run it through the gtsdk runtime and the conformance suite's driver
tier: they fail until the vendor implements every mandatory operation (clause 8.4).
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from gtsdk.modules import MODULES

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def driver_methods(module: str) -> list[str]:
    """Operations the vendor must implement (abstract methods of the contract's driver class)."""
    cls = MODULES[module].driver_class
    abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
    return [op for op in MODULES[module].operations if op in abstract]


def render(module: str, name: str) -> dict[str, str]:
    """File path → content for a plugin package named ``gtsdk-<name>-<module>``."""
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}; known: {', '.join(MODULES)}")
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ValueError("driver name must be lower_snake_case, e.g. acme_reader")
    from gtsdk.conformance.scenarios import mandatory

    spec = MODULES[module]
    pkg = f"{name}_{module}"
    cls_name = f"{_camel(name)}{_camel(module)}Driver"
    base = spec.driver_class
    imports = {"Request"} if any(spec.operations[o].request.__name__ == "Request" for o in driver_methods(module)) \
        else set()
    methods = []
    for op in driver_methods(module):
        o = spec.operations[op]
        req = o.request.__name__
        res = o.result.__name__
        q_req = req if req in ("Request",) else f"{module}.{req}"
        q_res = "Empty" if res == "Empty" else f"{module}.{res}"
        if res == "Empty":
            imports.add("Empty")
        methods.append(
            f"    def {op}(self, request: {q_req}, ctx: OpContext) -> {q_res}:\n"
            f'        """{o.summary} (clause {spec.clause}).  Use ctx.remaining() as the I/O timeout."""\n'
            f"        # TODO: talk to the device; raise GtsdkError with a catalogue code on failure.\n"
            f'        raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, "{op} is not implemented yet")\n'
        )
    base_imports = ", ".join(sorted({"DriverSettings", "ErrorCode", "GtsdkError", "OpContext", *imports}))
    driver_py = f'''"""{spec.title_en} driver "{name}" for gtsdk ({spec.clause} {spec.title_zh})."""

from __future__ import annotations

from gtsdk.driver import {base_imports}
from gtsdk.modules import {module}


class Settings(DriverSettings):
    """The keys under [modules.{module}] in the terminal config (besides driver/timeout)."""

    port: str = "/dev/ttyUSB0"


class {cls_name}({module}.{base.__name__}[Settings]):  # self.settings is a Settings
    name = "{name}"
    version = "0.1.0"

    def connect(self) -> None:
        """Open the transport and check the device answers; raise GtsdkError(ErrorCode.NO_DEVICE) if not."""

    def disconnect(self) -> None:
        """Release the transport; must not raise."""

{chr(10).join(methods)}'''
    test_py = f'''"""The driver through the gtsdk runtime and gtsdk's conformance suite (driver tier).

Every operation clause {spec.clause} lists is mandatory: each must complete end to end with a result
that validates and carries data, so these tests fail until the operations are implemented.  Against
gtsdk's simulator: ``pytest --gtsdk-simulate``; a person's part (a card, a finger) is skipped
here and asked for by ``gtsdk certify-driver {module}.{name} --interactive``.
"""

from __future__ import annotations

import pytest
from {pkg}.driver import {cls_name}

from gtsdk.conformance.model import Report
from gtsdk.conformance.pytest_plugin import check_operation
from gtsdk.runtime import registry


def test_entry_point_is_registered() -> None:
    assert registry.load("{module}", "{name}") is {cls_name}


@pytest.mark.parametrize("op", {mandatory(module)!r})
def test_operation_completes_end_to_end(gtsdk_driver_report: Report, op: str) -> None:
    check_operation(gtsdk_driver_report, op)
'''
    pyproject = f'''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "gtsdk-{name.replace("_", "-")}-{module.replace("_", "-")}"
version = "0.1.0"
description = "{spec.title_en} driver '{name}' for gtsdk"
requires-python = ">=3.11"
dependencies = ["gtsdk"]

[project.entry-points."gtsdk.drivers"]
"{module}.{name}" = "{pkg}.driver:{cls_name}"

[tool.setuptools]
packages = ["{pkg}"]
'''
    readme = f"""# gtsdk-{name}-{module}

A gtsdk driver plugin for the {spec.title_en} ({spec.title_zh}, clause {spec.clause}).

```sh
pip install -e .
gtsdk drivers            # lists {module}.{name}
pytest                   # fails until every mandatory operation completes end to end
gtsdk certify-driver {module}.{name} --interactive   # the conformance driver tier against your device
```

Terminal config:

```toml
[modules.{module}]
driver = "{name}"
port = "/dev/ttyUSB0"
```
"""
    return {
        "pyproject.toml": pyproject,
        "README.md": readme,
        f"{pkg}/__init__.py": f'from {pkg}.driver import {cls_name}\n\n__all__ = ["{cls_name}"]\n',
        f"{pkg}/driver.py": driver_py,
        "tests/test_driver.py": test_py,
        "tests/conftest.py": f'''"""Runs gtsdk's driver-tier conformance checks on this driver (one test per check)."""

import pytest

pytest_plugins = ["gtsdk.conformance.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--gtsdk-driver"):
        config.option.gtsdk_driver = "{module}.{name}"
''',
        "tests/test_certify.py": '''"""gtsdk conformance, driver tier: a failing check fails here with its reason."""

from gtsdk.conformance.pytest_plugin import test_gtsdk_driver_check

__all__ = ["test_gtsdk_driver_check"]
''',
    }


def write(module: str, name: str, out: Path) -> Path:
    files = render(module, name)
    root = out / f"gtsdk-{name.replace('_', '-')}-{module.replace('_', '-')}"
    if root.exists():
        raise FileExistsError(f"{root} exists")
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root
