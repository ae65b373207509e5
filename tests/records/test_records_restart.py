"""The service as a real process: ``kill -9`` loses and duplicates nothing that was acknowledged, and a wall
clock set two hours ahead while the service was stopped (libfaketime on the restarted process) neither creates
nor erases downtime."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gtsdk.records.outbox import Outbox
from gtsdk.records.schema import RecordEnvelope
from gtsdk.server.tokens import TokenStore

pytestmark = pytest.mark.slow
SERVER = Path(__file__).resolve().parents[1] / "_records_server.py"
FAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                             "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1") if Path(p).exists()), None)


class Service:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        tokens = home / "test-tokens.json"  # made before the service reads its token store, kept across restarts
        if not tokens.exists():
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = TokenStore(home)
            tokens.write_text(json.dumps([store.create(["app"], app="kiosk"), store.create(["maintenance"])]))
        self.app, self.maint = json.loads(tokens.read_text())
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--home", str(home)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.startswith("READY "):
                break
        if not line.startswith("READY "):
            self.proc.kill()
            raise AssertionError(f"service did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.port = int(line.split()[1])

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token or self.app}",
                                              "Content-Type": "application/json", **(headers or {})})
        ctx = ssl.create_default_context(cafile=str(self.home / "ca.pem"))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                env: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as e:
            env = json.loads(e.read())
        assert env["code"] == "success", env
        return env["data"]  # type: ignore[no-any-return]

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=10)


def outbox(home: Path) -> list[RecordEnvelope]:
    db = sqlite3.connect(home / "records.sqlite")
    try:
        return [RecordEnvelope.model_validate_json(p.body) for p in Outbox(db).pending(limit=100_000)]
    finally:
        db.close()


def test_kill9_loses_and_duplicates_nothing(tmp_path: Path, services: list[Service]) -> None:
    home = tmp_path / "home"
    svc = Service(home)
    services.append(svc)
    done: list[str] = []
    for i in range(6):
        txn = svc.call("POST", "/v1/transactions", {"serviceCode": "permit"})
        svc.call("POST", "/v1/lights/on", {"light": "idcard"}, headers={"X-Transaction-Id": txn["id"]})
        svc.call("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "completed"})
        svc.call("POST", "/v1/ratings", {"transactionId": txn["id"], "level": 1 + i % 5})
        done.append(txn["id"])
    open_txn = svc.call("POST", "/v1/transactions", {"serviceCode": "query"})  # in progress when killed
    fault = svc.call("GET", "/v1/ops/faults?state=all", token=svc.maint)["faults"]
    svc.kill9()
    svc = Service(home)
    services.append(svc)
    # the open transaction goes on after the restart, and ends once
    svc.call("POST", "/v1/lights/off", {"light": "idcard"}, headers={"X-Transaction-Id": open_txn["id"]})
    ended = svc.call("POST", "/v1/transactions/end", {"transactionId": open_txn["id"], "result": "completed"})
    assert ended["operations"] == 1
    # a retried end (its answer lost in the crash, say) is answered, not recorded again
    svc.call("POST", "/v1/transactions/end", {"transactionId": done[-1], "result": "completed"})
    summary = svc.call("GET", "/v1/ops/summary", token=svc.maint)
    assert summary["transactions"]["total"] == 7 and summary["satisfaction"]["ratings"] == 6
    assert summary["availability"]["restarts"] == 1 and summary["availability"]["serviceDowntime"] > 0
    faults = svc.call("GET", "/v1/ops/faults?state=all", token=svc.maint)["faults"]
    assert [(f["kind"], f["level"], f["state"], f["resolution"]) for f in faults] == [
        ("serviceDown", 1, "resolved", "restart")] and fault == []
    svc.stop()
    recs = outbox(home)
    ids = [(e.id, e.version) for e in recs]
    assert len(ids) == len(set(ids))  # nothing twice
    txns = [e.id for e in recs if e.kind == "transaction"]
    assert sorted(txns) == sorted([*done, open_txn["id"]])
    assert len([e for e in recs if e.kind == "rating"]) == 6


@pytest.mark.skipif(FAKETIME is None, reason="libfaketime not installed (Debian package faketime)")
def test_wall_jump_while_stopped_is_not_downtime(tmp_path: Path, services: list[Service]) -> None:
    home = tmp_path / "home"
    svc = Service(home)
    services.append(svc)
    time.sleep(1.0)
    stopped = time.monotonic()  # before the stop: the service marks its end as its shutdown begins
    svc.stop()
    time.sleep(1.5)
    # the restarted process sees the wall clock two hours ahead (the monotonic clock is not faked)
    svc = Service(home, {"LD_PRELOAD": str(FAKETIME), "FAKETIME": "+2h", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                         "FAKETIME_NO_CACHE": "1"})
    services.append(svc)
    started = time.monotonic()
    s = svc.call("GET", "/v1/ops/summary", token=svc.maint)
    assert abs(time.time() + 7200 - _ts(s["generatedAt"])) < 60  # the process really runs two hours ahead
    down = s["availability"]["serviceDowntime"]
    assert 1.5 <= down <= started - stopped + 1.0, down  # the stop, once; not the two hours
    assert s["availability"]["restarts"] == 1
    assert s["faults"]["recent"] == []  # a clean stop is downtime, not a fault
    svc.stop()
    # and back to the real clock (two hours "behind"): still no negative or extra downtime
    svc = Service(home)
    services.append(svc)
    s2 = svc.call("GET", "/v1/ops/summary", token=svc.maint)
    assert down < s2["availability"]["serviceDowntime"] < down + 30
    svc.stop()


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_gtsdk_inspect(tmp_path: Path, services: list[Service]) -> None:
    """``gtsdk inspect`` against the running service: a short-lived token of its own, the report, exit 1 on
    findings; it waits for an open transaction (and says so when it does not end in time)."""
    from click.testing import CliRunner

    from gtsdk.cli import main

    home = tmp_path / "home"
    svc = Service(home)
    services.append(svc)
    url = f"https://127.0.0.1:{svc.port}"
    run = CliRunner().invoke(main, ["inspect", "--url", url, "--home", str(home)])
    assert run.exit_code == 0, run.output
    assert "all fine" in run.output and "idcard" in run.output and "lights" in run.output
    assert not [t for t in TokenStore(home).list() if t.label.startswith("gtsdk inspect") and t.active()]
    txn = svc.call("POST", "/v1/transactions", {"serviceCode": "permit"})
    run = CliRunner().invoke(main, ["inspect", "--url", url, "--home", str(home), "--wait", "0.5", "--json"])
    assert run.exit_code == 2 and "deviceBusy" in run.output
    svc.call("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "completed"})
    run = CliRunner().invoke(main, ["inspect", "--url", url, "--home", str(home), "--json"])
    report = json.loads(run.output)
    assert run.exit_code == 0 and report["trigger"] == "manual" and len(report["findings"]) == 2
    svc.stop()
