"""Fixtures of the fleet tests: a PostgreSQL cluster for the session, a fresh database per test on SQLite *and*
PostgreSQL, a fleet (platform home + Mosquitto) per test, and helpers that write records the way the terminal's
record store does (record + envelope in one SQLite transaction through gtsdk.records.outbox)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gtsdk.fleet.agent import Agent, AgentConfig, open_outbox_db
from gtsdk.fleet.ingest import IngestWorker
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.localpg import LocalPostgres
from gtsdk.fleet.store import db
from gtsdk.fleet.store.apply import Applier
from gtsdk.records import outbox
from gtsdk.records.schema import RecordEnvelope, RecordKind

DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    pg = LocalPostgres().start()
    try:
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "fleet.sqlite")
    pg: LocalPostgres = request.getfixturevalue("postgres")
    return pg.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = db.open_engine(db_url)
    db.create_schema(e)
    yield e
    e.dispose()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[LocalFleet]:
    f = LocalFleet(tmp_path / "fleet")
    f.start_broker("province")
    try:
        yield f
    finally:
        f.stop()


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Terminal:
    """A terminal's records database and its agent; ``written`` is every envelope it ever wrote."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.conn: sqlite3.Connection = open_outbox_db(cfg.outbox)
        self.written: list[RecordEnvelope] = []
        self.agent: Agent | None = None

    @property
    def id(self) -> str:
        return self.cfg.terminal_id

    def start(self, **kw: Any) -> Agent:
        self.agent = Agent(self.cfg, **kw).start()
        return self.agent

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def write(self, env: RecordEnvelope) -> None:
        with self.conn:
            outbox.append(self.conn, env)
        self.written.append(env)
        if self.agent is not None:
            self.agent.wake()

    def transactions(self, n: int, *, start: datetime | None = None, services: int = 3) -> None:
        t0 = start or datetime.now(UTC) - timedelta(hours=2)
        for i in range(n):
            self.write(transaction(self.id, t0 + timedelta(seconds=37 * i), f"S{i % services:03d}"))

    def all_written(self) -> list[RecordEnvelope]:
        """Including the agent's own profile record(s), read from the outbox history this test kept."""
        return self.written + self.profile_records()

    def profile_records(self) -> list[RecordEnvelope]:
        row = self.conn.execute("SELECT value FROM fleet_state WHERE key = 'profile'").fetchone()
        if not row:
            return []
        import json
        v = int(json.loads(row[0])["version"])
        return [RecordEnvelope(id=f"profile-{self.id}", kind=RecordKind.PROFILE, version=v, terminal_id=self.id,
                               time=datetime.now(UTC), body={"terminalId": self.id, "region": self.cfg.region})]

    def outbox_size(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def transaction(terminal_id: str, started: datetime, service: str, result: str = "completed",
                version: int = 1, rid: str | None = None) -> RecordEnvelope:
    return RecordEnvelope(id=rid or uuid.uuid4().hex, kind=RecordKind.TRANSACTION, version=version,
                          terminal_id=terminal_id, time=started + timedelta(seconds=90),
                          body={"serviceCode": service, "started": started.isoformat(),
                                "ended": (started + timedelta(seconds=90)).isoformat(), "duration": 90.0,
                                "result": result, "operations": 3})


def rating(terminal_id: str, when: datetime, service: str, level: int, comment: str | None = None) -> RecordEnvelope:
    body: dict[str, Any] = {"serviceCode": service, "level": level}
    if comment:
        body["comment"] = comment
    return RecordEnvelope(id=uuid.uuid4().hex, kind=RecordKind.RATING, terminal_id=terminal_id, time=when, body=body)


def fault(terminal_id: str, opened: datetime, level: int, state: str = "open", version: int = 1,
          rid: str | None = None, module: str | None = "receipt_printer") -> RecordEnvelope:
    body: dict[str, Any] = {"level": level, "kind": "state", "state": state, "opened": opened.isoformat(),
                            "module": module, "code": "noMedia", "reason": "paper out"}
    if state == "resolved":
        body.update(resolved=(opened + timedelta(minutes=30)).isoformat(), resolution="automatic")
    return RecordEnvelope(id=rid or uuid.uuid4().hex, kind=RecordKind.FAULT, version=version,
                          terminal_id=terminal_id, time=opened, body=body)


def start_worker(fleet: LocalFleet, engine: Engine, n: int = 2, broker: str = "province",
                 **kw: Any) -> IngestWorker:
    ident = fleet.platform_identity(n)
    w = IngestWorker(Applier(engine), ident, fleet.brokers[broker].url, client_id=ident.cert.parent.name, **kw)
    w.start()
    assert w.connected.wait(15), "ingest worker did not connect"
    return w
