"""Every example script runs against `gtsdk serve --simulate` (issue: examples)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _simulated_service import SimService

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_one_script_per_module_and_one_in_process() -> None:
    from gtsdk.modules import MODULES

    assert {f"{m}.py" for m in MODULES} | {"terminal_inprocess.py"} == set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_script_runs(sim_service: SimService, script: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(EXAMPLES / script)], env=sim_service.env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{script}:\n{r.stdout}\n{r.stderr[-3000:]}"
    assert r.stdout.strip(), f"{script} printed nothing"
    assert "Traceback" not in r.stderr
