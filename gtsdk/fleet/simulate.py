"""A simulated fleet: N lightweight terminals — each a real :class:`~gtsdk.fleet.agent.Agent` with its own records
database, certificate and MQTT session — producing realistic records (``gtsdk fleet simulate``, ``gtsdk fleet
demo``, the benchmark and the tests stand on it).

* **history**: ``backfill_days`` of past records written into each outbox at start (transactions on a daily curve
  with morning and afternoon peaks, 好差评, faults with levels that open and resolve, daily availability, hourly host
  health, paper levels);
* **live**: transactions at the terminal's rate × ``speed``, faults that open and resolve, outages (the agent stops
  and comes back: the platform sees the Last Will, then a level-1 fault past its threshold), commands answered.

Terminals differ: a few are busy, most are ordinary, about one in ten is rarely used (the low-use list of
10.2.2 g).  Coordinates are scattered around real city centres of the chosen province; nothing personal exists.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.fleet.agent import Agent, AgentConfig, open_outbox_db
from gtsdk.records import outbox
from gtsdk.records.schema import Host, RecordEnvelope, RecordKind

log = logging.getLogger("gtsdk.fleet.simulate")

#: (city code, name, longitude, latitude, counties) — Zhejiang's first three cities (GB/T 2260)
CITIES: list[tuple[str, str, float, float, list[str]]] = [
    ("330100", "杭州市", 120.155, 30.274, ["330102", "330105", "330106", "330108", "330109", "330110"]),
    ("330200", "宁波市", 121.550, 29.875, ["330203", "330205", "330206", "330212"]),
    ("330300", "温州市", 120.699, 27.994, ["330302", "330303", "330304"]),
]
SERVICES: list[tuple[str, str, str, str]] = [
    ("330000-SB-0101", "社保参保证明打印", "Social insurance certificate", "人力社保"),
    ("330000-SB-0102", "社会保障卡补换", "Social security card replacement", "人力社保"),
    ("330000-YB-0201", "医保缴费凭证打印", "Medical insurance receipt", "医疗保障"),
    ("330000-GJJ-0301", "公积金缴存证明", "Housing fund certificate", "住房公积金"),
    ("330000-BDC-0401", "不动产登记信息查询", "Real-estate record enquiry", "自然资源"),
    ("330000-HJ-0501", "户籍证明开具", "Household registration certificate", "公安"),
    ("330000-CRJ-0601", "出入境证件照片采集", "Exit-entry photo capture", "公安"),
    ("330000-JJ-0701", "驾驶证审验", "Driving licence review", "公安"),
    ("330000-SW-0801", "个人所得税完税证明", "Income tax certificate", "税务"),
    ("330000-SC-0901", "营业执照打印", "Business licence print", "市场监管"),
    ("330000-JZ-1001", "居住证签注", "Residence permit endorsement", "公安"),
    ("330000-HY-1101", "婚姻登记预约", "Marriage registration booking", "民政"),
]
#: relative weight of each local hour (peaks 9–11 and 14–16, nothing at night)
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0.1, 0.4, 1.2, 2.4, 2.6, 1.8, 0.8, 1.1, 2.2, 2.5, 2.0, 1.2, 0.6, 0.4, 0.3, 0.1, 0, 0]
RESULTS = [("completed", 0.88), ("failed", 0.05), ("abandoned", 0.05), ("timedOut", 0.02)]
RATING_LEVELS = [(1, 0.02), (2, 0.03), (3, 0.10), (4, 0.35), (5, 0.50)]
TZ = ZoneInfo("Asia/Shanghai")


def _pick(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    x = rng.random() * sum(w for _, w in table)
    for v, w in table:
        x -= w
        if x <= 0:
            return v
    return table[-1][0]


def catalogue_body(version: str = "2026.1") -> dict[str, Any]:
    return {"version": version, "entries": [
        {"code": c, "nameZh": zh, "nameEn": en, "department": dept, "category": dept,
         "modules": ["idcard", "receipt_printer"], "onTerminal": True, "typicalDuration": 120.0}
        for c, zh, en, dept in SERVICES]}


@dataclass
class Plan:
    """Where terminal *i* stands and how busy it is."""

    terminal_id: str
    region: str
    name: str
    longitude: float
    latitude: float
    per_day: float
    services: list[str]


def plan_fleet(n: int, seed: int = 7, prefix: str = "ZJ") -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for i in range(n):
        _city, cname, lon, lat, counties = CITIES[i % len(CITIES)] if i < len(CITIES) else rng.choice(CITIES)
        county = counties[i % len(counties)]
        kind = rng.random()
        per_day = 0.4 if kind < 0.1 else (rng.lognormvariate(math.log(35), 0.5) if kind < 0.95 else 120.0)
        k = rng.randint(5, len(SERVICES))
        plans.append(Plan(f"{prefix}-{county}-{i + 1:04d}", county, f"{cname}{county[-2:]} 区政务服务点 {i + 1} 号机",
                          round(lon + rng.uniform(-0.12, 0.12), 5), round(lat + rng.uniform(-0.09, 0.09), 5),
                          per_day, rng.sample([s[0] for s in SERVICES], k)))
    return plans


def _env(tid: str, kind: RecordKind, when: datetime, body: dict[str, Any], rid: str | None = None,
         version: int = 1) -> RecordEnvelope:
    return RecordEnvelope(id=rid or uuid.uuid4().hex, kind=kind, version=version, terminal_id=tid, time=when, body=body)


@dataclass
class SimTerminal:
    plan: Plan
    cfg: AgentConfig
    rng: random.Random
    agent: Agent | None = None
    paper: float = 1.0
    open_faults: dict[str, tuple[RecordEnvelope, float]] = field(default_factory=dict)
    down_until: float = 0.0
    written: int = 0

    def __post_init__(self) -> None:
        self.conn = open_outbox_db(self.cfg.outbox)
        self.lock = threading.Lock()

    def write(self, envs: list[RecordEnvelope]) -> None:
        with self.lock, self.conn:
            for e in envs:
                outbox.append(self.conn, e)
        self.written += len(envs)
        if self.agent is not None:
            self.agent.wake()

    # ---- what happens ------------------------------------------------------------------------------
    def transaction(self, started: datetime) -> list[RecordEnvelope]:
        tid, rng = self.plan.terminal_id, self.rng
        svc = rng.choice(self.plan.services)
        duration = rng.uniform(45, 300)
        result = _pick(rng, RESULTS)
        tx = _env(tid, RecordKind.TRANSACTION, started + timedelta(seconds=duration), {
            "serviceCode": svc, "started": started.isoformat(),
            "ended": (started + timedelta(seconds=duration)).isoformat(),
            "duration": round(duration, 1), "result": result, "operations": rng.randint(2, 6),
            "failedOperations": 1 if result == "failed" else 0, "app": "kiosk"})
        out = [tx]
        if result == "completed" and rng.random() < 0.35:
            out.append(_env(tid, RecordKind.RATING, started + timedelta(seconds=duration + 5), {
                "transactionId": tx.id, "serviceCode": svc, "level": _pick(rng, RATING_LEVELS)}))
        self.paper -= rng.uniform(0.001, 0.004)
        if self.paper < 0.05:
            self.paper = 1.0  # refilled
        if int(self.paper * 100) % 10 == 0 or self.paper < 0.15:
            out.append(_env(tid, RecordKind.CONSUMABLE, started + timedelta(seconds=duration), {
                "module": "receipt_printer", "name": "paper", "level": round(max(self.paper, 0.0), 3),
                "state": "low" if self.paper < 0.15 else "ok"}))
        return out

    def fault(self, opened: datetime, resolved_after: float | None) -> list[RecordEnvelope]:
        rng = self.rng
        level = _pick(rng, [(3, 0.7), (2, 0.25), (1, 0.05)])
        module, kind, code = rng.choice([("receipt_printer", "consumable:paper", "noMedia"),
                                         ("a4_printer", "state", "mediaJam"), ("idcard", "state", "noDevice"),
                                         ("camera", "state", "hardwareError"), ("qr_scanner", "state", "timeOut")])
        body = {"module": module, "level": level, "kind": kind, "code": code, "reason": f"{module} {code}",
                "state": "open", "opened": opened.isoformat()}
        first = _env(self.plan.terminal_id, RecordKind.FAULT, opened, body)
        if resolved_after is None:
            return [first]
        end = opened + timedelta(seconds=resolved_after)
        done = {**body, "state": "resolved", "resolved": end.isoformat(), "resolution": "automatic"}
        second = _env(self.plan.terminal_id, RecordKind.FAULT, end, done, rid=first.id, version=2)
        return [first, second]

    def day_of_history(self, day: date) -> list[RecordEnvelope]:
        tid, rng = self.plan.terminal_id, self.rng
        out: list[RecordEnvelope] = []
        weekday = 0.35 if day.weekday() >= 5 else 1.0
        total = sum(HOUR_WEIGHTS)
        for hour, w in enumerate(HOUR_WEIGHTS):
            lam = self.plan.per_day * weekday * w / total
            for _ in range(_poisson(rng, lam)):
                local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=TZ)
                out += self.transaction(local.astimezone(UTC))
        down = 0.0
        if rng.random() < 0.15:
            opened = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=TZ)
            dur = rng.uniform(600, 6 * 3600)
            fs = self.fault(opened.astimezone(UTC), dur)
            if fs[0].body["level"] == 1:
                down += dur
            out += fs
        out.append(_env(tid, RecordKind.AVAILABILITY, datetime(day.year, day.month, day.day, 23, 59, tzinfo=TZ), {
            "day": day.isoformat(), "up": 86400 - down, "down": down, "unknown": 0.0}, rid=f"av-{tid}-{day:%Y%m%d}"))
        for hour in (9, 15):
            t = datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(UTC)
            out.append(_env(tid, RecordKind.HOST, t, self.host_body()))
        return out

    def host_body(self) -> dict[str, Any]:
        rng = self.rng
        return Host(cpu_percent=round(rng.uniform(4, 55), 1), memory_percent=round(rng.uniform(30, 70), 1),
                    disk_percent=round(rng.uniform(35, 60), 1), latency=round(rng.uniform(0.008, 0.15), 3),
                    success_rate_1h=round(rng.uniform(0.93, 1.0), 3), success_rate_24h=round(rng.uniform(0.95, 1.0), 3),
                    ).model_dump(by_alias=True, exclude_none=True)

    # ---- commands the simulated terminal answers ----------------------------------------------------
    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        modules = ["idcard", "receipt_printer", "a4_printer", "camera", "qr_scanner"]

        def status(_p: dict[str, Any]) -> dict[str, Any]:
            return {"modules": {m: ("noDevice" if any(f[0].body.get("module") == m and f[0].body["level"] == 1
                                                      for f in self.open_faults.values()) else "online")
                                for m in modules}, "simulated": True}

        def inspect(_p: dict[str, Any]) -> dict[str, Any]:
            now = datetime.now(UTC)
            findings = [{"module": m, "ok": True} for m in modules]
            self.write([_env(self.plan.terminal_id, RecordKind.INSPECTION, now, {
                "trigger": "remote", "started": now.isoformat(), "ended": now.isoformat(), "findings": findings})])
            return {"findings": findings}

        def diagnostics(_p: dict[str, Any]) -> dict[str, Any]:
            return {"host": self.host_body(), "outbox": self.agent.outbox_size() if self.agent else None,
                    "simulated": True}

        def reopen(p: dict[str, Any]) -> dict[str, Any]:
            m = p.get("module")
            if m not in modules:
                raise GtsdkError(ErrorCode.INVALID_DATA, "module", field="module")
            return {"module": m, "state": "online"}

        def push_catalogue(p: dict[str, Any]) -> dict[str, Any]:  # validated as a terminal does; recorded
            from gtsdk.fleet.catalogue_push import decode
            cat = decode(p)
            self.write([_env(self.plan.terminal_id, RecordKind.CATALOGUE, datetime.now(UTC),
                             cat.model_dump(by_alias=True, mode="json", exclude_none=True))])
            return {"version": cat.version, "entries": len(cat.entries), "changed": True, "simulated": True}

        return {"status": status, "capabilities": lambda _p: {"modules": modules}, "inspect": inspect,
                "diagnostics": diagnostics, "reopen": reopen, "resetStatistics": lambda _p: {"reset": True},
                "pushCatalogue": push_catalogue}


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    n, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


#: extra parts of a simulated terminal: more command handlers and what its heartbeat adds (e.g. signed updates)
Extension = Callable[[SimTerminal], tuple[dict[str, Callable[[dict[str, Any]], dict[str, Any]]],
                                          Callable[[], dict[str, Any]] | None]]


class SimulatedFleet:
    def __init__(self, configs: list[tuple[Plan, AgentConfig]], *, seed: int = 7, speed: float = 60.0,
                 outage_rate: float = 0.02, extension: Extension | None = None) -> None:
        self.terminals = [SimTerminal(p, c, random.Random(seed * 100_003 + i)) for i, (p, c) in enumerate(configs)]
        self.speed = speed
        self.outage_rate = outage_rate
        self.extension = extension
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backfill(self, days: int) -> int:
        """Write *days* of history (ending yesterday) plus the catalogue into every outbox; returns records written."""
        today = datetime.now(TZ).date()
        n = 0
        for t in self.terminals:
            envs = [_env(t.plan.terminal_id, RecordKind.CATALOGUE, datetime.now(UTC), catalogue_body(),
                         rid=f"catalogue-{t.plan.terminal_id}")]
            for d in range(days, 0, -1):
                envs += t.day_of_history(today - timedelta(days=d))
            t.write(envs)
            n += len(envs)
        return n

    def start_agent(self, t: SimTerminal) -> Agent:
        """(Re)start *t*'s agent (a terminal coming back after an outage)."""
        handlers, heartbeat = t.handlers(), None
        if self.extension is not None:
            more, heartbeat = self.extension(t)
            handlers.update(more)
        t.agent = Agent(t.cfg, handlers=handlers, heartbeat=heartbeat, modules={"idcard": "sam_serial"}).start()
        return t.agent

    def start(self, *, offline: Collection[str] = ()) -> SimulatedFleet:
        """Start every agent but those of the terminals in *offline* (:meth:`start_agent` brings them later)."""
        for t in self.terminals:
            if t.plan.terminal_id not in offline:
                self.start_agent(t)
        self._thread = threading.Thread(target=self._run, name="gtsdk-fleet-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for t in self.terminals:
            if t.agent is not None:
                t.agent.stop()
                t.agent = None
            t.conn.close()

    def _run(self) -> None:
        tick = 1.0
        while not self._stop.wait(tick):
            now = datetime.now(UTC)
            hour = now.astimezone(TZ).hour
            for t in self.terminals:
                try:
                    self._step(t, now, hour, tick)
                except Exception as e:  # noqa: BLE001 - logged by type and place
                    swallowed(f"simulated terminal {t.plan.terminal_id}", "a step", e, logger=log)

    def _step(self, t: SimTerminal, now: datetime, hour: int, tick: float) -> None:
        mono = time.monotonic()
        if t.down_until:
            if mono >= t.down_until:  # the outage ends: the terminal comes back
                t.down_until = 0.0
                self.start_agent(t)
            else:
                return
        lam = t.plan.per_day * max(HOUR_WEIGHTS[hour], 0.3) / sum(HOUR_WEIGHTS) / 3600 * tick * self.speed
        envs: list[RecordEnvelope] = []
        for _ in range(_poisson(t.rng, lam)):
            envs += t.transaction(now)
        if t.rng.random() < 0.15 / 86400 * tick * self.speed * 24:
            f = t.fault(now, None)[0]
            t.open_faults[f.id] = (f, mono + t.rng.uniform(600, 4 * 3600) / self.speed)
            envs.append(f)
        for fid, (f, until) in list(t.open_faults.items()):
            if mono >= until:
                del t.open_faults[fid]
                envs.append(_env(f.terminal_id, RecordKind.FAULT, now, {
                    **f.body, "state": "resolved", "resolved": now.isoformat(), "resolution": "automatic"},
                    rid=fid, version=2))
        if t.rng.random() < tick * self.speed / 3600:
            envs.append(_env(t.plan.terminal_id, RecordKind.HOST, now, t.host_body()))
        if envs:
            t.write(envs)
        if t.agent is not None and t.rng.random() < self.outage_rate / 86400 * tick * self.speed * 24:
            t.agent.stop()
            t.agent = None
            t.down_until = mono + t.rng.uniform(600, 7200) / self.speed
