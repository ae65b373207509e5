"""A terminal as its own process for the chaos tests: the agent, plus (with --write N) a writer that stores each
record in a ``written`` table *and* the outbox in one SQLite transaction — as the record store does — so a
``kill -9`` at any moment leaves the terminal's own truth on disk.  Usage: python _fleet_terminal_proc.py CONF.json"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gtsdk.fleet.agent import Agent, AgentConfig, open_outbox_db
from gtsdk.fleet.mqtt import Identity
from gtsdk.records import outbox
from gtsdk.records.schema import RecordEnvelope, RecordKind


def main() -> None:
    conf = json.loads(Path(sys.argv[1]).read_text())
    cfg = AgentConfig(broker=conf["broker"], terminal_id=conf["terminal_id"], region=conf["region"],
                      identity=Identity(Path(conf["ca"]), Path(conf["cert"]), Path(conf["key"])),
                      platform_key=Path(conf["platform_key"]), outbox=Path(conf["outbox"]))
    conn = open_outbox_db(cfg.outbox)
    conn.execute("CREATE TABLE IF NOT EXISTS written (id TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    conn.commit()
    agent = Agent(cfg).start()
    print("started", flush=True)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    for i in range(int(conf.get("write", 0))):
        started = t0 + timedelta(seconds=i)
        body = {"serviceCode": f"S{i % 4}", "started": started.isoformat(),
                "ended": (started + timedelta(seconds=30)).isoformat(), "duration": 30.0, "result": "completed"}
        env = RecordEnvelope(id=uuid.uuid4().hex, kind=RecordKind.TRANSACTION, terminal_id=cfg.terminal_id,
                             time=t0, body=body)
        with conn:
            outbox.append(conn, env)
            conn.execute("INSERT INTO written VALUES (?, ?)", (env.id, env.version))
        agent.wake()
        time.sleep(float(conf.get("interval", 0.01)))
    print("written", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
