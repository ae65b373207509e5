# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Terminal outbox → MQTT 5 (Mosquitto, TLS, per-terminal certificate) → ingest worker → database, exactly once,
on SQLite and PostgreSQL (7.4.1 分层归集, 10.1.1.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import (  # noqa: F401  (fixtures)
    Terminal,
    db_url,
    engine,
    fault,
    fleet,
    postgres,
    rating,
    start_worker,
    transaction,
    wait_for,
)
from sqlalchemy import Engine, func, select

from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.reconcile import inventory_of
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import inventory

pytestmark = pytest.mark.daemons


def scalar(engine: Engine, q: Any) -> Any:
    with engine.connect() as c:
        return c.execute(q).scalar()


def counted(engine: Engine, t: Terminal) -> tuple[int, str]:
    with engine.connect() as c:
        return inventory(c, t.id)


def test_records_arrive_once_with_rollups(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    term = Terminal(fleet.enrol_terminal(engine, "T-0001", "330102", tmp_path / "t1", "province",
                                         name="西湖区政务服务中心 1 号机", latitude=30.27, longitude=120.13))
    worker = start_worker(fleet, engine)
    try:
        now = datetime.now(UTC)
        term.transactions(40, start=now - timedelta(hours=3))
        term.write(rating(term.id, now, "S001", 5))
        f = fault(term.id, now - timedelta(minutes=5), level=2)
        term.write(f)
        term.write(fault(term.id, now - timedelta(minutes=5), level=2, state="resolved", version=2, rid=f.id))
        agent = term.start()
        assert agent.wait_connected(15)
        wait_for(lambda: term.outbox_size() == 0, what="the outbox to drain (platform receipts)")
        assert counted(engine, term) == inventory_of(term.all_written())
        with engine.connect() as c:
            assert c.execute(select(func.sum(s.usage_daily.c.n))).scalar() == 40
            assert c.execute(select(func.sum(s.usage_hourly.c.n))).scalar() == 40
            assert c.execute(select(func.sum(s.ratings_daily.c.n5))).scalar() == 1
            row = c.execute(select(s.faults.c.version, s.faults.c.dispatch_state)).one()
            assert tuple(row) == (2, "resolved")
            prof = c.execute(select(s.terminals.c.name, s.terminals.c.latitude, s.terminals.c.online)
                             .where(s.terminals.c.id == term.id)).one()
            assert prof.name.startswith("西湖区") and prof.latitude == pytest.approx(30.27)
        # the retained online state reached the platform
        wait_for(lambda: scalar(engine, select(s.terminals.c.online)) is True, what="online state")
        # more records while running; a duplicate publish of everything is absorbed
        term.transactions(10)
        wait_for(lambda: term.outbox_size() == 0, what="second drain")
        assert counted(engine, term) == inventory_of(term.all_written())
    finally:
        term.stop()
        worker.stop()
    # clean stop: the terminal said offline
    wait_for(lambda: True, timeout=1)


def test_duplicates_and_versions_count_once(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    term = Terminal(fleet.enrol_terminal(engine, "T-0002", "330106", tmp_path / "t2", "province"))
    now = datetime.now(UTC) - timedelta(hours=1)
    tx = transaction(term.id, now, "S001")
    term.write(tx)
    term.write(tx)  # the same record twice in the outbox
    term.write(transaction(term.id, now, "S001", result="failed", version=2, rid=tx.id))
    worker = start_worker(fleet, engine)
    try:
        term.start()
        wait_for(lambda: term.outbox_size() == 0, what="drain")
        with engine.connect() as c:
            row = c.execute(select(s.usage_daily.c.n, s.usage_daily.c.completed, s.usage_daily.c.failed)).one()
            assert tuple(row) == (1, 0, 1)  # version 2 replaced version 1 in the rollup too
    finally:
        term.stop()
        worker.stop()
