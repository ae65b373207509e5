"""A throwaway PostgreSQL cluster in a temporary directory — for tests, benchmarks and ``gtsdk fleet demo --postgres``.

Debian's ``postgresql`` package puts ``initdb`` and ``postgres`` under ``/usr/lib/postgresql/<major>/bin``.  The
server refuses to run as root, so as root the cluster belongs to the ``postgres`` user (``runuser``); it listens
on 127.0.0.1 at a free port with its unix socket in its own directory, trusts local connections (nothing else
can reach it) and is stopped by the PID of the postmaster — never by name.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from gtsdk.errors import GtsdkError
from gtsdk.fleet import errors as fe

USER = "gtsdk"


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class LocalPostgres:
    def __init__(self, base: Path | None = None, port: int | None = None) -> None:
        self.base = base or Path(tempfile.mkdtemp(prefix="gtsdk-pg-", dir="/tmp"))
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        bindir = pg_bindir()
        if bindir is None:
            raise GtsdkError(fe.DATABASE_UNAVAILABLE, "PostgreSQL is not installed (Debian package postgresql)")
        self.bindir = bindir
        self._runas: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._runas = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> LocalPostgres:
        data = self.base / "data"
        if not (data / "PG_VERSION").exists():
            r = subprocess.run([*self._runas, str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER,
                                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                               capture_output=True, timeout=timeout, check=False)
            if r.returncode != 0:
                raise GtsdkError(fe.DATABASE_UNAVAILABLE, f"initdb failed: {r.stderr.decode(errors='replace')[-400:]}")
        log = open(self.base / "postgres.log", "ab")  # noqa: SIM115  (kept open for the child)
        # as root self.proc is runuser; the postmaster's own PID is read from postmaster.pid (see stop)
        self.proc = subprocess.Popen(
            [*self._runas, str(self.bindir / "postgres"), "-D", str(data), "-k", str(self.base),
             "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on",
             "-c", "max_connections=200", "-c", "shared_buffers=128MB"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise GtsdkError(fe.DATABASE_UNAVAILABLE, f"postgres exited: {self.log_tail()}")
            r = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
                               capture_output=True, check=False)
            if r.returncode == 0:
                return self
            time.sleep(0.2)
        self.stop()
        raise GtsdkError(fe.DATABASE_UNAVAILABLE, f"postgres did not start within {timeout} s")

    def postmaster_pid(self) -> int | None:
        pidfile = self.base / "data" / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return self.proc.pid if self.proc else None

    def create_database(self, name: str) -> str:
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres", "-q",
                            "-c", f'CREATE DATABASE "{name}"'], capture_output=True, timeout=60, check=False)
        if r.returncode != 0:
            raise GtsdkError(fe.DATABASE_UNAVAILABLE, r.stderr.decode(errors="replace")[-300:])
        return self.url_for(name)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL after *timeout*."""
        pid = self.postmaster_pid()
        if self.proc is None or self.proc.poll() is not None:
            return
        if pid:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, n: int = 15) -> str:
        p = self.base / "postgres.log"
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:]) if p.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
