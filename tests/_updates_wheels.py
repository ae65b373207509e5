"""Real wheels for update tests, made offline: installed distributions of the test environment packed back into
wheels (their files as RECORD lists them), gtsdk itself built from the checkout, and throwaway plugin packages
written as wheels directly (:func:`plugin_wheel`)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
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


def plugin_wheel(out_dir: Path, *, version: str, body: str, entry: str = "lights.acme",
                 modules: dict[str, str] | None = None) -> Path:
    """A throwaway driver plugin ``acme-lights`` of *version* whose module ``acme_lights`` is *body*
    (plus *modules*: submodule name → source), registered under *entry* in ``gtsdk.drivers``.

    The wheel is written as PEP 427 lays it out (the files, ``.dist-info`` with METADATA, WHEEL, entry points and a
    RECORD of sha256 digests that pip checks on install), as ``pip wheel`` of the same tree would make it, without a
    setuptools build in a subprocess (~1 s of CPU per wheel, and the update tests make one per version)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info = f"acme_lights-{version}.dist-info"
    files = {"acme_lights/__init__.py": body.encode()}
    files.update({f"acme_lights/{name}.py": source.encode() for name, source in (modules or {}).items()})
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: acme-lights\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: gtsdk-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = f"[gtsdk.drivers]\n{entry} = acme_lights:AcmeLights\n".encode()
    files[f"{info}/top_level.txt"] = b"acme_lights\n"
    out = out_dir / f"acme_lights-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr(f"{info}/RECORD", "".join(_record_line(name, data) for name, data in files.items())
                   + f"{info}/RECORD,,\n")
    return out


def _record_line(name: str, data: bytes) -> str:
    """A RECORD row (PEP 376/427): path, urlsafe-base64 sha256 without padding, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"
