# ruff: noqa: F811  (pytest fixtures imported from _records_fixtures are parameters here)
"""The record routes over ASGI with in-memory drivers: catalogue (6.3), transactions (10.1.1.2), holder keys,
好差评 (7.1.3 f, 12.3), the fault database and inspections (10.2.2 a, b), the summary and /metrics."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from _records_fixtures import ID_NUMBER, FakeCards, Records, records, records_service  # noqa: F401
from _runtime_fixtures import wait_for

from gtsdk.records.outbox import Outbox
from gtsdk.records.schema import RecordEnvelope, RecordKind, Transaction


def envelopes(svc: Records, kind: RecordKind | None = None) -> list[RecordEnvelope]:
    db = sqlite3.connect(svc.home / "records.sqlite")
    try:
        out = [RecordEnvelope.model_validate_json(p.body) for p in Outbox(db).pending(limit=10_000)]
    finally:
        db.close()
    return [e for e in out if kind is None or e.kind == kind]


def test_catalogue_follows_module_state(records: Records) -> None:
    cat = records.ok("GET", "/v1/catalogue")
    assert cat["version"] == "test-1" and cat["source"] == "home"
    assert [(e["code"], e["available"]) for e in cat["entries"]] == [("permit", True), ("query", True)]
    FakeCards.present = False  # the reader goes away: every service that needs it is unavailable
    records.request("POST", "/v1/idcard/read", {})
    assert wait_for(lambda: records.terminal.device("idcard").state.value == "noDevice")
    cat = records.ok("GET", "/v1/catalogue")
    assert all(not e["available"] and e["missingModules"] == ["idcard"] for e in cat["entries"])
    # level 1: every service needs the reader (10.2.2 b); the fault follows the state change's event
    def faults(query: str = "") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = records.ok("GET", "/v1/ops/faults" + query,
                                               token=records.maintenance_token)["faults"]
        return out

    assert wait_for(lambda: faults())
    assert [(f["module"], f["level"], f["kind"], f["state"]) for f in faults()] == [("idcard", 1, "state", "open")]
    FakeCards.present = True
    assert wait_for(lambda: records.terminal.device("idcard").state.value == "online", 5)
    assert wait_for(lambda: faults("?state=all")[0]["state"] == "resolved", 5)
    assert faults("?state=all")[0]["resolution"] == "automatic"
    assert [e.version for e in envelopes(records, RecordKind.FAULT)] == [1, 2]


def test_transaction_counts_its_operations(records: Records) -> None:
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    assert txn["state"] == "open" and txn["app"] == "kiosk"
    hdr = {"X-Transaction-Id": txn["id"]}
    records.ok("POST", "/v1/lights/on", {"light": "idcard"}, headers=hdr)
    FakeCards.fail_next = "noMedia"
    status, env = records.request("POST", "/v1/idcard/read", {}, headers=hdr)
    assert env["code"] == "noMedia"
    records.ok("POST", "/v1/idcard/read", {}, headers=hdr)
    records.ok("POST", "/v1/lights/off", {"light": "idcard"})  # outside the transaction
    view = records.ok("GET", f"/v1/transactions?id={txn['id']}")
    assert (view["operations"], view["failedOperations"]) == (3, 1)
    end = {"transactionId": txn["id"], "result": "completed"}
    done = records.ok("POST", "/v1/transactions/end", end)
    assert done["state"] == "ended" and done["result"] == "completed" and done["duration"] >= 0
    assert records.ok("POST", "/v1/transactions/end", end) == done  # a retried end is answered, not repeated
    status, env = records.request("POST", "/v1/transactions/end", {**end, "result": "failed"})
    assert env["code"] == "invalidState"
    recs = envelopes(records, RecordKind.TRANSACTION)
    assert len(recs) == 1 and recs[0].id == txn["id"] and recs[0].terminal_id == "T-TEST-1"
    body = recs[0].parsed()
    assert isinstance(body, Transaction) and (body.operations, body.failed_operations) == (3, 1)
    # an ended transaction no longer takes operations; neither does another app's or an unknown id
    for token, tid in ((None, txn["id"]), (records.other_token, txn["id"]), (None, "0" * 32), (None, "bad id")):
        calls = len(records.terminal.device("lights").driver.calls)  # type: ignore[union-attr]
        status, env = records.request("POST", "/v1/lights/on", {"light": "idcard"}, token=token,
                                      headers={"X-Transaction-Id": tid})
        assert (status, env["code"], env["data"]["field"]) == (400, "invalidData", "X-Transaction-Id")
        assert len(records.terminal.device("lights").driver.calls) == calls  # type: ignore[union-attr]


def test_transaction_rules(records: Records) -> None:
    _, env = records.request("POST", "/v1/transactions", {"serviceCode": "nope"})
    assert (env["code"], env["data"]["field"]) == ("invalidData", "serviceCode")
    _, env = records.request("POST", "/v1/transactions", {"serviceCode": "permit"},
                                  token=records.maintenance_token)
    assert env["code"] == "forbidden"
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    _status, env = records.request("GET", f"/v1/transactions?id={txn['id']}", token=records.other_token)
    assert env["code"] == "notFound"  # another app does not see it
    _, env = records.request("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "failed",
                                                                   "reasonCode": "张三 110101199003071234"})
    assert (env["code"], env["data"]["field"]) == ("invalidData", "reasonCode")  # identifiers only, no free text
    done = records.ok("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "failed",
                                                       "reasonCode": "noMedia"})
    assert done["reasonCode"] == "noMedia"


def test_holder_key(records: Records) -> None:
    def keyed(token: str | None) -> str:
        txn = records.ok("POST", "/v1/transactions", {"serviceCode": "query"}, token=token)
        records.ok("POST", "/v1/idcard/read", {}, token=token, headers={"X-Transaction-Id": txn["id"]})
        key = records.ok("POST", "/v1/transactions/holder-key", {"transactionId": txn["id"]}, token=token)
        records.ok("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "completed"}, token=token)
        return str(key["holderKey"])

    first, again, other = keyed(None), keyed(None), keyed(records.other_token)
    assert first == again and len(first) == 64 and first != other  # the same holder, per app
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "query"})
    _status, env = records.request("POST", "/v1/transactions/holder-key", {"transactionId": txn["id"]})
    assert env["code"] == "invalidState"  # nothing was read in this transaction
    _, env = records.request("POST", "/v1/transactions/holder-key",
                                  {"transactionId": txn["id"], "idNumber": ID_NUMBER})
    assert env["code"] == "invalidData"  # the service never hashes a number an app sends
    key_file = records.home / "records-holder.key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_bytes()) == 32
    rec = [e.parsed() for e in envelopes(records, RecordKind.TRANSACTION)]
    assert [r.holder_key for r in rec] == [first, first, other]  # type: ignore[attr-defined]
    for f in records.home.glob("records.sqlite*"):  # the number itself is nowhere on disk
        assert ID_NUMBER.encode() not in f.read_bytes()


def test_rating(records: Records, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    comment = "请联系我 13800138000 或 a.person@example.cn，证件 11010119900307123X，护照 E12345678，谢谢"
    body = {"transactionId": txn["id"], "level": 5, "tags": ["操作简便", "速度快"], "comment": comment}
    r = records.ok("POST", "/v1/ratings", body)
    assert r["serviceCode"] == "permit" and r["level"] == 5
    assert "13800138000" not in r["comment"] and "11010119900307123X" not in r["comment"]
    assert "E12345678" not in r["comment"] and "example.cn" not in r["comment"] and "谢谢" in r["comment"]
    assert records.ok("POST", "/v1/ratings", body)["id"] == r["id"]  # retried: the same rating
    _status, env = records.request("POST", "/v1/ratings", {**body, "level": 1})
    assert env["code"] == "invalidState"  # one rating per transaction
    for bad in ({**body, "level": 6}, {**body, "comment": "x" * 501}, {**body, "tags": ["t"] * 9},
                {"level": 5}):
        _, env = records.request("POST", "/v1/ratings", bad)
        assert env["code"] == "invalidData", bad
    stored = envelopes(records, RecordKind.RATING)
    assert len(stored) == 1 and stored[0].body["comment"] == r["comment"]
    assert comment not in caplog.text and "谢谢" not in caplog.text


def test_summary_and_csv(records: Records) -> None:
    for code, result, level in (("permit", "completed", 5), ("permit", "completed", 4), ("permit", "failed", 1),
                                ("query", "abandoned", None)):
        txn = records.ok("POST", "/v1/transactions", {"serviceCode": code})
        records.ok("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": result})
        if level:
            records.ok("POST", "/v1/ratings", {"transactionId": txn["id"], "level": level})
    s = records.ok("GET", "/v1/ops/summary", token=records.maintenance_token)
    permit, query = s["services"]
    assert (permit["code"], permit["rank"], permit["count"], permit["completed"], permit["failed"]) == (
        "permit", 1, 3, 2, 1)
    assert permit["share"] == 0.75 and query["abandoned"] == 1 and permit["nameZh"] == "证明开具"
    assert s["satisfaction"]["ratings"] == 3 and s["satisfaction"]["rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["satisfaction"]["met"] is False and s["satisfaction"]["levels"]["5"] == 1
    hour = time.localtime().tm_hour
    assert s["hourly"][hour] == 4 and sum(s["hourly"]) == 4
    assert s["usage"]["daily"][-1]["count"] == 4 and s["usage"]["daily"][-1]["services"] == {"permit": 3, "query": 1}
    assert s["usage"]["monthly"][-1]["count"] == 4 and s["usage"]["yearly"][-1]["count"] == 4
    assert s["utilisation"]["lowUse"] is False and s["utilisation"]["perDay"] == 4
    assert s["availability"]["target"] == 0.995 and s["availability"]["overall"] == 1.0
    assert s["transactions"]["total"] == 4 and s["transactions"]["successRate"] == 0.5
    assert s["host"]["memoryPercent"] > 0
    assert s["host"].get("temperature") is None or -40 < s["host"]["temperature"] < 150  # absent when not exposed
    _, env = records.request("GET", "/v1/ops/summary", token=records.app_token)
    assert env["code"] == "forbidden"  # 10.2.2: maintenance scope only
    _status, env = records.request("GET", "/v1/ops/summary?format=csv&table=services",
                                  token=records.maintenance_token)
    rows = list(csv.reader(io.StringIO(env["text"].lstrip("\ufeff"))))
    assert rows[0][:5] == ["rank", "code", "nameZh", "nameEn", "count"] and rows[1][1:2] == ["permit"]
    for bad in ("days=0", "format=xml", "table=services", "format=csv&table=nope", "foo=1"):
        _, env = records.request("GET", f"/v1/ops/summary?{bad}", token=records.maintenance_token)
        assert env["code"] == "invalidData", bad


def test_faults_acknowledge_and_resolve(records: Records) -> None:
    records.terminal.events.publish("lights", "statusChanged", {"state": "hardwareError", "reason": "relay"})
    m = records.maintenance_token
    f = records.ok("GET", "/v1/ops/faults", token=m)["faults"][0]
    assert (f["module"], f["level"], f["state"], f["target"]) == ("lights", 2, "open", 4 * 3600)
    a = records.ok("POST", "/v1/ops/faults/acknowledge", {"id": f["id"]}, token=m)
    assert a["state"] == "acknowledged" and a["version"] == 2
    r = records.ok("POST", "/v1/ops/faults/resolve", {"id": f["id"], "resolution": "replaced"}, token=m)
    assert r["state"] == "resolved" and r["resolution"] == "replaced" and r["overdue"] is False
    _status, env = records.request("POST", "/v1/ops/faults/resolve", {"id": f["id"]}, token=m)
    assert env["code"] == "invalidState"
    _, env = records.request("POST", "/v1/ops/faults/acknowledge", {"id": "0" * 32}, token=m)
    assert env["code"] == "notFound"
    versions = [(e.version, e.body["state"]) for e in envelopes(records, RecordKind.FAULT)]
    assert versions == [(1, "open"), (2, "acknowledged"), (3, "resolved")]
    db = sqlite3.connect(records.home / "records.sqlite")
    hist = db.execute("SELECT version, state FROM fault_history WHERE fault_id = ? ORDER BY version",
                      (f["id"],)).fetchall()
    db.close()
    assert hist == [(1, "open"), (2, "acknowledged"), (3, "resolved")]


def test_consumables(records: Records) -> None:
    bus = records.terminal.events
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "nearEnd"})
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "out"})
    s = records.ok("GET", "/v1/ops/summary", token=records.maintenance_token)
    assert [(c["name"], c["state"]) for c in s["consumables"]] == [("receiptPaper", "empty")]
    faults = s["faults"]["recent"]
    assert sorted((f["kind"], f["level"], f["state"]) for f in faults) == [
        ("consumable:receiptPaper", 2, "open"), ("consumable:receiptPaper", 3, "resolved")]
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "ok"})
    assert records.ok("GET", "/v1/ops/faults", token=records.maintenance_token)["faults"] == []
    assert [e.body["state"] for e in envelopes(records, RecordKind.CONSUMABLE)] == ["low", "empty", "ok"]


def test_inspection_waits_for_transactions(records: Records) -> None:
    m = records.maintenance_token
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    status, env = records.request("POST", "/v1/ops/inspections", {"wait": 0.2}, token=m)
    assert (status, env["code"]) == (409, "deviceBusy")
    records.ok("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "completed"})
    FakeCards.present = False
    rep = records.ok("POST", "/v1/ops/inspections", {"wait": 1}, token=m)
    assert rep["trigger"] == "manual" and rep["ok"] is False
    by = {f["module"]: f for f in rep["findings"]}
    assert by["lights"]["ok"] is True
    assert by["idcard"]["ok"] is False and by["idcard"]["level"] == 1 and by["idcard"]["code"] == "noDevice"
    assert records.ok("GET", "/v1/ops/inspections", token=m)["id"] == rep["id"]
    kinds = {(f["module"], f["kind"]) for f in records.ok("GET", "/v1/ops/faults", token=m)["faults"]}
    assert ("idcard", "inspection") in kinds
    FakeCards.present = True
    wait_for(lambda: records.terminal.device("idcard").state.value == "online", 5)
    assert records.ok("POST", "/v1/ops/inspections", {}, token=m)["ok"] is True
    assert records.ok("GET", "/v1/ops/faults", token=m)["faults"] == []  # the finding resolved itself
    assert len(envelopes(records, RecordKind.INSPECTION)) == 2
    # the health checks were internal ones, outside any transaction
    assert records.ok("GET", "/v1/ops/summary", token=m)["transactions"]["total"] == 1


def test_idle_transactions_are_abandoned(tmp_path: Path) -> None:
    gen = records_service(tmp_path / "home", {"transaction_idle": 0.3})
    svc = next(gen)
    try:
        path = f"/v1/transactions?id={svc.ok('POST', '/v1/transactions', {'serviceCode': 'permit'})['id']}"
        assert wait_for(lambda: svc.ok("GET", path)["state"] == "ended", 5)
        v = svc.ok("GET", path)
        # ended at its last activity: the idle time is not part of the transaction's duration
        assert v["result"] == "abandoned" and v["reasonCode"] == "idleTimeout" and v["duration"] < 0.1
    finally:
        gen.close()


def test_metrics(records: Records) -> None:
    records.terminal.events.publish("lights", "statusChanged", {"state": "hardwareError", "reason": "relay"})
    status, env = records.request("GET", "/metrics", token=records.maintenance_token)
    text = env["text"]
    assert status == 200 and 'gtsdk_faults_open{level="2"} 1' in text
    assert 'gtsdk_availability_ratio{module="terminal"}' in text and "gtsdk_transactions_open 0" in text
    assert "gtsdk_host_memory_percent" in text and "gtsdk_service_restarts_total 0" in text
    for line in text.splitlines():
        assert line.startswith("#") or float(line.rsplit(" ", 1)[1]) >= 0


def test_openapi_documents_the_header(records: Records) -> None:
    _, doc = records.request("GET", "/openapi.json")
    op = doc["paths"]["/v1/lights/on"]["post"]
    assert any(p["name"] == "X-Transaction-Id" for p in op["parameters"])
    assert "/v1/transactions" in doc["paths"] and "/v1/ratings" in doc["paths"]
    json.dumps(doc)


def test_python_client_transaction(records: Records) -> None:
    """gtsdk.client: the block's calls carry the transaction; an error ends it as failed with its code."""
    import asyncio

    import httpx

    from gtsdk.client import AsyncClient, ServiceError

    async def go() -> tuple[str, str]:
        async with AsyncClient("https://127.0.0.1", token=records.app_token,
                               transport=httpx.ASGITransport(app=records.app)) as c:
            cat = await c.catalogue()
            assert [e.code for e in cat.entries] == ["permit", "query"]
            async with c.transaction("permit") as txn:
                await c.lights.on(light="idcard")
                card = await c.idcard.read()
                assert card.id_number == ID_NUMBER
                key = await txn.holder_key()
                await txn.rate(4, tags=["快"], comment="好")
            assert txn.view is not None and txn.view.result == "completed" and txn.view.operations == 2
            with pytest.raises(ServiceError):
                async with c.transaction("query") as failed:
                    FakeCards.fail_next = "noMedia"
                    await c.idcard.read()
            assert failed.view is not None and (failed.view.result, failed.view.reason_code) == ("failed", "noMedia")
            await c.lights.off(light="idcard")  # after the blocks: no transaction
            return txn.id, key

    tid, key = asyncio.run(go())
    recs = {e.id: e.parsed() for e in envelopes(records, RecordKind.TRANSACTION)}
    ended = recs[tid]
    assert isinstance(ended, Transaction) and ended.holder_key == key and ended.failed_operations == 0
    assert len(envelopes(records, RecordKind.RATING)) == 1


def test_rollups_equal_a_rebuild(records: Records) -> None:
    """The rollups kept with each write are what recomputing them from the records gives, after ends, retried
    ends, ratings, an idle abandonment and a purge."""
    from gtsdk.records import rollups
    from gtsdk.records.retention import purge

    rec = records.app.records  # type: ignore[attr-defined]
    for i, (code, result) in enumerate([("permit", "completed"), ("permit", "failed"), ("query", "completed"),
                                        ("query", "timedOut")]):
        txn = records.ok("POST", "/v1/transactions", {"serviceCode": code})
        end = {"transactionId": txn["id"], "result": result}
        records.ok("POST", "/v1/transactions/end", end)
        records.ok("POST", "/v1/transactions/end", end)
        records.ok("POST", "/v1/ratings", {"transactionId": txn["id"], "level": 1 + i})
    records.ok("POST", "/v1/ratings", {"serviceCode": "query", "level": 5})
    rec.transactions.idle = 0.0
    records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    assert len(rec.transactions.close_idle()) == 1

    def tables() -> list[list[tuple[Any, ...]]]:
        with rec.store.reader() as db:
            return [sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in ("tx_daily", "tx_hourly",
                                                                                  "rating_daily")]

    kept = tables()
    assert sum(r[3] for r in kept[0]) == 5 and sum(r[3] for r in kept[2]) == 5
    rec.store.write(rollups.rebuild)
    assert tables() == kept
    purge(rec.store, time.time() + 2 * 86400, 1)  # everything is older than a day, two days from now
    assert tables() == [[], [], []]


def test_scheduled_inspection(records: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduled slot runs once a day, not while a transaction is open, not right after the start."""
    from gtsdk.records import recorder as recorder_module
    from gtsdk.records.inspections import due_slot

    assert due_slot(["06:00", "18:00"], time.mktime((2026, 3, 1, 5, 59, 0, 0, 0, -1))) is None
    assert due_slot(["06:00", "18:00"], time.mktime((2026, 3, 1, 19, 0, 0, 0, 0, -1))) == "2026-03-01 18:00"
    rec = records.app.records  # type: ignore[attr-defined]
    rec.schedule = ["00:00"]  # always passed today
    rec._maybe_inspect()
    assert rec._inspecting is None  # the service has just started: devices may still be connecting
    # the transaction opens before the grace is lifted: the recorder's own loop also calls _maybe_inspect
    txn = records.ok("POST", "/v1/transactions", {"serviceCode": "permit"})
    monkeypatch.setattr(recorder_module, "STARTUP_GRACE", 0.0)
    rec._maybe_inspect()
    assert rec._inspecting is None  # a transaction is open: it waits
    records.ok("POST", "/v1/transactions/end", {"transactionId": txn["id"], "result": "completed"})
    rec._maybe_inspect()  # (or the recorder's loop got there first)
    assert rec._inspecting is not None
    rec._inspecting.join(30)
    first = rec.inspector.last()
    assert first is not None and first.trigger == "schedule" and first.ok
    rec._maybe_inspect()
    if rec._inspecting is not None:
        rec._inspecting.join(30)
    assert rec.inspector.last().id == first.id  # once per slot
