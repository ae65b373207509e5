"""The PC/SC service vanishes and returns.  Run in a process of its own: "unplug" stops the process's pcscd
(every process has its own, in private namespaces, so no other test or machine-wide pcscd is touched)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import tempfile
from pathlib import Path
from gtsdk.errors import GtsdkError
from gtsdk.simulators.travel_doc import SAMPLES
from gtsdk.simulated import simulated_terminal

t = simulated_terminal(Path(tempfile.mkdtemp()), modules=["travel_doc"])
if "travel_doc" not in t.simulations:
    print("SKIP", t.devices["travel_doc"].disabled_reason)
    raise SystemExit(0)
with t:
    sim = t.simulations["travel_doc"]
    print("pcscd", sim.host.running)
    sim.control("insert", {"doc": "cs"})
    print("before", t.travel_doc.read(mrz=SAMPLES["cs"], timeout=5).document_type)
    sim.control("unplug", {})
    try:
        t.travel_doc.read(mrz=SAMPLES["cs"], timeout=3)
        print("unplugged success")
    except GtsdkError as e:
        print("unplugged", e.code)
    sim.control("replug", {})
    print("after", t.travel_doc.read(mrz=SAMPLES["cs"], timeout=8).document_type)
'''


def test_pcscd_goes_away_and_comes_back(tmp_path: Path) -> None:
    (tmp_path / "unplug.py").write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(tmp_path / "unplug.py")], capture_output=True, text=True, timeout=80,
                       cwd=REPO)
    out = r.stdout
    if out.startswith("SKIP"):
        pytest.skip(out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pcscd True" in out and "before CS" in out and "after CS" in out, out
    assert "unplugged noDevice" in out, out
