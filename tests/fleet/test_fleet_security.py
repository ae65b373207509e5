# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Security of the fleet (7.4.3 安全可控) against the real broker: a terminal cannot publish as another terminal or
read another's commands, cannot take over another's session by its client id; a revoked certificate is refused
by Mosquitto (CRL) and its records by the platform; enrolment codes work once."""

from __future__ import annotations

import json
import ssl
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import Terminal, db_url, engine, fleet, postgres, start_worker, transaction, wait_for  # noqa: F401
from sqlalchemy import Engine, select

from gtsdk.errors import GtsdkError
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet import topics
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.mqtt import Identity, make_client
from gtsdk.fleet.pki import generate_key, make_csr
from gtsdk.fleet.provision import enrol, new_code
from gtsdk.fleet.store import schema as s

pytestmark = pytest.mark.daemons


class Probe:
    """A raw MQTT 5 client with a terminal's identity, recording every acknowledgement and message."""

    def __init__(self, ident: Identity, client_id: str, port: int) -> None:
        self.pubacks: dict[int, Any] = {}
        self.subacks: dict[int, Any] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: Any = None
        c = make_client(client_id, ident)
        c.on_connect = lambda _c, _u, _f, rc, _p: (self.connected.set() if not rc.is_failure else None)
        c.on_disconnect = lambda _c, _u, _f, rc, _p: setattr(self, "refused", rc)
        c.on_publish = lambda _c, _u, mid, rc, _p: self.pubacks.__setitem__(mid, rc)
        c.on_subscribe = lambda _c, _u, mid, rcs, _p: self.subacks.__setitem__(mid, rcs)
        c.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client = c
        self.port = port

    def connect(self, timeout: float = 10.0) -> bool:
        try:
            self.client.connect("127.0.0.1", self.port, clean_start=True)
        except (ssl.SSLError, OSError):
            return False
        self.client.loop_start()
        return self.connected.wait(timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_terminal_cannot_act_as_another(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    port = fleet.brokers["province"].spec.port
    a = fleet.enrol_terminal(engine, "T-A", "330102", tmp_path / "a", "province")
    b = fleet.enrol_terminal(engine, "T-B", "330106", tmp_path / "b", "province")
    worker = start_worker(fleet, engine)
    victim = Probe(b.identity, "T-B", port)
    attacker = Probe(a.identity, "T-B", port)  # asks for the victim's client id
    try:
        assert victim.connect()
        victim.client.subscribe(topics.topic("330106", "T-B", "cmd"), qos=1)
        assert attacker.connect()
        time.sleep(0.5)
        assert victim.client.is_connected(), "the attacker's client id must not take over the victim's session"
        # publishing under the victim's topic is refused by the broker (MQTT 5 PUBACK 0x87)
        forged = transaction("T-B", datetime.now(UTC), "S001")
        info = attacker.client.publish(topics.topic("330106", "T-B", "rec"),
                                       forged.model_dump_json(by_alias=True).encode(), qos=1)
        own = attacker.client.publish(topics.topic("330102", "T-A", "evt"), b'{"type":"x"}', qos=1)
        wait_for(lambda: info.mid in attacker.pubacks and own.mid in attacker.pubacks, what="pubacks")
        assert attacker.pubacks[info.mid].getName() == "Not authorized"
        assert not attacker.pubacks[own.mid].is_failure
        # reading the victim's commands: the broker never delivers them
        attacker.client.subscribe(topics.topic("330106", "T-B", "cmd"), qos=1)
        attacker.client.subscribe(f"{topics.ROOT}/#", qos=1)
        time.sleep(0.3)
        sender = Probe(fleet.platform_identity(1), "gtsdk.platform.1", port)
        assert sender.connect()
        c = cmds.sign(fleet.home.command_key, "T-B", "status")
        sender.client.publish(topics.topic("330106", "T-B", "cmd"), cmds.encode(c), qos=1).wait_for_publish(5)
        wait_for(lambda: victim.messages, what="the victim's command")
        time.sleep(0.5)
        assert not [m for m in attacker.messages if m[0].endswith("/cmd")]
        sender.close()
        time.sleep(0.5)
        with engine.connect() as conn:
            assert conn.execute(select(s.transactions.c.id)).first() is None
    finally:
        attacker.close()
        victim.close()
        worker.stop()


def test_revoked_certificate_is_refused(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    from gtsdk.fleet.provision import revoke

    port = fleet.brokers["province"].spec.port
    cfg = fleet.enrol_terminal(engine, "T-R", "330102", tmp_path / "r", "province")
    worker = start_worker(fleet, engine)
    term = Terminal(cfg)
    try:
        term.start()
        term.transactions(3)
        wait_for(lambda: term.outbox_size() == 0, what="delivery before revocation")
        revoke(engine, fleet.home, "T-R", actor="test")
        worker.applier.registry.invalidate()
        # the platform refuses its records at once, even over a connection that is still open
        term.transactions(2)
        wait_for(lambda: term.agent is not None and term.agent.stats.rejected >= 2, what="records refused")
        assert term.conn.execute("SELECT count(*) FROM fleet_rejected WHERE code = ?",
                                 (fe.TERMINAL_REVOKED,)).fetchone()[0] == 2
        term.stop()
        fleet.refresh_crl()  # CRL to the broker + SIGHUP
        time.sleep(0.5)
        probe = Probe(cfg.identity, "T-R", port)
        assert not probe.connect(timeout=5), "a revoked certificate must not connect"
        probe.close()
        with engine.connect() as conn:
            actions = [r.action for r in conn.execute(select(s.audit.c.action, s.audit.c.code))]
        assert "revoke" in actions and "ingest.reject" in actions
    finally:
        term.stop()
        worker.stop()


def test_enrolment_code_works_once(fleet: LocalFleet, engine: Engine) -> None:
    code = new_code(engine, "T-E", "330102", created_by="test")
    e = enrol(engine, fleet.home, code, make_csr(generate_key(), "someone-else"))
    assert e.terminal_id == "T-E"
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(e.cert_pem)
    assert cert.subject.rfc4514_string().endswith("CN=T-E") or "CN=T-E" in cert.subject.rfc4514_string()
    with pytest.raises(GtsdkError) as err:
        enrol(engine, fleet.home, code, make_csr(generate_key(), "T-E"))
    assert err.value.code == fe.ENROLMENT_REFUSED
    with pytest.raises(GtsdkError) as err:
        enrol(engine, fleet.home, "AAAA-BBBB-CCCC-DDDD", make_csr(generate_key(), "T-E"))
    assert err.value.code == fe.ENROLMENT_REFUSED
    # re-enrolment revokes the previous certificate
    e2 = enrol(engine, fleet.home, new_code(engine, "T-E", "330102", created_by="test"),
               make_csr(generate_key(), "x"))
    assert x509.load_pem_x509_certificate(e2.cert_pem).serial_number != cert.serial_number
    assert cert.serial_number in fleet.home.ca.revoked_serials()
    with engine.connect() as conn:
        assert conn.execute(select(s.audit.c.code).where(s.audit.c.action == "enrol.refused")).first() is not None


def test_no_personal_data_reaches_the_platform(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    """A rating comment with an ID number and a phone number is stored masked; the holder key is not stored."""
    from _fleet_fixtures import rating
    term = Terminal(fleet.enrol_terminal(engine, "T-P", "330102", tmp_path / "p", "province"))
    worker = start_worker(fleet, engine)
    try:
        tx = transaction(term.id, datetime.now(UTC), "S001")
        tx.body["holderKey"] = "ab" * 32
        term.write(tx)
        comment = "我的身份证 11010519491231002X 电话 13912345678"
        term.write(rating(term.id, datetime.now(UTC), "S001", 4, comment=comment))
        term.start()
        wait_for(lambda: term.outbox_size() == 0, what="delivery")
        with engine.connect() as conn:
            dump = json.dumps([list(map(str, r)) for t in (s.ratings, s.transactions) for r in conn.execute(select(t))],
                              ensure_ascii=False)
        assert "11010519491231002X" not in dump and "13912345678" not in dump and "ab" * 32 not in dump
        assert "110***************" in dump
    finally:
        term.stop()
        worker.stop()
