"""Third-party libraries gtsdk loads leave nothing behind and phone nowhere (docs/service.md, "Soak")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_onnxruntime_writes_no_telemetry_session_file(tmp_path: Path) -> None:
    """onnxruntime's telemetry writes ``$TMPDIR/.ses`` on import (it survived every ``kill -9`` of the service)
    unless ORT_DISABLE_TELEMETRY=1 is set before it loads: importing gtsdk first sets it."""
    pytest.importorskip("onnxruntime")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["TMPDIR"] = str(tmp_path)
    code = "import gtsdk, os, onnxruntime; onnxruntime.SessionOptions(); print(os.environ['ORT_DISABLE_TELEMETRY'])"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                       check=True, cwd=tmp_path)
    assert r.stdout.strip() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_operator_choice_is_kept(tmp_path: Path) -> None:
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0"}
    r = subprocess.run([sys.executable, "-c", "import gtsdk, os; print(os.environ['ORT_DISABLE_TELEMETRY'])"],
                       env=env, capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path)
    assert r.stdout.strip() == "0"
