"""The PC/SC service vanishes and returns: run in private mount + network namespaces so the test owns its
own pcscd (and vpcd's TCP ports) even when another pcscd runs on the machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[1]

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
    print("owned", sim.pcscd.owned)
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
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare/ip not available")
    (tmp_path / "unplug.py").write_text(SCRIPT)
    shell = ("mkdir -p /run/pcscd && mount -t tmpfs tmpfs /run/pcscd && ip link set lo up && "
             f"exec {sys.executable} {tmp_path / 'unplug.py'}")
    r = subprocess.run(["unshare", "-mn", "--propagation", "private", "sh", "-c", shell], capture_output=True,
                       text=True, timeout=80, cwd=REPO)
    if r.returncode != 0 and ("unshare failed" in r.stderr or "Operation not permitted" in r.stderr):
        pytest.skip("cannot create namespaces here (needs root)")
    out = r.stdout
    if out.startswith("SKIP"):
        pytest.skip(out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "owned True" in out and "before CS" in out and "after CS" in out, out
    assert "unplugged noDevice" in out, out
