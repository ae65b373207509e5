"""``pip install gtsdk[client]`` + ``import gtsdk.client`` needs none of the server's dependencies (issue #14
item 4): the wheel goes into a fresh venv with the base dependencies and the client extra only, and the
client there calls a running service."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from _repo_wheel import build_gtsdk_wheel
from _server_fixtures import Svc, service_fixture

REPO = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
SERVER_ONLY = sorted({d.split(">")[0].split("[")[0].split("=")[0].lower() for d in EXTRAS["server"]}
                     - {d.split(">")[0].split("=")[0].lower() for d in EXTRAS["client"]})

BLOCKER = textwrap.dedent('''
    import importlib.abc, sys
    BLOCKED = {blocked!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0].replace("_", "-") in BLOCKED:
                raise ImportError(f"{{name}} belongs to the server extra")
            return None
    sys.meta_path.insert(0, Block())
''')


def test_client_imports_with_the_server_extra_blocked() -> None:
    code = BLOCKER.format(blocked=SERVER_ONLY) + textwrap.dedent('''
        import gtsdk.client
        from gtsdk.client import AsyncClient, Client, open_sealed
        c = Client("https://127.0.0.1:1", "gts_x")
        assert c.idcard.module == "idcard"
        c.close()
        loaded = {m.split(".")[0] for m in sys.modules}
        assert "starlette" not in loaded and "uvicorn" not in loaded
        assert not [m for m in sys.modules if m.startswith(("gtsdk.server", "gtsdk.simulators", "gtsdk.sim"))]
        print("ok")
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert "starlette" in SERVER_ONLY and "uvicorn" in SERVER_ONLY


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    yield from service_fixture(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_client_extra_alone_in_a_fresh_venv_calls_the_service(tmp_path: Path, svc: Svc) -> None:
    wheel = build_gtsdk_wheel(tmp_path / "dist", timeout=180)
    venv = tmp_path / "venv"
    # no pip of its own (ensurepip costs ~7 s): this environment's pip installs into it (`pip --python`)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True,
                   timeout=60)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--timeout", "30",
                        "-c", str(REPO / "constraints.txt"), f"gtsdk[client] @ {wheel.as_uri()}"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    app = textwrap.dedent(f'''
        import importlib.util, sys
        assert importlib.util.find_spec("starlette") is None and importlib.util.find_spec("uvicorn") is None
        from gtsdk.client import Client
        with Client({svc.url!r}, {svc.app_token!r}, ca={svc.ca!r}) as c:
            print(c.lights.on(light="a", timeout=5).states["a"], c.idcard.status().module)
    ''')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run([str(py), "-c", app], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["on", "idcard"]
