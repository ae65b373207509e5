"""The scaffold's generated tests are the driver tier, not a tautology: an untouched scaffold fails
``certify-driver`` (exit ≠ 0, tier none) with a reason per operation, its own tests fail until the
operations are implemented, and pass once they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gtsdk import scaffold

BIN = Path(sys.executable).parent


def installed(root: Path, site: Path) -> dict[str, str]:
    """The scaffolded package installed into *site* (entry points included), as a vendor would."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--upgrade",
                    "--target", str(site), str(root)], check=True, capture_output=True, timeout=300)
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.parametrize("module", ["lights", "idcard"])
def test_an_untouched_scaffold_fails_certify_driver_with_a_reason_per_operation(module: str, tmp_path: Path) -> None:
    root = scaffold.write(module, "acme", tmp_path)
    env = installed(root, tmp_path / "site")
    r = subprocess.run([str(BIN / "gtsdk"), "certify-driver", f"{module}.acme", "--out", str(tmp_path / "out")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout
    assert "tier reached: none" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("FAIL") and "driver.operations" in x)
    for op in scaffold.driver_methods(module):
        assert f"{op}: answered unsupportedCommand, but {op} is mandatory" in line, line


def test_the_generated_tests_fail_until_the_operations_work_and_pass_once_they_do(tmp_path: Path) -> None:
    root = scaffold.write("lights", "acme", tmp_path)
    env = installed(root, tmp_path / "site")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root), str(root / "tests")]
    r = subprocess.run(args, env=env, capture_output=True, text=True, cwd=root, timeout=300)
    assert r.returncode != 0, r.stdout
    for op in ("on", "flash", "off"):
        assert f"test_operation_completes_end_to_end[{op}]" in r.stdout, r.stdout[-3000:]
    assert "test_gtsdk_driver_check[driver.operations]" in r.stdout
    # the vendor fills in the operations
    driver = root / "acme_lights" / "driver.py"
    text = driver.read_text(encoding="utf-8")
    for op in ("on", "flash", "off"):
        text = re.sub(rf'raise GtsdkError\(ErrorCode.UNSUPPORTED_COMMAND, "{op} is not implemented yet"\)',
                      f'return lights.Lights(states={{request.light: "{op}"}})', text)
    driver.write_text(text, encoding="utf-8")
    env = installed(root, tmp_path / "site")
    r = subprocess.run(args, env=env, capture_output=True, text=True, cwd=root, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"\d+ passed", r.stdout)
