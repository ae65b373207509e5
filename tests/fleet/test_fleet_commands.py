# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Signed commands (SM2, expiry, nonce): the terminal refuses forged, expired, replayed and misaddressed commands,
answers each, and audits refusals; a valid command runs once and its result reaches the platform's database."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import Terminal, db_url, engine, fleet, postgres, start_worker, wait_for  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from gtsdk.crypto import SM2PrivateKey
from gtsdk.errors import GtsdkError
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import User

KEY = SM2PrivateKey.generate()


def verifier(tmp_path: Path, clock: Any = time.time, terminal: str = "T-1") -> cmds.Verifier:
    conn = sqlite3.connect(tmp_path / "n.sqlite")
    return cmds.Verifier(KEY.public_key(), terminal, cmds.NonceStore(conn), clock=clock)


def test_valid_command_verifies_once(tmp_path: Path) -> None:
    v = verifier(tmp_path)
    c = cmds.sign(KEY, "T-1", "status")
    payload = cmds.encode(c)
    assert v.verify(payload).id == c.id
    with pytest.raises(GtsdkError) as e:
        v.verify(payload)
    assert e.value.code == fe.COMMAND_REPLAYED


def test_replay_is_refused_after_a_restart(tmp_path: Path) -> None:
    payload = cmds.encode(cmds.sign(KEY, "T-1", "inspect"))
    verifier(tmp_path).verify(payload)
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(payload)  # a new process, the same nonce store
    assert e.value.code == fe.COMMAND_REPLAYED


@pytest.mark.parametrize("mutate, code", [
    (lambda d: d.update(op="resetStatistics"), fe.SIGNATURE_INVALID),  # a field changed after signing
    (lambda d: d.update(sig=""), fe.SIGNATURE_INVALID),
    (lambda d: d.update(sig=base64.b64encode(SM2PrivateKey.generate().sign(b"x")).decode()), fe.SIGNATURE_INVALID),
    (lambda d: d.update(params={"module": "idcard"}), fe.SIGNATURE_INVALID),
])
def test_tampered_commands_are_refused(tmp_path: Path, mutate: Any, code: str) -> None:
    d = json.loads(cmds.encode(cmds.sign(KEY, "T-1", "status")))
    mutate(d)
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(json.dumps(d).encode())
    assert e.value.code == code


def test_other_key_other_terminal_expired_future(tmp_path: Path) -> None:
    other = SM2PrivateKey.generate()
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(cmds.encode(cmds.sign(other, "T-1", "status")))
    assert e.value.code == fe.SIGNATURE_INVALID
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(cmds.encode(cmds.sign(KEY, "T-2", "status")))
    assert e.value.code == fe.WRONG_TERMINAL
    old = cmds.sign(KEY, "T-1", "status", lifetime=60, now=time.time() - 3600)
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(cmds.encode(old))
    assert e.value.code == fe.COMMAND_EXPIRED
    future = cmds.sign(KEY, "T-1", "status", lifetime=60, now=time.time() + 3600)
    with pytest.raises(GtsdkError) as e:
        verifier(tmp_path).verify(cmds.encode(future))
    assert e.value.code == fe.COMMAND_EXPIRED
    # within the clock-skew allowance: accepted
    skewed = cmds.sign(KEY, "T-1", "status", lifetime=30, now=time.time() - 60)
    assert verifier(tmp_path).verify(cmds.encode(skewed)).id == skewed.id


def test_lifetime_is_bounded() -> None:
    with pytest.raises(GtsdkError):
        cmds.sign(KEY, "T-1", "status", lifetime=cmds.MAX_LIFETIME + 1)


def test_oversized_and_garbage_payloads(tmp_path: Path) -> None:
    v = verifier(tmp_path)
    for payload, code in ((b"x" * (cmds.MAX_COMMAND_BYTES + 1), "payloadTooLarge"), (b"{not json", "invalidData"),
                          (b'{"id": 5}', "invalidData")):
        with pytest.raises(GtsdkError) as e:
            v.verify(payload)
        assert e.value.code == code


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20), st.booleans()),
                              max_size=4),
       op=st.sampled_from(list(cmds.CommandOp)))
def test_any_signed_command_round_trips_and_any_bit_flip_fails(params: dict[str, Any], op: cmds.CommandOp) -> None:
    conn = sqlite3.connect(":memory:")
    v = cmds.Verifier(KEY.public_key(), "T-9", cmds.NonceStore(conn))
    c = cmds.sign(KEY, "T-9", op, params)
    d = json.loads(cmds.encode(c))
    d["params"] = {**params, "extra": 1}
    with pytest.raises(GtsdkError):
        v.verify(json.dumps(d).encode())
    assert v.verify(cmds.encode(c)).params == params


@pytest.mark.daemons
def test_commands_end_to_end(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> None:
    """Platform → broker → agent: a valid command runs and its result lands in the database; forged, expired and
    replayed ones (injected with the platform's own broker identity, as an attacker on the broker would) are
    refused, audited by the terminal and answered."""
    term = Terminal(fleet.enrol_terminal(engine, "T-CMD1", "330102", tmp_path / "t", "province"))
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=fleet.brokers["province"].url, workers=0),
                        engine=engine).start()
    worker = start_worker(fleet, engine, n=3)
    audited: list[tuple[str, str, str]] = []
    ran: list[str] = []
    try:
        agent = term.start(handlers={"status": lambda p: ran.append("status") or {"modules": {"idcard": "online"}}},
                           audit=lambda op, cid, code, detail: audited.append((op, cid, code)))
        assert agent.wait_connected(15)
        wait_for(lambda: term.outbox_size() == 0, what="profile delivered")
        user = User("prov", "province", "330000", None)
        sent = platform.send_command(user, term.id, "status")

        def state(cid: str) -> Any:
            with engine.connect() as c:
                return c.execute(select(s.commands.c.state, s.commands.c.code, s.commands.c.result)
                                 .where(s.commands.c.id == cid)).first()
        row = wait_for(lambda: (r := state(sent["id"])) is not None and r.state != "sent" and r, what="result")
        assert row.state == "success" and row.result == {"modules": {"idcard": "online"}}
        assert ran == ["status"]
        # an unsupported operation is answered, not ignored
        sent2 = platform.send_command(user, term.id, "pushCatalogue", {"catalogue": {}})
        row2 = wait_for(lambda: (r := state(sent2["id"])) is not None and r.state != "sent" and r, what="result 2")
        assert row2.code == "unsupportedCommand"
        # attacks, published straight onto the command topic
        assert platform.sender is not None
        good = cmds.sign(platform.home.command_key, term.id, "status")
        forged = cmds.sign(SM2PrivateKey.generate(), term.id, "status")
        expired = cmds.sign(platform.home.command_key, term.id, "status", lifetime=10, now=time.time() - 900)
        for c in (good, forged, expired, good):  # `good` twice: the second is a replay
            platform.sender.publish("330102", c)
        wait_for(lambda: len(audited) >= 6, what="refusals audited")
        codes = [code for _op, _cid, code in audited[2:]]
        assert codes == ["success", fe.SIGNATURE_INVALID, fe.COMMAND_EXPIRED, fe.COMMAND_REPLAYED]
        assert ran == ["status", "status"]  # the replay did not run
        assert agent.stats.refused_commands == 3
    finally:
        term.stop()
        worker.stop()
        platform.stop()
