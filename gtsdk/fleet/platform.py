"""The platform process (``gtsdk fleet serve``): ingest workers, the command sender, the monitor that turns a
terminal's silence into a level-1 fault, and the HTTPS API with the /fleet/ pages (:mod:`gtsdk.fleet.api`).

Every part is restartable on its own and holds no state the database does not: ``kill -9`` the process and start
it again, and the broker redelivers what was not acknowledged, the monitor picks up from the fault table.  More
ingest capacity is more workers — in this process (``--workers``) or in others (``gtsdk fleet ingest``) — on the
same shared subscription.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine, and_, or_, select, update

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.fleet import broker as bk
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet import topics
from gtsdk.fleet.ingest import IngestWorker
from gtsdk.fleet.mqtt import BrokerUrl, connect_properties, make_client
from gtsdk.fleet.provision import PlatformHome, now_naive
from gtsdk.fleet.store import db
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import SLA, Applier, Registry
from gtsdk.fleet.users import User

log = logging.getLogger("gtsdk.fleet.platform")

DISPATCH = ("open", "acknowledged", "onSite", "resolved")
COST_KINDS = ("consumable", "repair", "labour", "travel", "other")
MAINTAINER_COMMANDS = {cmds.CommandOp.STATUS, cmds.CommandOp.CAPABILITIES, cmds.CommandOp.INSPECT,
                       cmds.CommandOp.REOPEN, cmds.CommandOp.DIAGNOSTICS, cmds.CommandOp.CONFORMANCE}


@dataclass
class PlatformConfig:
    home: Path
    db: str
    broker: str
    listen: str = "127.0.0.1"
    port: int = 8443
    workers: int = 1
    timezone: str = "Asia/Shanghai"
    #: a terminal silent (offline, or no heartbeat/record) this long gets a level-1 fault (10.2.2 b)
    offline_after: float = 300.0
    monitor_interval: float = 10.0
    #: seconds between two passes over the running update rollouts (gtsdk.fleet.rollout)
    rollout_interval: float = 2.0
    hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost"])
    #: broker directories whose CRL the platform keeps current (brokers it runs itself)
    broker_dirs: list[Path] = field(default_factory=list)


class CommandSender:
    """Signs and publishes commands with the platform identity ``gtsdk.platform.1``."""

    def __init__(self, home: PlatformHome, broker: str) -> None:
        self.home = home
        self.url = BrokerUrl.parse(broker)
        ident = home.identity(bk.PLATFORM_IDENTITIES[0])
        self.client = make_client(bk.PLATFORM_IDENTITIES[0], ident)
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.connected.clear()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not rc.is_failure:
            self.connected.set()

    def start(self) -> CommandSender:
        self.client.connect_async(self.url.host, self.url.port, keepalive=30, clean_start=False,
                                  properties=connect_properties(86400))
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, region: str, cmd: cmds.Command, timeout: float = 10.0) -> None:
        if not self.connected.wait(timeout):
            raise GtsdkError(fe.BROKER_UNAVAILABLE, "the command sender is not connected")
        info = self.client.publish(topics.topic(region, cmd.terminal_id, "cmd"), cmds.encode(cmd), qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise GtsdkError(fe.BROKER_UNAVAILABLE, "the broker did not acknowledge the command")


class Platform:
    def __init__(self, cfg: PlatformConfig, *, engine: Engine | None = None) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone)
        self.home = PlatformHome(cfg.home)
        self.engine: Engine = engine or db.open_engine(cfg.db, pool_size=max(5, cfg.workers + 4))
        db.create_schema(self.engine)
        self.registry = Registry(self.engine)
        self.applier = Applier(self.engine, timezone=cfg.timezone, registry=self.registry)
        self.workers: list[IngestWorker] = []
        self.sender: CommandSender | None = None
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._roller: threading.Thread | None = None
        from gtsdk.fleet.rollout import Rollouts  # staged update rollouts (docs/updates.md)

        self.rollouts = Rollouts(self.engine, cfg.home, base_url=f"https://{cfg.hosts[0]}:{cfg.port}",
                                 command_key=self.home.command_key)

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Platform:
        n = self.cfg.workers
        if not 0 <= n < len(bk.PLATFORM_IDENTITIES):
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"workers must be 0..{len(bk.PLATFORM_IDENTITIES) - 1}",
                             field="workers")
        for i in range(n):
            name = bk.PLATFORM_IDENTITIES[i + 1]
            w = IngestWorker(self.applier, self.home.identity(name), self.cfg.broker, client_id=name)
            self.workers.append(w.start())
        self.sender = CommandSender(self.home, self.cfg.broker).start()
        self.rollouts.sender = self.sender
        self._monitor = threading.Thread(target=self._run_monitor, name="gtsdk-fleet-monitor", daemon=True)
        self._monitor.start()
        self._roller = threading.Thread(target=self._run_rollouts, name="gtsdk-fleet-rollouts", daemon=True)
        self._roller.start()
        return self

    def _run_rollouts(self) -> None:
        while not self._stop.wait(self.cfg.rollout_interval):
            try:
                self.rollouts.tick()
            except Exception as e:  # noqa: BLE001 - logged by type and place
                swallowed("fleet platform", "rollouts", e, logger=log)

    def stop(self) -> None:
        self._stop.set()
        for w in self.workers:
            w.stop()
        if self.sender is not None:
            self.sender.stop()
        if self._monitor is not None:
            self._monitor.join(10)
        if self._roller is not None:
            self._roller.join(10)
        self.engine.dispose()

    # ---- commands -----------------------------------------------------------------------------------
    def send_command(self, user: User, terminal_id: str, op: str, params: dict[str, Any] | None = None,
                     lifetime: float = cmds.DEFAULT_LIFETIME) -> dict[str, Any]:
        try:
            cop = cmds.CommandOp(op)
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"op must be one of {[o.value for o in cmds.CommandOp]}",
                             field="op") from None
        if user.role == "maintainer" and cop not in MAINTAINER_COMMANDS:
            raise GtsdkError(ErrorCode.FORBIDDEN, f"{op} needs a province or city user")
        if len(json.dumps(params or {})) > 48 * 1024:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, "params over 48 KiB", field="params")
        t = s.terminals
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.region, t.c.revoked).where(user.scope.where(t), t.c.id == terminal_id)
                               ).first()
        if row is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, f"terminal {terminal_id}")
        if row.revoked is not None:
            raise GtsdkError(fe.TERMINAL_REVOKED, terminal_id)
        cmd = cmds.sign(self.home.command_key, terminal_id, cop, params, lifetime=lifetime)
        issued = now_naive()
        with db.writer(self.engine).begin() as conn:
            conn.execute(s.commands.insert().values(
                id=cmd.id, terminal_id=terminal_id, region=row.region, op=cop.value, params=cmd.params,
                issued_by=user.name, issued=issued, expires=issued + timedelta(seconds=lifetime), state="sent"))
            conn.execute(s.audit.insert().values(time=issued, actor=user.name, action="command", target=terminal_id,
                                                 code="success", detail=f"{cop.value} {cmd.id}"))
        assert self.sender is not None
        self.sender.publish(row.region, cmd)
        return {"id": cmd.id, "op": cop.value, "terminalId": terminal_id, "state": "sent",
                "expiresAt": cmd.expires_at}

    # ---- dispatch (10.2.2 b) -------------------------------------------------------------------------
    def transition(self, user: User, fault_id: str, to: str, *, note: str | None = None,
                   assignee: str | None = None) -> None:
        if to not in DISPATCH[1:]:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"to must be one of {DISPATCH[1:]}", field="to")
        f = s.faults
        now = now_naive()
        with db.writer(self.engine).begin() as conn:
            row = conn.execute(select(f).where(user.scope.where(f), f.c.id == fault_id).with_for_update()).first()
            if row is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, f"fault {fault_id}")
            if DISPATCH.index(to) <= DISPATCH.index(row.dispatch_state):
                raise GtsdkError(ErrorCode.INVALID_STATE, f"fault is {row.dispatch_state}; cannot go to {to}")
            values: dict[str, Any] = {"dispatch_state": to}
            if row.acknowledged is None:
                values["acknowledged"] = now
            if to in ("onSite",) and row.on_site is None:
                values["on_site"] = now
            if to == "resolved":
                values["closed"] = now
                values["resolution"] = row.resolution or ("maintenance" if row.on_site else "remote")
            if note is not None:
                values["note"] = note[:500]
            if assignee is not None:
                values["assignee"] = assignee[:64]
            conn.execute(update(f).where(f.c.id == fault_id).values(**values))
            conn.execute(s.audit.insert().values(time=now, actor=user.name, action="fault.transition",
                                                 target=fault_id, code="success", detail=f"{row.dispatch_state}->{to}"))

    def add_cost(self, user: User, terminal_id: str, kind: str, amount: float, hours: float = 0.0,
                 fault_id: str | None = None, note: str = "") -> None:
        if kind not in COST_KINDS:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"kind must be one of {COST_KINDS}", field="kind")
        if not (0 <= amount <= 1e7 and 0 <= hours <= 1000):
            raise GtsdkError(ErrorCode.INVALID_DATA, "amount 0..1e7 yuan, hours 0..1000", field="amount")
        t = s.terminals
        with db.writer(self.engine).begin() as conn:
            row = conn.execute(select(t.c.region).where(user.scope.where(t), t.c.id == terminal_id)).first()
            if row is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, f"terminal {terminal_id}")
            conn.execute(s.costs.insert().values(terminal_id=terminal_id, region=row.region, time=now_naive(),
                                                 kind=kind, amount=float(amount), hours=float(hours),
                                                 fault_id=fault_id, note=note[:256], entered_by=user.name))

    # ---- the monitor: silence → level-1 fault; CRL refresh ---------------------------------------------
    def _run_monitor(self) -> None:
        while not self._stop.wait(self.cfg.monitor_interval):
            try:
                self.check_offline()
                if self.home.ca.crl_due():
                    self.home.ca.write_crl()
                    for d in self.cfg.broker_dirs:
                        bk.refresh_crl(d, self.home.ca)
            except Exception as e:  # noqa: BLE001 - logged by type and place
                swallowed("fleet platform", "monitor", e, logger=log)

    def check_offline(self, now: Any = None) -> tuple[int, int]:
        """Open a level-1 ``offline`` fault for each terminal silent past the threshold, resolve it when it is
        back; returns (opened, resolved)."""
        now = now or now_naive()
        limit = now - timedelta(seconds=self.cfg.offline_after)
        t, f = s.terminals, s.faults
        opened = resolved = 0
        with db.writer(self.engine).begin() as conn:
            silent = or_(and_(t.c.online.is_(False), t.c.state_changed < limit),
                         and_(t.c.last_seen.is_not(None), t.c.last_seen < limit))
            open_offline = {r.terminal_id: r.id for r in conn.execute(
                select(f.c.id, f.c.terminal_id).where(f.c.kind == "offline", f.c.source == "platform",
                                                      f.c.terminal_state != "resolved"))}
            for r in conn.execute(select(t.c.id, t.c.region, t.c.state_changed, t.c.last_seen).where(
                    silent, t.c.revoked.is_(None))).all():
                if r.id in open_offline:
                    continue
                since = min(x for x in (r.state_changed, r.last_seen) if x is not None)
                conn.execute(f.insert().values(
                    id=f"offline-{r.id}-{int(since.timestamp())}"[:64], version=1, terminal_id=r.id, region=r.region,
                    module=None, level=1, kind="offline", code=fe.BROKER_UNAVAILABLE,
                    reason=f"no connection for over {self.cfg.offline_after:.0f} s", source="platform",
                    terminal_state="open", opened=since, dispatch_state="open",
                    deadline=since + timedelta(seconds=SLA[1][0])))
                opened += 1
            back = [tid for tid, in conn.execute(select(t.c.id).where(
                t.c.id.in_(list(open_offline)), t.c.online.is_(True), t.c.last_seen >= limit))]
            for tid in back:
                fid = open_offline[tid]
                conn.execute(update(f).where(f.c.id == fid).values(terminal_state="resolved", resolved=now,
                                                                  resolution="automatic"))
                conn.execute(update(f).where(f.c.id == fid, f.c.dispatch_state != "resolved").values(
                    dispatch_state="resolved", closed=now))
                resolved += 1
        return opened, resolved

    def worker_stats(self) -> list[dict[str, Any]]:
        return [{"id": w.client_id, "connected": w.connected.is_set(), "messages": w.stats.messages,
                 "records": w.stats.records, "rejected": w.stats.rejected, "dbErrors": w.stats.db_errors}
                for w in self.workers]


def wait_until(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False
