"""Opening the platform database: SQLite (the embedded default) or PostgreSQL, through one SQLAlchemy engine.

* SQLite: WAL, ``synchronous=FULL`` (a record the platform confirmed survives a power cut), ``BEGIN IMMEDIATE``
  for writers (:func:`writer`) so concurrent writers queue on the lock instead of failing on upgrade, a 30 s busy
  timeout; readers stay deferred and never block ingest.
* PostgreSQL (psycopg 3): the high-volume record tables are declaratively partitioned by month
  (:data:`~gtsdk.fleet.store.schema.PARTITIONED`); :func:`ensure_partitions` creates the months a batch needs,
  under a transaction-scoped advisory lock so concurrent ingest workers never race on the DDL.  There is no
  DEFAULT partition: a row whose month was not created would fail loudly instead of landing somewhere a later
  ``CREATE … PARTITION OF`` could not move it from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet.store import schema

#: statements slower than this are cancelled on PostgreSQL (a dashboard query must not hold a worker forever)
STATEMENT_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """``postgresql://`` → psycopg 3; a bare path → SQLite."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=pool_size)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # writers take the lock up front (no busy error on upgrade); readers stay deferred, so a dashboard
            # query never blocks ingest (WAL)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("gtsdk_write") else "BEGIN")

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                             connect_args={"connect_timeout": 10,
                                           "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"})
    raise GtsdkError(ErrorCode.CONFIG_ERROR, f"unsupported database URL scheme: {url.split(':', 1)[0]}",
                     field="db")


def writer(engine: Engine) -> Engine:
    """The engine for transactions that write (``BEGIN IMMEDIATE`` on SQLite; the same engine on PostgreSQL)."""
    return engine.execution_options(gtsdk_write=True)


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def create_schema(engine: Engine) -> None:
    with writer(engine).begin() as conn:
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(7201)"))  # one creator among concurrent workers
        schema.metadata.create_all(conn)


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


class Partitions:
    """The monthly partitions known to exist (PostgreSQL only; a no-op on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = is_postgres(engine)
        self._known: set[tuple[str, date]] = set()
        self._lock = threading.Lock()
        if self.enabled:
            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(:names)"),
                    {"names": list(schema.PARTITIONED)}).all()
            for (name,) in rows:
                table, _, ym = str(name).rpartition("_p")
                if table in schema.PARTITIONED and len(ym) == 6 and ym.isdigit():
                    self._known.add((table, date(int(ym[:4]), int(ym[4:]), 1)))

    def ensure(self, table: str, days: Iterable[date]) -> None:
        if not self.enabled:
            return
        months = {month_start(d) for d in days} - {m for t, m in self._known if t == table}
        if not months:
            return
        with self._lock, self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7202)"))
            for m in sorted(months):
                name = f"{table}_p{m:%Y%m}"
                conn.execute(text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{m.isoformat()}') TO ('{next_month(m).isoformat()}')"))
            self._known.update((table, m) for m in months)

    def count(self) -> int:
        return len(self._known)
