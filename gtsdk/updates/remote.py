"""The terminal's end of a fleet rollout: the ``update`` command, the download, and the state it reports.

The platform's ``update`` command (signed, docs/fleet.md) names a bundle by its SM3 digest, size and URL.  The
handler downloads it (bounded in size and time; the digest must match before anything reads it), stages it with
:class:`~gtsdk.updates.installer.Updater` — every check of docs/updates.md runs here, a refusal answers the
command with its code — and asks for the switch, which happens between transactions.  What came of it is in
:func:`status`, sent with every heartbeat: the current version, the one on probation, the ones that failed and
why.  State rather than events: a terminal that was offline, or restarted by its own switch, says it again.

:class:`SiteEnvironment` is the light form of a version's environment — a versioned site directory layered on the
running interpreter instead of a virtual environment — for pure-Python bundles (driver plugins) and simulated
terminals; ``check-config`` and ``certify-driver`` still run as processes that import the new code first.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gtsdk.crypto.hashing import SM3
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.updates import errors as ue
from gtsdk.updates.environment import CERTIFY_TIMEOUT, CHECK_TIMEOUT, Certification
from gtsdk.updates.installer import Updater
from gtsdk.updates.layout import read_json

DOWNLOAD_TIMEOUT = 900.0
MAX_FAILED_REPORTED = 10
_SM3 = re.compile(r"^[0-9a-f]{64}$")


def status(updater: Updater) -> dict[str, Any]:
    """What the heartbeat says about updates: current, previous, on probation, failed versions with their code."""
    lay = updater.layout
    j = lay.journal() or {}
    failed: dict[str, dict[str, str]] = {}
    for v in lay.ready_versions():
        f = read_json(lay.version_dir(v) / "failed.json")
        if f is not None:
            failed[v] = {"code": str(f.get("code", ""))[:64], "detail": str(f.get("detail", ""))[:200]}
    for v, f in list(_refusals(updater).items()):
        failed.setdefault(v, f)
    keep = sorted(failed)[-MAX_FAILED_REPORTED:]
    return {"current": lay.current, "previous": lay.previous,
            "probation": j.get("version") if j.get("op") == "probation" else None,
            "failed": {v: failed[v] for v in keep}}


def _refusals(updater: Updater) -> dict[str, dict[str, str]]:
    return {str(k): v for k, v in (read_json(updater.layout.root / "refused.json") or {}).items()
            if isinstance(v, dict)}


def _remember_refusal(updater: Updater, version: str, e: GtsdkError) -> None:
    from gtsdk.updates.layout import write_json

    doc = _refusals(updater)
    doc[version] = {"code": e.code, "detail": e.detail[:200]}
    write_json(updater.layout.root / "refused.json", dict(sorted(doc.items())[-MAX_FAILED_REPORTED:]))


def https_fetch(ca: Path | None) -> Callable[[str, Path, int], None]:
    """Download over HTTPS, trusting *ca* (the fleet CA that issued the platform's certificate)."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)

    def fetch(url: str, dest: Path, size: int) -> None:
        if not url.startswith("https://"):
            raise GtsdkError(ErrorCode.INVALID_DATA, "bundles are fetched over HTTPS only", field="url")
        deadline = time.monotonic() + DOWNLOAD_TIMEOUT
        try:
            with urllib.request.urlopen(url, timeout=30, context=ctx) as r, dest.open("wb") as out:
                got = 0
                while chunk := r.read(1 << 20):
                    got += len(chunk)
                    if got > size:
                        raise GtsdkError(ue.TAMPERED, f"the download is larger than the {size} bytes announced")
                    if time.monotonic() > deadline:
                        raise GtsdkError(ErrorCode.TIME_OUT, f"download over {DOWNLOAD_TIMEOUT:.0f} s")
                    out.write(chunk)
        except OSError as e:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"download failed: {type(e).__name__}") from None

    return fetch


def _digest(path: Path) -> str:
    h = SM3()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def update_handler(updater: Updater, *, fetch: Callable[[str, Path, int], None],
                   request_switch: Callable[[str], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The agent's handler of the ``update`` command."""

    def handle(params: dict[str, Any]) -> dict[str, Any]:
        version, digest, size, url = (params.get("version"), params.get("sm3"), params.get("size"),
                                      params.get("url"))
        if not (isinstance(version, str) and isinstance(digest, str) and _SM3.match(digest)
                and isinstance(size, int) and 0 < size <= (1 << 30) and isinstance(url, str) and len(url) < 2048):
            raise GtsdkError(ErrorCode.INVALID_DATA, "update needs version, sm3, size and url", field="params")
        lay = updater.layout
        if lay.current == version:
            return {"phase": "current", "version": version}
        if lay.is_ready(version) and not lay.is_failed(version):
            request_switch(version)
            return {"phase": "staged", "version": version}
        incoming = lay.root / "incoming"
        incoming.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=incoming, prefix=f"{digest[:16]}.", suffix=".tar")
        os.close(fd)
        path = Path(tmp)
        try:
            fetch(url, path, size)
            if path.stat().st_size != size or _digest(path) != digest:
                raise GtsdkError(ue.TAMPERED, "the download does not match the digest the signed command names")
            m = updater.stage(path)
        except GtsdkError as e:
            _remember_refusal(updater, version, e)
            raise
        finally:
            path.unlink(missing_ok=True)
        request_switch(m.version)
        return {"phase": "staged", "version": m.version}

    return handle


class InProcessControl:
    """The service seen from inside it (a simulated terminal, or a terminal without a supervisor): switching
    restarts nothing; open transactions and module states come from the callables given."""

    def __init__(self, *, health: Callable[[], dict[str, str] | None] = lambda: None,
                 open_transactions: Callable[[], int] = lambda: 0) -> None:
        self._health = health
        self._open = open_transactions
        self.started: list[str] = []

    def open_transactions(self) -> int:
        return self._open()

    def health(self) -> dict[str, str] | None:
        return self._health()

    def stop(self) -> None:
        return None

    def start(self, version: str) -> None:
        self.started.append(version)


class LocalSwitcher:
    """Switch in the background, then watch the probation until the version is confirmed or rolled back."""

    def __init__(self, updater: Updater, *, poll: float = 0.5) -> None:
        self.updater = updater
        self.poll = poll
        self._lock = threading.Lock()
        self._busy = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def request(self, version: str) -> None:
        with self._lock:
            if self._busy:
                return
            self._busy = True
        th = threading.Thread(target=self._run, args=(version,), name="gtsdk-update-switch", daemon=True)
        self._threads.append(th)
        th.start()

    def _run(self, version: str) -> None:
        u = self.updater
        try:
            try:
                u.switch(version)
            except GtsdkError:
                return  # reported and audited by the updater; the heartbeat says so
            assert u.control is not None
            while not self._stop.wait(self.poll):
                if u.watch(u.control.health()) != "watching":
                    return
        finally:
            with self._lock:
                self._busy = False

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(10)


class SiteEnvironment:
    """A versioned site directory (``<version>/venv/site``) of unpacked pure-Python wheels, imported before the
    running interpreter's own packages; checks run in ``python -c`` processes with it first on the path."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    @staticmethod
    def site(venv_dir: Path) -> Path:
        return venv_dir / "site"

    def build(self, venv_dir: Path, wheelhouse: Path, requires: list[str]) -> None:
        site = self.site(venv_dir)
        site.mkdir(parents=True, exist_ok=True)
        for w in sorted(wheelhouse.glob("*.whl")):
            try:
                with zipfile.ZipFile(w) as z:
                    for info in z.infolist():
                        name = info.filename
                        if name.startswith("/") or ".." in name.split("/"):
                            raise GtsdkError(ue.INSTALL_FAILED, f"{w.name}: unsafe path {name!r}")
                    if any(i.filename.endswith((".so", ".pyd")) for i in z.infolist()):
                        raise GtsdkError(ue.INSTALL_FAILED, f"{w.name}: compiled wheels need a virtual environment")
                    z.extractall(site)
            except zipfile.BadZipFile:
                raise GtsdkError(ue.INSTALL_FAILED, f"{w.name} is not a wheel") from None

    def _run(self, venv_dir: Path, code: str, args: list[str], timeout: float, err: str,
             tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if tmpdir is not None:  # the simulator's work files stay with the version, not in /tmp
            tmpdir.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmpdir)
        env["PYTHONPATH"] = os.pathsep.join([str(self.site(venv_dir)), *sys.path[1:]])
        try:
            return subprocess.run([self.python, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                                  env=env, stdin=subprocess.DEVNULL, cwd=venv_dir)
        except subprocess.TimeoutExpired:
            raise GtsdkError(err, f"took longer than {timeout:.0f} s") from None

    _CLI = "import sys; from gtsdk.cli import main; sys.argv[0] = 'gtsdk'; main()"

    def check_config(self, venv_dir: Path, config: Path) -> str | None:
        p = self._run(venv_dir, self._CLI, ["check-config", str(config)], CHECK_TIMEOUT, ue.CONFIG_REJECTED)
        return None if p.returncode == 0 else (p.stderr or p.stdout).strip()[-600:] or f"exit {p.returncode}"

    def certify(self, venv_dir: Path, entry: str, settings: Mapping[str, Any], *, simulate: bool,
                out: Path) -> Certification:
        out.mkdir(parents=True, exist_ok=True)
        args = ["certify-driver", entry, "--settings", json.dumps(dict(settings)), "--out", str(out)]
        if simulate:
            args.append("--simulate")
        p = self._run(venv_dir, self._CLI, args, CERTIFY_TIMEOUT, ue.CERTIFICATION_FAILED, tmpdir=out / "tmp")
        try:
            report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise GtsdkError(ue.CERTIFICATION_FAILED,
                             f"certify-driver {entry} wrote no report: {(p.stderr or p.stdout)[-300:]}") from None
        tier = report.get("tier_reached")
        return Certification(entry, tier if isinstance(tier, str) else None, p.returncode == 0, report)


class ServiceUpdates:
    """The updates part of a running ``gtsdk serve`` started by ``gtsdk update supervise`` (which names the update
    root in ``GTSDK_UPDATE_ROOT``): the ``update`` command handler and the heartbeat's ``updates`` entry.  The
    switch itself is left to the supervisor (``switch-request.json``): it stops this very process."""

    def __init__(self, root: Path, ca: Path | None) -> None:
        from gtsdk.updates import config as ucfg
        from gtsdk.updates.auditing import UpdateAudit
        from gtsdk.updates.environment import VenvEnvironment
        from gtsdk.updates.supervisor import REQUEST

        cfg = ucfg.load(root)
        self.updater = Updater(root, identity=cfg.identity, environment=VenvEnvironment(), policy=cfg.policy,
                               audit=UpdateAudit(root, cfg.home))

        def request_switch(version: str) -> None:
            from gtsdk.updates.layout import write_json

            write_json(root / REQUEST, {"version": version})

        self.handler = update_handler(self.updater, fetch=https_fetch(ca), request_switch=request_switch)

    def status(self) -> dict[str, Any]:
        return status(self.updater)

    @classmethod
    def from_environment(cls, ca: Path | None) -> ServiceUpdates | None:
        root = os.environ.get("GTSDK_UPDATE_ROOT")
        return cls(Path(root), ca) if root else None
