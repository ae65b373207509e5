"""The terminal agent inside ``gtsdk serve``: when the terminal configuration has a ``[fleet]`` table, the service
starts an :class:`~gtsdk.fleet.agent.Agent` next to the runtime (the only hook is :func:`start_agent`, called by
``gtsdk serve`` after the terminal started, and ``agent.stop()`` on the way out).

The agent answers commands from the runtime: ``status`` and ``capabilities`` of every module, ``reopen`` a device,
``resetStatistics``, ``inspect`` (each module's internal health check; an ``inspection`` record is written to the
outbox), ``diagnostics`` (versions, module states and counters, host figures, outbox depth — no personal data);
with the record store: ``pushCatalogue`` (a new 事项 catalogue, validated, written and put in force,
gtsdk.fleet.catalogue_push); where the service listens: ``conformance`` (the terminal tier of the suite against the
service itself, the report signed with the terminal's SM2 key and uploaded, gtsdk.fleet.selfcert).
Heartbeats carry module states and host figures; sensor alarms (tamper, power) and module state changes are
forwarded as live events.
"""

from __future__ import annotations

import logging
import platform as pyplatform
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.fleet.agent import Agent, AgentConfig, Handler
from gtsdk.records import outbox
from gtsdk.records.schema import RecordEnvelope, RecordKind
from gtsdk.runtime import Terminal
from gtsdk.runtime.config import TerminalConfig

log = logging.getLogger("gtsdk.fleet.service")
FORWARDED_EVENTS = ("alarm", "alarmCleared", "statusChanged")


def _version() -> str:
    try:
        return metadata.version("gtsdk")
    except metadata.PackageNotFoundError:
        return "0"


def host_figures() -> dict[str, Any]:
    """CPU, memory and disk where psutil is installed; absent figures are left out, never made up."""
    try:
        import psutil
    except ImportError:
        return {}
    return {"cpuPercent": psutil.cpu_percent(interval=None), "memoryPercent": psutil.virtual_memory().percent,
            "diskPercent": psutil.disk_usage("/").percent}


def handlers_for(terminal: Terminal, write: Callable[[RecordEnvelope], None]) -> dict[str, Handler]:
    def module_arg(p: dict[str, Any], required: bool) -> str | None:
        m = p.get("module")
        if m is None and not required:
            return None
        if not isinstance(m, str) or m not in terminal.devices:
            raise GtsdkError(ErrorCode.INVALID_DATA, "unknown module", field="module")
        return m

    def status(_p: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for m, d in terminal.devices.items():
            st = d.status()
            out[m] = {"state": st.state.value, "reason": st.reason[:200], "lastError": st.last_error, "busy": st.busy}
        return {"modules": out}

    def capabilities(_p: dict[str, Any]) -> dict[str, Any]:
        return {m: d.capabilities().model_dump(by_alias=True, mode="json") for m, d in terminal.devices.items()}

    def reopen(p: dict[str, Any]) -> dict[str, Any]:
        m = module_arg(p, True)
        assert m is not None
        d = terminal.device(m)
        d.stop()
        d.start()
        return {"module": m, "state": d.status().state.value}

    def reset_statistics(p: dict[str, Any]) -> dict[str, Any]:
        m = module_arg(p, False)
        for name, d in terminal.devices.items():
            if m is None or name == m:
                d.reset_statistics()
        return {"reset": m or "all"}

    def inspect(_p: dict[str, Any]) -> dict[str, Any]:
        started = datetime.now(UTC)
        findings = []
        for m, d in terminal.devices.items():
            st = d.status()
            ok = st.state.value == "online"
            findings.append({"module": m, "ok": ok, **({} if ok else {"level": 2, "code": st.last_error,
                                                                       "text": st.reason[:200]})})
        ended = datetime.now(UTC)
        write(RecordEnvelope(id=uuid.uuid4().hex, kind=RecordKind.INSPECTION, terminal_id=terminal.config.terminal.get(
            "id", "terminal"), time=ended, body={"trigger": "remote", "started": started.isoformat(),
                                                 "ended": ended.isoformat(), "findings": findings}))
        return {"findings": findings}

    def diagnostics(_p: dict[str, Any]) -> dict[str, Any]:
        stats = {}
        for m, d in terminal.devices.items():
            s = d.statistics()
            stats[m] = {"operations": s.operations, "failures": s.failures, "byError": dict(s.by_error)}
        return {"software": _version(), "python": pyplatform.python_version(), "os": pyplatform.platform(),
                "modules": status({})["modules"], "statistics": stats, "host": host_figures()}

    return {"status": status, "capabilities": capabilities, "reopen": reopen, "resetStatistics": reset_statistics,
            "inspect": inspect, "diagnostics": diagnostics}


def record_store_handlers(recorder: Any) -> dict[str, Handler]:
    """The commands the service's record store answers (gtsdk.records.recorder.Recorder)."""
    def inspect(_p: dict[str, Any]) -> dict[str, Any]:  # the record store's inspection (10.2.2 a)
        view = recorder.inspector.run("remote", wait=min(recorder.config.inspection_wait, 60.0))
        return dict(view.model_dump(by_alias=True, mode="json"))

    def push_catalogue(p: dict[str, Any]) -> dict[str, Any]:  # 6.3, 7.1.3 a: a new 事项 catalogue
        from gtsdk.fleet.catalogue_push import decode
        cat, changed = recorder.replace_catalogue(
            decode(p), header=f"事项目录 pushed by the fleet platform at {datetime.now(UTC).isoformat()}")
        return {"version": cat.version, "entries": len(cat.entries), "changed": changed,
                "source": recorder.catalogue_source}

    return {"inspect": inspect, "pushCatalogue": push_catalogue}


def conformance_handler(url: str, home: Path, agent: Callable[[], Agent | None], recorder: Any) -> Handler:
    """``conformance`` (7.4.4): certify the service at *url* with the suite, upload the report signed with the
    terminal's SM2 key (gtsdk.fleet.selfcert); *agent* gives the running agent, which publishes the parts."""
    def conformance(p: dict[str, Any]) -> dict[str, Any]:
        from gtsdk.fleet import selfcert
        a = agent()
        if a is None:
            raise GtsdkError(ErrorCode.INVALID_STATE, "the fleet agent is not running")
        busy = recorder.transactions.open_count if recorder is not None else None
        return selfcert.certify(url, home, p, publish=a.publish_result_part, busy=busy)
    return conformance


def start_agent(cfg: TerminalConfig, terminal: Terminal, home: Path, audit: Any = None,
                app: Any = None, service_url: str | None = None) -> Agent | None:
    """Start the fleet agent when *cfg* has a ``[fleet]`` table; None otherwise.  *audit* is the service's
    AuditLog (refused and executed commands are written to it); *app* the service, whose record store (when it
    has one) owns the outbox and runs inspections; *service_url* where the service listens (the ``conformance``
    command certifies it)."""
    if not cfg.fleet:
        return None
    acfg = AgentConfig.from_table(cfg.fleet, terminal=cfg.terminal, home=home)
    acfg.software_version = _version()
    recorder = getattr(app, "records", None) if app is not None else None
    if recorder is not None:
        # the record store owns the outbox and the profile record; its records carry its terminal id
        acfg.outbox = recorder.store.path
        acfg.write_profile = False
        if recorder.store.terminal_id != acfg.terminal_id:
            raise ConfigError("terminal.id", "the fleet needs [terminal] id (the records carry it)")
    agent: Agent | None = None

    def write(env: RecordEnvelope) -> None:
        from gtsdk.fleet.agent import open_outbox_db
        conn = open_outbox_db(acfg.outbox)
        try:
            with conn:
                outbox.append(conn, env.model_copy(update={"terminal_id": acfg.terminal_id}))
        finally:
            conn.close()
        if agent is not None:
            agent.wake()

    def audit_hook(op: str, cid: str, code: str, detail: str) -> None:
        if audit is not None:
            audit.record(module="fleet", operation=f"command.{op}"[:64], request_id=cid[:64], code=code,
                         duration_ms=0.0, caller="platform")

    from gtsdk.updates.remote import ServiceUpdates  # signed updates, when run by `gtsdk update supervise`

    updates = ServiceUpdates.from_environment(acfg.identity.ca)

    def heartbeat() -> dict[str, Any]:
        body = {"modules": {m: d.status().state.value for m, d in terminal.devices.items()}, "host": host_figures()}
        if updates is not None:
            body["updates"] = updates.status()
        return body

    handlers = handlers_for(terminal, write)
    if updates is not None:
        handlers["update"] = updates.handler
    if recorder is not None:
        handlers.update(record_store_handlers(recorder))
    if service_url is not None:
        handlers["conformance"] = conformance_handler(service_url, home, lambda: agent, recorder)
    agent = Agent(acfg, handlers=handlers, heartbeat=heartbeat, audit=audit_hook,
                  modules={m: (mc.driver if mc else "") for m, mc in terminal.config.modules.items()})
    agent.start()

    def forward(ev: Any) -> None:
        if ev.type in FORWARDED_EVENTS and agent is not None:
            data = {k: v for k, v in dict(ev.data).items() if k in ("state", "previous", "reason", "alarm", "since",
                                                                     "durationS", "restored")}
            agent.publish_event(ev.type, ev.module, data)

    terminal.events.subscribe(forward)
    log.info("fleet agent %s → %s", acfg.terminal_id, acfg.broker)
    return agent
