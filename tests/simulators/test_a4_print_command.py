"""The simulated A4 printer's job command (simulators/a4_printer/stack.py), run by sh as ippeveprinter runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gtsdk.simulators.a4_printer.stack import print_command


def test_only_the_newest_documents_and_their_attributes_are_kept(tmp_path: Path) -> None:
    """`gtsdk serve --simulate` prints for days: what the printer received is bounded on disk."""
    out = tmp_path / "printed"
    out.mkdir()
    cmd = tmp_path / "printcmd.sh"
    cmd.write_text(print_command(out, tmp_path / "fault", tmp_path / "held", delay=0, fault_hold=1, keep=3))
    for i in range(7):
        doc = tmp_path / f"job{i}.pdf"
        doc.write_bytes(f"%PDF-1.4 job {i}\n".encode())
        subprocess.run(["sh", str(cmd), str(doc)], check=True, timeout=10, env={"IPP_SIDES": "one-sided",
                                                                              "PATH": "/usr/bin:/bin"})
    docs = sorted(p.name for p in out.glob("doc-*"))
    assert docs == ["doc-4-job4.pdf", "doc-5-job5.pdf", "doc-6-job6.pdf"]
    assert sorted(p.name for p in out.glob("env-*")) == ["env-4.txt", "env-5.txt", "env-6.txt"]
    assert (out / "doc-6-job6.pdf").read_bytes() == b"%PDF-1.4 job 6\n"
    assert "IPP_SIDES=one-sided" in (out / "env-6.txt").read_text()
