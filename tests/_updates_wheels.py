"""Real wheels for update tests, made offline: installed distributions of the test environment packed back into
wheels (their files as RECORD lists them), gtsdk itself built from the checkout, and throwaway plugin packages
built with ``pip wheel`` from temp source trees."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from _repo_wheel import build_gtsdk_wheel

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def repack(dist_name: str, out_dir: Path) -> Path:
    """The installed distribution *dist_name* as a wheel in *out_dir* (what ``pip install`` of it put there)."""
    dist = md.distribution(dist_name)
    name = _norm(dist.metadata["Name"])
    version = dist.version
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    parts = [t.split("-") for t in tags] or [["py3", "none", "any"]]
    tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))  # py2.py3-none-any
    out = out_dir / f"{name}-{version}-{tag}.whl"
    if out.exists():
        return out
    base = Path(str(dist.locate_file("")))
    record_lines = []
    tmp = out.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in dist.files or []:
            rel = f.as_posix()
            if rel.startswith("..") or rel.endswith(".pyc") or "/__pycache__/" in f"/{rel}":
                continue
            if rel.endswith(".dist-info/RECORD") or rel.endswith(".dist-info/INSTALLER") \
                    or rel.endswith(".dist-info/direct_url.json") or rel.endswith(".dist-info/REQUESTED"):
                continue
            path = base / rel
            if not path.is_file():
                continue
            data = path.read_bytes()
            z.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record_lines.append(f"{rel},sha256={digest},{len(data)}")
        info_dir = next(p.as_posix().split("/")[0] for p in dist.files or [] if ".dist-info/" in p.as_posix())
        record_lines.append(f"{info_dir}/RECORD,,")
        z.writestr(f"{info_dir}/RECORD", "\n".join(record_lines) + "\n")
    tmp.rename(out)
    return out


#: what ``gtsdk certify-driver`` of a Modbus lights driver needs in a fresh environment besides gtsdk
BASE_DISTRIBUTIONS = ("pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection",
                      "click", "cryptography", "cffi", "pycparser", "pyserial", "numpy", "pillow", "packaging",
                      "pymodbus")


def gtsdk_wheel(out_dir: Path) -> Path:
    found = sorted(out_dir.glob("gtsdk-*.whl"))
    if found:
        return found[0]
    return build_gtsdk_wheel(out_dir)


def plugin_wheel(src: Path, out_dir: Path, *, version: str, body: str, entry: str = "lights.acme",
                 modules: dict[str, str] | None = None) -> Path:
    """A throwaway driver plugin ``acme-lights`` of *version* whose module ``acme_lights`` is *body*
    (plus *modules*: submodule name → source)."""
    tree = src / f"acme-{version}"
    (tree / "acme_lights").mkdir(parents=True, exist_ok=True)
    (tree / "acme_lights" / "__init__.py").write_text(body, encoding="utf-8")
    for name, source in (modules or {}).items():
        (tree / "acme_lights" / f"{name}.py").write_text(source, encoding="utf-8")
    (tree / "pyproject.toml").write_text(f"""
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-lights"
version = "{version}"

[project.entry-points."gtsdk.drivers"]
"{entry}" = "acme_lights:AcmeLights"

[tool.setuptools]
packages = ["acme_lights"]
""", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out_dir), str(tree)], check=True, timeout=120, capture_output=True)
    return next(out_dir.glob(f"acme_lights-{version}-*.whl"))
