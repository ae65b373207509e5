"""Building and checking a version's environment: a virtual environment made from wheels, nothing from the
network; ``check-config`` and ``certify-driver`` run *inside* the new environment, so it is the new code that
validates the new configuration and meets the device (10.2.2 c: compatibility with the hardware)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gtsdk.errors import GtsdkError
from gtsdk.updates import errors as ue

#: bounds of each step (seconds)
INSTALL_TIMEOUT = 900.0
CHECK_TIMEOUT = 120.0
CERTIFY_TIMEOUT = 600.0
_TAIL = 600


def project_name(wheel: str) -> str:
    """Normalised project name of a wheel file name (PEP 427 / PEP 503)."""
    return re.sub(r"[-_.]+", "-", wheel.split("-", 1)[0]).lower()


@dataclass
class Certification:
    entry: str
    tier: str | None
    passed: bool
    report: dict[str, Any]


class Environment(Protocol):
    def build(self, venv_dir: Path, wheelhouse: Path, requires: list[str]) -> None: ...

    def check_config(self, venv_dir: Path, config: Path) -> str | None:
        """None when the configuration is valid for the new version, else why not."""

    def certify(self, venv_dir: Path, entry: str, settings: dict[str, Any], *, simulate: bool,
                out: Path) -> Certification: ...


def _tail(text: str) -> str:
    text = text.strip()
    return text[-_TAIL:] if len(text) > _TAIL else text


class VenvEnvironment:
    """A real virtual environment per version (``--system-site-packages`` off), filled by
    ``pip install --no-index --find-links <wheelhouse>`` run from the updater's own interpreter."""

    def __init__(self, *, compile_bytecode: bool = True, python: str | None = None) -> None:
        self.compile_bytecode = compile_bytecode
        self.python = python

    def _run(self, argv: list[str], timeout: float, what: str, code: str,
             cwd: Path | None = None, tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
        if tmpdir is not None:  # the simulator's work files stay with the version, not in /tmp
            tmpdir.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmpdir)
        env["PIP_NO_INPUT"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                                  stdin=subprocess.DEVNULL, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise GtsdkError(code, f"{what} took longer than {timeout:.0f} s") from None
        except OSError as e:
            raise GtsdkError(code, f"{what}: {e.strerror}") from None

    def build(self, venv_dir: Path, wheelhouse: Path, requires: list[str]) -> None:
        if self.python is not None:
            self._run([self.python, "-m", "venv", "--without-pip", str(venv_dir)], 120, "venv",
                      ue.INSTALL_FAILED)
        else:
            venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True).create(venv_dir)
        argv = [sys.executable, "-m", "pip", "--python", str(venv_dir / "bin" / "python"), "install", "-q",
                "--no-index", "--find-links", str(wheelhouse), "--only-binary", ":all:"]
        if not self.compile_bytecode:
            argv.append("--no-compile")
        p = self._run([*argv, *requires], INSTALL_TIMEOUT, "pip install", ue.INSTALL_FAILED)
        if p.returncode != 0:
            raise GtsdkError(ue.INSTALL_FAILED, f"pip install: {_tail(p.stderr or p.stdout)}")

    def check_config(self, venv_dir: Path, config: Path) -> str | None:
        p = self._run([str(venv_dir / "bin" / "gtsdk"), "check-config", str(config)], CHECK_TIMEOUT,
                      "check-config", ue.CONFIG_REJECTED, cwd=venv_dir)
        return None if p.returncode == 0 else _tail(p.stderr or p.stdout) or f"exit status {p.returncode}"

    def certify(self, venv_dir: Path, entry: str, settings: dict[str, Any], *, simulate: bool,
                out: Path) -> Certification:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=out, delete=False) as f:
            json.dump(settings, f)
            settings_file = f.name
        argv = [str(venv_dir / "bin" / "gtsdk"), "certify-driver", entry, "--settings", f"@{settings_file}",
                "--out", str(out)]
        if simulate:
            argv.append("--simulate")
        try:
            p = self._run(argv, CERTIFY_TIMEOUT, f"certify-driver {entry}", ue.CERTIFICATION_FAILED, cwd=out,
                          tmpdir=out / "tmp")
        finally:
            os.unlink(settings_file)
        try:
            report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise GtsdkError(ue.CERTIFICATION_FAILED,
                             f"certify-driver {entry} wrote no report: {_tail(p.stderr or p.stdout)}") from None
        tier = report.get("tier_reached")
        return Certification(entry, tier if isinstance(tier, str) else None, p.returncode == 0, report)
