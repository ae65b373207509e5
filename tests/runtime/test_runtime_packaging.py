"""The wheel carries every runtime file, under the gtsdk namespace only (foundation issue, item 1)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from _repo_wheel import build_gtsdk_wheel

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {"gtsdk": "gtsdk", "drivers": "gtsdk/drivers", "simulators": "gtsdk/simulators",
           "conformance": "gtsdk/conformance"}


def runtime_files() -> set[str]:
    out = set()
    for folder, target in FOLDERS.items():
        for p in (REPO / folder).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                out.add(f"{target}/{p.relative_to(REPO / folder).as_posix()}")
    return out


def test_wheel_contains_every_runtime_file_and_no_bare_packages(tmp_path: Path) -> None:
    wheel = build_gtsdk_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert runtime_files() - names == set()
    tops = {n.split("/")[0] for n in names if not n.startswith("gtsdk-")}
    assert tops == {"gtsdk"}, f"bare top-level packages in the wheel: {tops - {'gtsdk'}}"
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[gtsdk.drivers]" in entry_points and "idcard.sam_serial" in entry_points
