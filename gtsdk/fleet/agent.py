"""The terminal agent: the terminal's side of the fleet (7.4.1, 10.1.1.2, 10.2.2 d).

It runs inside ``gtsdk serve`` when the terminal configuration has a ``[fleet]`` table (docs/fleet.md) and:

* drains the records **outbox** (:mod:`gtsdk.records.outbox`) in ``seq`` order onto ``…/<terminal>/rec`` with
  QoS 1, at most :attr:`AgentConfig.window` records unconfirmed at a time, each carrying its ``seq`` as an MQTT 5
  user property;
* forgets a record (``Outbox.ack``) only when the **platform** confirms it on ``…/ack`` — after its database
  transaction committed — not when the broker acknowledged it: a broker can lose what it acknowledged (``kill -9``
  between two saves of its persistence file, a bridge link cut mid-flight, a restart that forgot the shared
  subscriptions).  What is not confirmed is published again on every new connection to the broker, when the
  platform announces that it lost its session (a new epoch on ``gt/platform/state``), and when the loss recovery
  of :mod:`gtsdk.fleet.delivery` sees a record or its receipt lost (RACK-TLP: a later record was confirmed, or a
  probe after ``probe_after`` seconds without news, backing off to ``resend_after``).  Duplicates are
  harmless: the platform applies records idempotently on ``(id, version)``.  A record the platform refuses for
  good (invalid) moves to the ``fleet_rejected`` table, so nothing is silently dropped;
* keeps a retained ``…/state`` message — ``online`` on connect, the MQTT **Last Will** ``offline`` the moment the
  connection drops — with a per-connection ``session`` number so a late will never overrides a newer ``online``;
* publishes heartbeats (module states, host health, outbox depth) and live events (alarms);
* executes **signed commands** (:mod:`gtsdk.fleet.commands`) one at a time and answers each on ``…/res``; a forged,
  expired or replayed command is refused, answered with its code and written to the terminal's audit log.

Nothing personal is published: records carry none by contract (gtsdk.records.schema), heartbeats carry module
states and host figures, command results are built by handlers that must not include any.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from gtsdk.crypto import SM2PublicKey, load_public_pem
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.failures import place, swallowed
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet import topics
from gtsdk.fleet.delivery import Flights
from gtsdk.fleet.mqtt import (
    BrokerUrl,
    Identity,
    connect_properties,
    make_client,
    publish_properties,
)
from gtsdk.records import outbox as ob
from gtsdk.records.schema import Profile, RecordEnvelope, RecordKind

log = logging.getLogger("gtsdk.fleet.agent")

#: a command handler: params in, result data out (raise GtsdkError to fail); it must return no personal data
Handler = Callable[[dict[str, Any]], dict[str, Any]]
#: (operation, command id, code, detail) for the terminal's audit log
AuditHook = Callable[[str, str, str, str], None]
MAX_PENDING_COMMANDS = 16


@dataclass
class AgentConfig:
    broker: str
    terminal_id: str
    region: str
    identity: Identity
    platform_key: Path
    outbox: Path
    name: str = ""
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    vendor: str = ""
    model: str = ""
    software_version: str = ""
    heartbeat_interval: float = 60.0
    keepalive: int = 30
    window: int = 500
    #: seconds without a confirmation (or a send) before the newest unconfirmed record is published again as a probe
    probe_after: float = 5.0
    #: the longest probe interval: the back-off while the platform stays silent stops here
    resend_after: float = 600.0
    session_expiry: int = 7 * 86400
    #: write the terminal's profile record from this config; off inside ``gtsdk serve``, whose record store
    #: writes the profile from the [terminal] table (one writer per record id)
    write_profile: bool = True

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, terminal: Mapping[str, Any], home: Path) -> AgentConfig:
        """The ``[fleet]`` table of a terminal configuration; relative paths are under *home*/fleet."""
        def s(key: str, default: str | None = None) -> str:
            v = table.get(key, default)
            if not isinstance(v, str) or not v:
                raise ConfigError(f"fleet.{key}", "missing or not a string")
            return v

        def num(key: str, default: float, lo: float) -> float:
            v = table.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < lo:
                raise ConfigError(f"fleet.{key}", f"must be a number >= {lo}")
            return float(v)

        known = {"broker", "terminal_id", "region", "name", "address", "latitude", "longitude", "vendor", "model",
                 "ca", "cert", "key", "platform_key", "outbox", "heartbeat_interval", "window", "probe_after",
                 "resend_after"}
        for k in table:
            if k not in known:
                raise ConfigError(f"fleet.{k}", f"unknown key; expected one of {sorted(known)}")
        tid = str(table.get("terminal_id") or terminal.get("id") or "")
        if not topics.TERMINAL_ID.match(tid):
            raise ConfigError("fleet.terminal_id", f"must match {topics.TERMINAL_ID.pattern} (or set [terminal] id)")
        if terminal.get("id") and tid != terminal.get("id"):
            raise ConfigError("fleet.terminal_id", "must equal [terminal] id (every record carries that id)")
        # [terminal] region/name/address/coordinates (the record store's profile) are the defaults
        table = {**{k: terminal[k] for k in ("region", "name", "address", "latitude", "longitude", "vendor", "model")
                    if k in terminal}, **table}
        if "region" in terminal and table["region"] != terminal["region"]:
            raise ConfigError("fleet.region", "must equal [terminal] region")
        region = s("region")
        if not topics.valid_region(region):
            raise ConfigError("fleet.region", "must be a 6-digit GB/T 2260 code")
        broker = s("broker")
        try:
            BrokerUrl.parse(broker)
        except GtsdkError as e:
            raise ConfigError("fleet.broker", e.detail) from None
        base = home / "fleet"

        def path(key: str, default: str) -> Path:
            p = Path(str(table.get(key, default))).expanduser()
            return p if p.is_absolute() else base / p

        lat, lon = table.get("latitude"), table.get("longitude")
        for k, v, lim in (("latitude", lat, 90), ("longitude", lon, 180)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or abs(v) > lim):
                raise ConfigError(f"fleet.{k}", f"must be a number in [-{lim}, {lim}]")
        return cls(broker=broker, terminal_id=tid, region=region,
                   identity=Identity(path("ca", "ca.pem"), path("cert", "cert.pem"), path("key", "key.pem")),
                   platform_key=path("platform_key", "platform-sm2.pem"),
                   outbox=Path(str(table.get("outbox", home / "records.sqlite"))).expanduser(),
                   name=str(table.get("name", "")), address=str(table.get("address", "")),
                   latitude=None if lat is None else float(lat), longitude=None if lon is None else float(lon),
                   vendor=str(table.get("vendor", "")), model=str(table.get("model", "")),
                   heartbeat_interval=num("heartbeat_interval", 60, 1), window=int(num("window", 500, 1)),
                   probe_after=num("probe_after", 5, 0.1), resend_after=num("resend_after", 600, 1))


@dataclass
class AgentStats:
    published: int = 0
    confirmed: int = 0
    rejected: int = 0
    resends: int = 0  # the whole window published again (new connection, platform session lost)
    probes: int = 0  # one record published again after silence (TLP)
    retransmits: int = 0  # records published again because a later one was confirmed first (RACK)
    connects: int = 0
    commands: int = 0
    refused_commands: int = 0
    events_dropped: int = 0
    last_error: str | None = None
    refusals: list[str] = field(default_factory=list)


def open_outbox_db(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=FULL")
    ob.create(conn)
    conn.executescript("""
        CREATE TABLE IF NOT EXISTS fleet_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS fleet_rejected (
            seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
            body BLOB NOT NULL, code TEXT NOT NULL, time REAL NOT NULL);
    """)
    conn.commit()
    return conn


class Agent:
    def __init__(self, config: AgentConfig, *, handlers: Mapping[str, Handler] | None = None,
                 heartbeat: Callable[[], dict[str, Any]] | None = None, audit: AuditHook | None = None,
                 modules: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cfg = config
        self.url = BrokerUrl.parse(config.broker)
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.heartbeat_provider = heartbeat
        self.audit = audit
        self.modules = dict(modules or {})
        self.clock = clock
        self.stats = AgentStats()
        self.topic = {ch: topics.topic(config.region, config.terminal_id, ch)  # type: ignore[arg-type]
                      for ch in (*topics.UP, *topics.DOWN)}
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._commands: queue.Queue[bytes | None] = queue.Queue(MAX_PENDING_COMMANDS)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._flights = Flights(config.probe_after, max(config.probe_after, config.resend_after))
        self._after = 0
        self._epoch: str | None = None
        self._session = 0
        self._threads: list[threading.Thread] = []
        self._client: mqtt.Client | None = None
        self._conn: sqlite3.Connection | None = None
        self._verifier: cmds.Verifier | None = None
        self._pub_lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Agent:
        conn = open_outbox_db(self.cfg.outbox)
        self._conn = conn
        self._outbox = ob.Outbox(conn)
        try:
            key: SM2PublicKey = load_public_pem(self.cfg.platform_key.read_bytes())
        except (OSError, ValueError) as e:
            raise ConfigError("fleet.platform_key", f"cannot load the platform's SM2 public key: {e}") from None
        # the verifier's nonce store has its own connection: commands are checked on the command thread
        self._verifier = cmds.Verifier(key, self.cfg.terminal_id,
                                       cmds.NonceStore(open_outbox_db(self.cfg.outbox)), clock=self.clock)
        if self.cfg.write_profile:
            self._write_profile()
        for p in (self.cfg.identity.ca, self.cfg.identity.cert, self.cfg.identity.key):
            if not p.exists():
                raise ConfigError("fleet.cert", f"{p} is missing: enrol first (gtsdk fleet enrol)")
        c = make_client(self.cfg.terminal_id, self.cfg.identity, inflight=min(self.cfg.window, 1000))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        self._client = c
        self._set_will()
        c.connect_async(self.url.host, self.url.port, keepalive=self.cfg.keepalive, clean_start=False,
                        properties=connect_properties(self.cfg.session_expiry))
        c.loop_start()
        for target, name in ((self._run, "gtsdk-fleet-agent"), (self._run_commands, "gtsdk-fleet-commands")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect, stop the threads; unconfirmed records stay in the outbox."""
        self._stop.set()
        self._wake.set()
        with contextlib.suppress(queue.Full):
            self._commands.put_nowait(None)
        c = self._client
        if c is not None:
            if c.is_connected():
                with contextlib.suppress(Exception):
                    c.publish(self.topic["state"], self._state_payload(False), qos=1, retain=True).wait_for_publish(
                        min(timeout, 2.0))
            c.disconnect()
            c.loop_stop()
        for t in self._threads:
            t.join(timeout)
        if self._conn is not None:
            self._conn.close()
        if self._verifier is not None:
            self._verifier.nonces.close()

    def wake(self) -> None:
        """New records were appended: drain now instead of at the next poll."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def outbox_size(self) -> int:
        return self._outbox.size()

    # ---- state and will -----------------------------------------------------------------------------
    def _next_session(self) -> None:
        self._session = max(self._session + 1, time.time_ns() // 1000)

    def _state_payload(self, online: bool) -> bytes:
        return json.dumps({"online": online, "session": self._session,
                           "time": int(self.clock() * 1000)}).encode()

    def _set_will(self) -> None:
        assert self._client is not None
        self._next_session()
        self._client.will_set(self.topic["state"], self._state_payload(False), qos=1, retain=True)

    # ---- paho callbacks (network thread): hand everything to the agent thread -----------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode,
                    _p: Any) -> None:
        if rc.is_failure:
            self.stats.last_error = f"connect refused: {rc}"
            log.warning("broker refused the connection: %s", rc)
            return
        client.subscribe([(self.topic["cmd"], 1), (self.topic["ack"], 0), (topics.PLATFORM_STATE, 1)])
        client.publish(self.topic["state"], self._state_payload(True), qos=1, retain=True)
        self._events.put(("connected", bool(flags.session_present)))
        self._wake.set()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            self.stats.last_error = f"disconnected: {rc}"
            with contextlib.suppress(Exception):
                self._set_will()  # the next connection gets a newer session number
        self._events.put(("disconnected",))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._events.put(("puback", mid, rc.is_failure, str(rc)))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.topic["ack"]:
            self._events.put(("ack", bytes(msg.payload)))
            self._wake.set()
        elif msg.topic == topics.PLATFORM_STATE:
            self._events.put(("platform", bytes(msg.payload)))
        elif msg.topic == self.topic["cmd"]:
            try:
                self._commands.put_nowait(bytes(msg.payload))
            except queue.Full:
                cid, op = cmds.peek_id(bytes(msg.payload))
                self._answer(cmds.CommandResult(id=cid, terminal_id=self.cfg.terminal_id, op=op,
                                                code=ErrorCode.DEVICE_BUSY, message="too many commands pending",
                                                finished_at=int(self.clock() * 1000)))

    # ---- the agent thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        next_hb = 0.0
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
                self._drain_events()
                if self._connected.is_set():
                    self._fill_window()
                    now = time.monotonic()
                    if now >= next_hb:
                        self._heartbeat()
                        next_hb = now + self.cfg.heartbeat_interval
                    self._recover(now)
            except sqlite3.Error as e:  # the records database is busy or gone: keep the agent alive, retry
                self.stats.last_error = f"outbox: {type(e).__name__}"
                log.warning("outbox error: %s%s", type(e).__name__, place(e))
                self._stop.wait(1.0)
            except Exception as e:  # noqa: BLE001 - never let the agent die silently
                swallowed("fleet agent", "its loop", e, logger=log)
                self._stop.wait(1.0)

    def _drain_events(self) -> None:
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return
            kind = ev[0]
            if kind == "connected":
                self.stats.connects += 1
                # every new connection publishes again what the platform has not confirmed: a broker restored
                # from an older persistence file (kill -9), or a city broker whose bridge queue was lost, may say
                # "session present" and still have lost messages it acknowledged.  The window bounds the cost.
                self._resend_all()
                self._connected.set()
            elif kind == "disconnected":
                pass
            elif kind == "puback":
                _, mid, failed, reason = ev
                f = self._flights.failed(mid) if failed else None
                if f is not None:
                    self.stats.last_error = f"broker refused record seq {f.seq}: {reason}"
                    log.error("broker refused a record (%s); it stays in the outbox", reason)
                    self._after = min(self._after, f.seq - 1)
                    self._stop.wait(min(self.cfg.resend_after, 5.0))
            elif kind == "ack":
                self._confirm(ev[1])
            elif kind == "platform":
                self._platform_state(ev[1])

    def _publish_record(self, r: ob.Pending) -> bool:
        """Publish one outbox record (again, or for the first time); False when the connection is gone."""
        c = self._client
        assert c is not None
        tx = self._flights.next_tx()
        info = c.publish(self.topic["rec"], r.body, qos=1,
                         properties=publish_properties(seq=str(r.seq), kind=r.kind, tx=str(tx)))
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        self._flights.sent(r.seq, r.record_id, r.version, info.mid, time.monotonic())
        self.stats.published += 1
        return True

    def _fill_window(self) -> None:
        while len(self._flights) < self.cfg.window and self._connected.is_set():
            rows = self._outbox.pending(limit=min(200, self.cfg.window - len(self._flights)), after=self._after)
            if not rows:
                return
            for r in rows:
                if not self._publish_record(r):  # lost the connection meanwhile: publish again later
                    self._after = r.seq - 1
                    return
                self._after = r.seq

    def _resend_all(self) -> None:
        if len(self._flights):
            self.stats.resends += 1
        self._flights.clear()
        self._after = 0

    def _recover(self, now: float) -> None:
        """Publish again what the loss recovery (gtsdk.fleet.delivery) says is lost, or a probe after silence."""
        lost = self._flights.lost(now)
        probe = self._flights.probe_due(now) if not lost else None
        seqs = lost or ([probe] if probe is not None else [])
        if not seqs:
            return
        rows = self._outbox.get(seqs)
        present = {r.seq for r in rows}
        for seq in seqs:  # confirmed meanwhile (a receipt of an earlier transmission): nothing left to send
            if seq not in present:
                self._flights.confirmed(seq, None, now)
        for r in rows:
            if not self._publish_record(r):
                return
        if lost:
            self.stats.retransmits += len(rows)
            log.info("%d records sent before a confirmed one are unconfirmed: publishing them again", len(rows))
        elif rows:
            self.stats.probes += 1
            log.info("nothing confirmed for %.0f s: probing with record seq %d", self._flights.probe_timeout(),
                     rows[0].seq)

    def _platform_state(self, payload: bytes) -> None:
        try:
            d = json.loads(payload)
            epoch = str(d.get("epoch", "")) if isinstance(d, dict) and d.get("online") else ""
            resumed = bool(d.get("resumed")) if isinstance(d, dict) else False
        except ValueError:
            return
        if not epoch or epoch == self._epoch:
            return
        self._epoch = epoch
        if not len(self._flights):
            return
        if resumed:
            # an ingest worker connected again with its session: what it had queued is safe, what was published
            # while it had no subscription (a broker restart) may be lost — a probe tells which
            log.info("an ingest worker is back: probing the unconfirmed records")
            self._flights.probe_soon()
        else:
            # the platform lost its session (queued messages gone), or this is the first epoch this agent sees:
            # records published before any platform session existed were dropped by the broker
            log.info("the platform announced a new session: publishing unconfirmed records again")
            self._resend_all()

    def _confirm(self, payload: bytes) -> None:
        try:
            d = json.loads(payload)
            # [seq, id, version, tx?] and [seq, id, version, code, tx?]: tx names the transmission that arrived
            acks = [(int(a[0]), str(a[1]), int(a[2])) for a in d.get("acks", [])]
            rej = [(int(a[0]), str(a[1]), int(a[2]), str(a[3])[:64]) for a in d.get("rejected", [])]
            txs = {int(a[0]): int(a[3]) for a in d.get("acks", []) if len(a) > 3}
            txs.update({int(a[0]): int(a[4]) for a in d.get("rejected", []) if len(a) > 4})
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            log.warning("ignoring a malformed receipt from the platform")
            return
        conn = self._conn
        assert conn is not None
        wanted = {seq: (rid, ver) for seq, rid, ver in acks}
        wanted.update({seq: (rid, ver) for seq, rid, ver, _ in rej})
        if not wanted:
            return
        found: dict[int, tuple[str, int, str, bytes]] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT seq, record_id, version, kind, body FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})"
            for seq, rid, ver, kind, body in conn.execute(q, chunk):
                found[int(seq)] = (str(rid), int(ver), str(kind), bytes(body))
        ok = [seq for seq, _rid, _ver in acks if seq in found and found[seq][:2] == wanted[seq]]
        # a refusal names the record; one the platform could not even parse is named by its seq alone
        bad = [(seq, code) for seq, rid, _ver, code in rej
               if seq in found and (found[seq][:2] == wanted[seq] or (rid == "" and code == fe.RECORD_INVALID))]
        with conn:
            if bad:
                now = time.time()
                conn.executemany("INSERT OR REPLACE INTO fleet_rejected VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(seq, *found[seq], code, now) for seq, code in bad])
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in ok] + [(s,) for s, _ in bad])
        now = time.monotonic()
        for seq in ok + [s for s, _ in bad]:
            self._flights.confirmed(seq, txs.get(seq), now)
        self.stats.confirmed += len(ok)
        self.stats.rejected += len(bad)
        for seq, code in bad:
            log.error("the platform refused record seq %d for good (%s); kept in fleet_rejected", seq, code)

    def _heartbeat(self) -> None:
        c = self._client
        assert c is not None
        body: dict[str, Any] = {}
        if self.heartbeat_provider is not None:
            try:
                body = dict(self.heartbeat_provider())
            except Exception as e:  # noqa: BLE001 - logged by type and place
                swallowed("fleet agent", "the heartbeat provider", e, logger=log)
        body.update(time=int(self.clock() * 1000), session=self._session,
                    outbox={"size": self._outbox.size(), "oldestAge": self._outbox.oldest_age(),
                            "unconfirmed": len(self._flights)})
        c.publish(self.topic["hb"], json.dumps(body, separators=(",", ":")).encode(), qos=0)

    # ---- records of the agent's own: the profile -----------------------------------------------------
    def _write_profile(self) -> None:
        cfg = self.cfg
        profile = Profile(terminal_id=cfg.terminal_id, region=cfg.region, name=cfg.name, address=cfg.address,
                          latitude=cfg.latitude, longitude=cfg.longitude, vendor=cfg.vendor, model=cfg.model,
                          software_version=cfg.software_version, modules=self.modules)
        body = profile.model_dump(by_alias=True, exclude_none=True, mode="json")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        conn = self._conn
        assert conn is not None
        with conn:
            row = conn.execute("SELECT value FROM fleet_state WHERE key = 'profile'").fetchone()
            prev: dict[str, Any] = json.loads(row[0]) if row else {"version": 0, "digest": ""}
            if prev["digest"] == digest:
                return
            version = int(prev["version"]) + 1
            env = RecordEnvelope(id=f"profile-{cfg.terminal_id}", kind=RecordKind.PROFILE, version=version,
                                 terminal_id=cfg.terminal_id, time=datetime.now(UTC), body=body)
            ob.append(conn, env)
            conn.execute("INSERT OR REPLACE INTO fleet_state VALUES ('profile', ?)",
                         (json.dumps({"version": version, "digest": digest}),))

    # ---- events -------------------------------------------------------------------------------------
    def publish_event(self, type: str, module: str | None = None, data: Mapping[str, Any] | None = None) -> bool:
        """A live event (alarm, state change); dropped — and counted — while offline: durable facts are records."""
        c = self._client
        if c is None or not self._connected.is_set():
            self.stats.events_dropped += 1
            return False
        payload = json.dumps({"type": type[:32], "module": module, "time": int(self.clock() * 1000),
                              "data": dict(data or {})}, separators=(",", ":"), default=str).encode()
        if len(payload) > 16 * 1024:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, "event over 16 KiB")
        c.publish(self.topic["evt"], payload, qos=1)
        return True

    def publish_result_part(self, payload: bytes, timeout: float = 30.0) -> None:
        """One more message on ``…/res`` beside a command's result — a part of a large upload such as a conformance
        report (gtsdk.fleet.selfcert) — with QoS 1; returns once the broker acknowledged it."""
        c = self._client
        if len(payload) > cmds.MAX_RESULT_BYTES:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"message over {cmds.MAX_RESULT_BYTES} bytes")
        if c is None or not self._connected.wait(timeout):
            raise GtsdkError(fe.BROKER_UNAVAILABLE, "not connected to the broker")
        info = c.publish(self.topic["res"], payload, qos=1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            pass
        if not info.is_published():
            raise GtsdkError(fe.BROKER_UNAVAILABLE, "the broker did not acknowledge the message")

    # ---- commands -----------------------------------------------------------------------------------
    def _run_commands(self) -> None:
        while not self._stop.is_set():
            payload = self._commands.get()
            if payload is None:
                return
            self._execute(payload)

    def _execute(self, payload: bytes) -> None:
        assert self._verifier is not None
        try:
            cmd = self._verifier.verify(payload)
        except GtsdkError as e:
            cid, op = cmds.peek_id(payload)
            self.stats.refused_commands += 1
            self.stats.refusals.append(e.code)
            log.warning("refused a command (%s): %s", e.code, e.detail)
            if self.audit is not None:
                self.audit(op or "unknown", cid or "-", e.code, e.detail[:200])
            self._answer(cmds.CommandResult(id=cid, terminal_id=self.cfg.terminal_id, op=op, code=e.code,
                                            message=e.message("en"), finished_at=self._now_ms()))
            return
        self.stats.commands += 1
        handler = self.handlers.get(cmd.op.value)
        if handler is None:
            code, message, data = ErrorCode.UNSUPPORTED_COMMAND.value, f"{cmd.op.value} is not available here", {}
        else:
            try:
                data = handler(dict(cmd.params))
                code, message = "success", ""
            except GtsdkError as e:  # its detail is personal-data free by contract (gtsdk.errors)
                code, message, data = e.code, e.message("en"), ({"detail": e.detail[:256]} if e.detail else {})
            except Exception as e:  # noqa: BLE001 - a handler bug: report the type, never the text (it could carry anything)
                swallowed("fleet agent", f"command {cmd.op.value}", e, logger=log)
                code, message, data = ErrorCode.INTERNAL_ERROR.value, type(e).__name__, {}
        if self.audit is not None:
            self.audit(cmd.op.value, cmd.id, code, "")
        self._answer(cmds.CommandResult(id=cmd.id, terminal_id=self.cfg.terminal_id, op=cmd.op.value, code=code,
                                        message=message[:256], data=data, finished_at=self._now_ms()))

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _answer(self, result: cmds.CommandResult) -> None:
        payload = result.model_dump_json(by_alias=True).encode()
        if len(payload) > cmds.MAX_RESULT_BYTES:
            result = result.model_copy(update={"code": ErrorCode.PAYLOAD_TOO_LARGE.value, "data": {},
                                               "message": f"result over {cmds.MAX_RESULT_BYTES} bytes"})
            payload = result.model_dump_json(by_alias=True).encode()
        c = self._client
        if c is not None:
            c.publish(self.topic["res"], payload, qos=1)
