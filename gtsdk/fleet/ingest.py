"""Ingest workers: stateless, any number of them, sharing the load through MQTT 5 shared subscriptions.

Each worker subscribes ``$share/gtsdk-ingest/gt/+/+/+/+/<channel>`` for the up channels, with a persistent
session (``clean_start=False``) and **manual acknowledgement**: a message is PUBACKed to the broker only after
the database transaction that applied it committed.  A worker killed with ``kill -9`` therefore loses nothing —
the broker redelivers what it had not acknowledged when the worker's session comes back — and the receipt sent to
the terminal on ``…/ack`` (after the commit, too) is what lets the terminal forget a record.  The broker bounds
how much is in flight to one worker (MQTT 5 Receive Maximum), which is the back-pressure while the database is
slow or away: the worker retries the same batch until the database answers again.

Each time a worker's subscriptions are granted it announces a new *epoch* on the retained ``gt/platform/state``,
with ``resumed`` saying whether the broker still had its session.  Without one (first start, a broker that lost
its state) terminals publish again everything the platform has not confirmed: messages published while no platform
session existed were dropped by the broker.  With one, what the broker queued for the worker is safe, but not
necessarily what was published while the worker was away: Mosquitto 2.0 restores a persistent session after a
restart without its *shared* subscriptions, so it drops what terminals publish until the worker subscribes again —
the terminals probe (gtsdk.fleet.delivery) and publish again only what turns out to be lost.

The receipt on ``…/ack`` names each record by ``[seq, id, version, tx]``: ``tx`` (an MQTT 5 user property of the
record message) tells the terminal which of its transmissions arrived, which its loss recovery needs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine, and_, or_, update

from gtsdk.errors import GtsdkError
from gtsdk.fleet import certifications, topics
from gtsdk.fleet import commands as cmds
from gtsdk.fleet.mqtt import BrokerUrl, Identity, connect_properties, make_client, user_properties
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import Applied, Applier, Incoming, naive_utc
from gtsdk.fleet.store.db import writer

log = logging.getLogger("gtsdk.fleet.ingest")

GROUP = "gtsdk-ingest"
#: messages the broker may have in flight to one worker before it waits for our acknowledgements
RECEIVE_MAXIMUM = 2000
MAX_EVENT_BYTES = 16 * 1024
MAX_HEARTBEAT_BYTES = 32 * 1024


@dataclass
class _Msg:
    topic: topics.Parsed
    payload: bytes
    mid: int
    qos: int
    seq: int | None
    received: float
    tx: int | None = None


@dataclass
class WorkerStats:
    messages: int = 0
    records: int = 0
    batches: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    db_errors: int = 0
    connects: int = 0
    last_error: str | None = None
    latencies: list[float] = field(default_factory=list)


class IngestWorker:
    def __init__(self, applier: Applier, identity: Identity, broker: str, *, client_id: str,
                 group: str = GROUP, batch_max: int = 500, batch_wait: float = 0.05,
                 on_commit: Callable[[Applied, list[_Msg]], None] | None = None) -> None:
        self.applier = applier
        self.engine: Engine = applier.engine
        self.identity = identity
        self.url = BrokerUrl.parse(broker)
        self.client_id = client_id
        self.group = group
        self.batch_max = batch_max
        self.batch_wait = batch_wait
        self.on_commit = on_commit
        self.stats = WorkerStats()
        self._q: queue.Queue[_Msg] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._subscribing: dict[int, bool] = {}  # SUBSCRIBE mid → session present at that connection
        self.connected = threading.Event()

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        c = make_client(self.client_id, self.identity, manual_ack=True, inflight=1000)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        props = connect_properties(30 * 86400)
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client = c
        c.connect_async(self.url.host, self.url.port, keepalive=30, clean_start=False, properties=props)
        c.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"gtsdk-ingest-{self.client_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages stay with the broker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    # ---- network thread -----------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode,
                    _p: Any) -> None:
        if rc.is_failure:
            self.stats.last_error = f"connect refused: {rc}"
            log.error("broker refused the ingest worker %s: %s", self.client_id, rc)
            return
        self.stats.connects += 1
        _rc, mid = client.subscribe([(topics.subscription(ch, self.group), topics.QOS[ch]) for ch in topics.UP])
        self._subscribing.clear()  # a SUBSCRIBE of an earlier connection will not be answered any more
        if mid is not None:
            self._subscribing[mid] = bool(flags.session_present)
        self.connected.set()

    def _on_subscribe(self, client: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        resumed = self._subscribing.pop(mid, None)
        if resumed is None:
            return
        bad = [str(c) for c in codes if c.is_failure]
        if bad:
            self.stats.last_error = f"subscription refused: {bad[0]}"
            log.error("the broker refused the ingest subscriptions of %s: %s", self.client_id, bad)
            return
        # announced once the subscriptions exist, so what terminals publish on hearing it reaches a worker
        epoch = uuid.uuid4().hex
        log.info("%s: subscribed (%s session); announcing epoch %s", self.client_id,
                 "resumed" if resumed else "new", epoch)
        client.publish(topics.PLATFORM_STATE, json.dumps({"online": True, "epoch": epoch, "resumed": resumed}).encode(),
                       qos=1, retain=True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            self.stats.last_error = f"disconnected: {rc}"

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse(msg.topic)
        seq: int | None = None
        tx: int | None = None
        if parsed is not None and parsed.channel == "rec":
            props = user_properties(msg)
            with contextlib.suppress(KeyError, ValueError):
                seq = int(props["seq"])
            with contextlib.suppress(KeyError, ValueError):
                tx = int(props["tx"])
        self._q.put(_Msg(parsed or topics.Parsed("", "", ""), bytes(msg.payload), msg.mid, msg.qos, seq,
                         time.monotonic(), tx))

    # ---- worker thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            end = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_max:
                left = end - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._q.get(timeout=left))
                except queue.Empty:
                    break
            self._process(batch)

    def _process(self, batch: list[_Msg]) -> None:
        recs = [m for m in batch if m.topic.channel == "rec"]
        others = [m for m in batch if m.topic.channel not in ("rec", "")]
        delay = 0.2
        while True:
            try:
                applied = self.applier.apply([Incoming(m.topic.terminal_id, m.topic.region, m.payload, m.seq)
                                              for m in recs]) if recs else Applied()
                if others:
                    self._side_channels(others)
                break
            except GtsdkError as e:  # the database is away: hold the batch (unacknowledged) and try again
                self.stats.db_errors += 1
                self.stats.last_error = e.code
                log.warning("database unavailable (%s); retrying the batch in %.1f s", e.detail, delay)
                if self._stop.wait(delay):
                    return  # not acknowledged: the broker redelivers to the next session
                delay = min(delay * 2, 5.0)
        self._acknowledge(batch, applied)
        now = time.monotonic()
        self.stats.latencies.extend(now - m.received for m in recs)
        del self.stats.latencies[:-10_000]
        self.stats.messages += len(batch)
        self.stats.records += len(recs)
        self.stats.batches += 1
        self.stats.new += applied.new + applied.replaced
        self.stats.duplicates += applied.duplicates
        self.stats.rejected += sum(len(v) for v in applied.rejected.values())
        if self.on_commit is not None:
            self.on_commit(applied, recs)

    def _acknowledge(self, batch: list[_Msg], applied: Applied) -> None:
        c = self._client
        assert c is not None
        region_of = {m.topic.terminal_id: m.topic.region for m in batch if m.topic.terminal_id}
        tx_of: dict[tuple[str, int], int] = {}  # the latest transmission of a record in this batch
        for m in batch:
            if m.seq is not None and m.tx is not None:
                key = (m.topic.terminal_id, m.seq)
                tx_of[key] = max(m.tx, tx_of.get(key, 0))

        def tx(tid: str, seq: int) -> list[int]:
            t = tx_of.get((tid, seq))
            return [] if t is None else [t]

        for tid in set(applied.acks) | set(applied.rejected):
            acks = [[seq, rid, ver, *tx(tid, seq)] for seq, rid, ver in applied.acks.get(tid, []) if seq is not None]
            rej = [[seq, rid, ver, code, *tx(tid, seq)] for seq, rid, ver, code in applied.rejected.get(tid, [])
                   if seq is not None]
            if (acks or rej) and tid in region_of:
                c.publish(topics.topic(region_of[tid], tid, "ack"),
                          json.dumps({"acks": acks, "rejected": rej}, separators=(",", ":")).encode(), qos=0)
        for m in batch:
            if m.qos > 0:
                c.ack(m.mid, m.qos)

    # ---- heartbeats, state, events, command results ---------------------------------------------------
    def _side_channels(self, msgs: list[_Msg]) -> None:
        t = s.terminals
        now = datetime.now(UTC).replace(tzinfo=None)
        last_hb: dict[str, dict[str, Any]] = {}
        states: list[tuple[str, dict[str, Any]]] = []
        events: list[dict[str, Any]] = []
        results: list[cmds.CommandResult] = []
        uploads: list[tuple[str, str, certifications.Part]] = []  # parts of conformance reports
        answered: list[tuple[str, str, cmds.CommandResult]] = []
        known = {m.topic.terminal_id for m in msgs}
        registered = {tid for tid in known if (i := self.applier.registry.get(tid)) is not None and not i.revoked}
        for m in msgs:
            tid, ch = m.topic.terminal_id, m.topic.channel
            info = self.applier.registry.get(tid)
            if tid not in registered or info is None or info.region != m.topic.region:
                continue
            try:
                if ch == "hb" and len(m.payload) <= MAX_HEARTBEAT_BYTES:
                    d = json.loads(m.payload)
                    if isinstance(d, dict):
                        last_hb[tid] = d
                elif ch == "state":
                    d = json.loads(m.payload)
                    if isinstance(d, dict) and isinstance(d.get("online"), bool):
                        states.append((tid, d))
                elif ch == "evt" and len(m.payload) <= MAX_EVENT_BYTES:
                    d = json.loads(m.payload)
                    if isinstance(d, dict):
                        when = datetime.fromtimestamp(int(d.get("time", 0)) / 1000, UTC) if d.get("time") else None
                        events.append({"terminal_id": tid, "region": m.topic.region,
                                       "time": naive_utc(when) if when else now, "type": str(d.get("type", ""))[:32],
                                       "module": (str(d["module"])[:32] if d.get("module") else None),
                                       "data": d.get("data") if isinstance(d.get("data"), dict) else {}})
                elif ch == "res" and len(m.payload) <= cmds.MAX_RESULT_BYTES:
                    if certifications.is_part(m.payload):
                        uploads.append((tid, m.topic.region, certifications.parse_part(m.payload)))
                        continue
                    r = cmds.CommandResult.model_validate_json(m.payload)
                    if r.terminal_id == tid:
                        results.append(r)
                        answered.append((tid, m.topic.region, r))
            except (ValueError, TypeError, OverflowError):
                log.warning("ignoring a malformed %s message of %s", ch, tid)
        with writer(self.engine).begin() as conn:
            for tid, hb in sorted(last_hb.items()):
                conn.execute(update(t).where(t.c.id == tid).values(heartbeat=hb, last_seen=now))
            for tid, d in states:
                session = int(d.get("session", 0))
                online = bool(d["online"])
                newer = t.c.session < session
                # same connection: its will (offline) wins over its own earlier "online"
                same_offline = and_(t.c.session == session, t.c.online.is_(True)) if not online else None
                cond = or_(newer, same_offline) if same_offline is not None else newer
                conn.execute(update(t).where(t.c.id == tid, cond).values(
                    online=online, session=session, state_changed=now, **({"last_seen": now} if online else {})))
            if events:
                conn.execute(s.events.insert(), events)
            for r in results:
                conn.execute(update(s.commands).where(s.commands.c.id == r.id, s.commands.c.state == "sent").values(
                    state="success" if r.code == "success" else ("refused" if r.code.startswith("fleet.")
                                                                 else "failed"),
                    code=r.code, message=r.message[:256], result=r.data,
                    finished=naive_utc(datetime.fromtimestamp(r.finished_at / 1000, UTC))))
            if uploads or answered:
                certifications.apply(conn, uploads, answered, now)
