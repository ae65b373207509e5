# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Chaos, on SQLite and PostgreSQL: the broker stopped for a while, the platform's ingest killed with ``kill -9``,
a terminal killed mid-publish, the bridge between a city broker and the provincial broker cut (the city broker
killed and restarted).  Afterwards every record is in the platform exactly once: count and SM3 checksum per
terminal equal those of the terminal's own records."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet_fixtures import Terminal, db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from sqlalchemy import Engine, select

from gtsdk.fleet.agent import AgentConfig
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.mqtt import CONNECT_TIMEOUT, RECONNECT_MAX
from gtsdk.fleet.reconcile import checksum, inventory_of
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import inventory

pytestmark = [pytest.mark.daemons, pytest.mark.slow]
HERE = Path(__file__).resolve().parents[1]  # tests/, where the helpers are
#: what the product promises once the broker is back: terminals and ingest workers reconnect within paho's longest
#: back-off plus a TLS handshake, an ingest worker's new epoch makes terminals probe at once (else the probe timer,
#: twice over), and what was lost meanwhile is published again (gtsdk.fleet.delivery) — plus the time a loaded
#: two-core machine needs to apply the backlog.  Not resend_after: no record waits 10 minutes for a lost receipt.
RECOVERY = RECONNECT_MAX + CONNECT_TIMEOUT + 2 * AgentConfig.probe_after + 30.0


def online(engine: Engine, tid: str) -> bool | None:
    with engine.connect() as c:
        v = c.execute(select(s.terminals.c.online).where(s.terminals.c.id == tid)).scalar()
    return None if v is None else bool(v)


def platform_has(engine: Engine, tid: str) -> tuple[int, str]:
    with engine.connect() as c:
        return inventory(c, tid)


class Writer:
    """Writes records into an in-process terminal's outbox at a steady pace until stopped."""

    def __init__(self, term: Terminal, interval: float = 0.02) -> None:
        self.term, self.interval = term, interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.term.transactions(1)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(5)


def assert_exactly_once(engine: Engine, terms: list[Terminal], timeout: float = RECOVERY) -> None:
    for t in terms:
        wait_for(lambda t=t: t.outbox_size() == 0, timeout=timeout, what=f"{t.id}: outbox drained")
        assert len(t.written) > 0
        assert platform_has(engine, t.id) == inventory_of(t.all_written()), t.id


def test_broker_stopped_for_a_while(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    b = fleet.brokers["province"]
    terms = [Terminal(fleet.enrol_terminal(engine, f"T-BS{i}", "330102", tmp_path / str(i), "province"))
             for i in range(2)]
    worker = start_worker(fleet, engine)
    try:
        for t in terms:
            t.start()
        with Writer(terms[0]), Writer(terms[1]):
            time.sleep(1.0)
            b.process.stop()  # the broker goes away (its persistence file is written on the way out)
            time.sleep(2.0)  # records keep being written into the outboxes meanwhile
            assert all(t.agent is not None and not t.agent.connected for t in terms)
            b.process.start()
            time.sleep(1.0)
        assert_exactly_once(engine, terms)
        assert worker.stats.duplicates >= 0
    finally:
        for t in terms:
            t.stop()
        worker.stop()


def _ingest_proc(fleet: LocalFleet, db: str) -> subprocess.Popen[bytes]:
    code = "import sys; from gtsdk.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "fleet", "ingest", "--home", str(fleet.home.path),
                             "--db", db, "--broker", fleet.brokers["province"].url, "--worker", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)


def test_platform_killed_with_kill_9(fleet: LocalFleet, engine: Engine, db_url: str, tmp_path: Path) -> None:
    terms = [Terminal(fleet.enrol_terminal(engine, f"T-K{i}", "330106", tmp_path / str(i), "province"))
             for i in range(2)]
    proc = _ingest_proc(fleet, db_url)
    try:
        for t in terms:
            t.start()
        with Writer(terms[0], 0.01), Writer(terms[1], 0.01):
            wait_for(lambda: platform_has(engine, terms[0].id)[0] > 20, what="ingest running")
            _kill(proc)  # mid-ingest: batches in flight were neither committed nor acknowledged
            time.sleep(1.5)
            proc = _ingest_proc(fleet, db_url)
            time.sleep(1.0)
        assert_exactly_once(engine, terms)
    finally:
        for t in terms:
            t.stop()
        _kill(proc)


def _terminal_proc(cfg: AgentConfig, conf: Path, write: int) -> subprocess.Popen[bytes]:
    conf.write_text(json.dumps({"broker": cfg.broker, "terminal_id": cfg.terminal_id, "region": cfg.region,
                                "ca": str(cfg.identity.ca), "cert": str(cfg.identity.cert),
                                "key": str(cfg.identity.key), "platform_key": str(cfg.platform_key),
                                "outbox": str(cfg.outbox), "write": write, "interval": 0.004}))
    return subprocess.Popen([sys.executable, str(HERE / "_fleet_terminal_proc.py"), str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)


def test_terminal_killed_mid_publish(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    cfg = fleet.enrol_terminal(engine, "T-KT", "330108", tmp_path / "t", "province")
    worker = start_worker(fleet, engine)
    proc = _terminal_proc(cfg, tmp_path / "conf.json", write=2000)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
        db = sqlite3.connect(cfg.outbox, timeout=30)
        wait_for(lambda: db.execute("SELECT count(*) FROM written").fetchone()[0] > 150, what="publishing")
        _kill(proc)  # mid-publish: records written, some published, some confirmed
        # the Last Will marks the terminal offline the moment its connection drops
        wait_for(lambda: online(engine, "T-KT") is False, timeout=10, what="the Last Will (offline)")
        written = db.execute("SELECT count(*) FROM written").fetchone()[0]
        assert 150 < written < 2000
        proc = _terminal_proc(cfg, tmp_path / "conf.json", write=0)  # the terminal comes back; no new records
        wait_for(lambda: db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0, timeout=RECOVERY,
                 what="outbox drained after the restart")
        wait_for(lambda: online(engine, "T-KT") is True, timeout=10, what="online again")
        items = [f"{i}:{v}" for i, v in db.execute("SELECT id, version FROM written")]
        prof = json.loads(db.execute("SELECT value FROM fleet_state WHERE key = 'profile'").fetchone()[0])
        items.append(f"profile-T-KT:{prof['version']}")
        assert platform_has(engine, "T-KT") == (len(items), checksum(items))
        db.close()
    finally:
        _kill(proc)
        worker.stop()


@pytest.fixture
def layered(tmp_path: Path) -> Iterator[LocalFleet]:
    f = LocalFleet(tmp_path / "layered")
    f.start_broker("province", cities=["330100"])
    f.start_broker("hangzhou", city="330100", upstream="province")
    try:
        yield f
    finally:
        f.stop()


def test_bridge_cut_between_city_and_province(layered: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    """Terminals dial the city broker; the platform reads the provincial one; the city broker is killed (kill -9:
    its queue for the bridge since the last save is gone) and comes back."""
    terms = [Terminal(layered.enrol_terminal(engine, f"HZ-B{i}", f"33010{2 + 4 * i}", tmp_path / str(i), "hangzhou"))
             for i in range(2)]
    worker = start_worker(layered, engine, broker="province")
    city = layered.brokers["hangzhou"]
    try:
        for t in terms:
            t.start()
        with Writer(terms[0]), Writer(terms[1]):
            wait_for(lambda: platform_has(engine, terms[0].id)[0] > 5, what="records across the bridge")
            city.process.kill()
            time.sleep(2.0)
            city.process.start()
            time.sleep(1.0)
        assert_exactly_once(engine, terms)
    finally:
        for t in terms:
            t.stop()
        worker.stop()
