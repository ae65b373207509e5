"""Driver plugins: a separately installed package registers through the
``gtsdk.drivers`` entry point exactly like gtsdk's own drivers; the scaffold
produces such a package (foundation issue, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gtsdk import scaffold
from gtsdk.modules import MODULES

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def install_to(target: Path, package: Path) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(package)], check=True, capture_output=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(target)
    return env


@pytest.fixture(scope="module")
def hello_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """examples/hello_plugin installed once for the tests that only use it (a pip build and install each)."""
    return install_to(tmp_path_factory.mktemp("hello") / "site", REPO / "examples" / "hello_plugin")


def test_throwaway_plugin_appears_through_the_entry_point(hello_env: dict[str, str], tmp_path: Path) -> None:
    env = hello_env
    out = subprocess.run([str(BIN / "gtsdk"), "drivers", "--json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    entries = {(e["module"], e["name"]): e for e in json.loads(out)}
    hello = entries[("lights", "hello")]
    assert hello["error"] is None and hello["distribution"] == "gtsdk-hello-lights"
    # without the plugin on the path it is not there
    plain = subprocess.run([str(BIN / "gtsdk"), "drivers", "--json"], check=True, capture_output=True, text=True)
    assert ("lights", "hello") not in {(e["module"], e["name"]) for e in json.loads(plain.stdout)}
    # and the plugin's own tests pass against the installed gtsdk
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                        str(tmp_path), str(REPO / "examples" / "hello_plugin" / "tests")],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_selects_the_plugin_driver(hello_env: dict[str, str], tmp_path: Path) -> None:
    env = hello_env
    cfg = tmp_path / "t.toml"
    cfg.write_text('[modules.lights]\ndriver = "hello"\n', encoding="utf-8")
    r = subprocess.run([str(BIN / "gtsdk"), "check-config", str(cfg)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cfg.write_text('[modules.lights]\ndriver = "hello"\nnmes = ["a"]\n', encoding="utf-8")
    r = subprocess.run([str(BIN / "gtsdk"), "check-config", str(cfg)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "modules.lights.nmes" in r.stderr


@pytest.mark.parametrize("module", list(MODULES))
def test_scaffold_renders_valid_python_for_every_module(module: str) -> None:
    files = scaffold.render(module, "acme")
    for rel, text in files.items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")
    driver = files[f"acme_{module}/driver.py"]
    for op in scaffold.driver_methods(module):
        assert f"    def {op}(self, request:" in driver


def test_scaffolded_package_installs_and_its_test_runs(tmp_path: Path) -> None:
    root = scaffold.write("sensors", "acme", tmp_path)
    env = install_to(tmp_path / "site", root)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root),
                        str(root / "tests")], env=env, capture_output=True, text=True, cwd=root)
    # the entry point works; the unimplemented operation fails its test (conformance driver tier, clause 8.4)
    assert "passed" in r.stdout and r.returncode != 0, r.stdout + r.stderr
    assert "test_operation_completes_end_to_end[read]" in r.stdout and "read is mandatory" in r.stdout


def test_scaffold_rejects_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        scaffold.render("sensors", "Acme-Reader")
    with pytest.raises(ValueError):
        scaffold.render("toaster", "acme")
