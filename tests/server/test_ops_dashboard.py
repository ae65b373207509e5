# ruff: noqa: F811  (pytest fixtures imported from _demo_fixtures are parameters here)
"""The operations page on the terminal's records, after a scripted day on the simulated terminal through the
service: several services as transactions with device operations, failures, ratings, a receipt paper-out, the
ID card reader unplugged and replugged, and a service restart in the middle (a transaction open across it).
Then /v1/ops/summary, its CSV, /metrics, and headless Chromium on /ops/ (ECharts canvases, no console errors,
exports equal to the API) and on the demo (its rating stored with its transaction)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from _demo_fixtures import DemoService, browser, page  # noqa: F401  (fixtures)
from _simulated_service import SimService

from gtsdk.records import rollups
from gtsdk.records.faults import consumable_states
from gtsdk.records.outbox import Outbox
from gtsdk.records.schema import RecordEnvelope, RecordKind, Transaction
from gtsdk.records.store import local_day_hour
from gtsdk.server.config import parse_service
from gtsdk.server.pages import vendor_dirs
from gtsdk.server.run import build, start_background
from gtsdk.server.tokens import TokenStore

pytestmark = pytest.mark.peer


def wait_state(svc: DemoService, module: str, want: set[str], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if svc.request("GET", f"/v1/{module}/status")["data"]["state"] in want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{module} never reached {want}")


class DayService(DemoService):
    """The demo service with request headers (X-Transaction-Id)."""

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
                raw: bool = False, headers: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token or self.maintenance_token}", **(headers or {}),
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, context=self._ctx(), timeout=60) as r:
                payload = r.read()
                return (r.status, r.headers, payload) if raw else json.loads(payload)
        except urllib.error.HTTPError as e:
            payload = e.read()
            return (e.code, e.headers, payload) if raw else json.loads(payload)


def start(sim: SimService, home: Path, tokens: tuple[str, str] | None = None) -> DayService:
    app = build(sim.terminal, parse_service({"demo": True}, base_dir=home), home, simulate=True)
    running = start_background(app, port=0, addresses=["127.0.0.1"])
    if tokens is None:
        store = TokenStore(home)
        tokens = (store.create(["maintenance"]), store.create(["app"], app="kiosk"))
    return DayService(sim, running, home, *tokens)


def stop(svc: DemoService) -> None:
    svc.running.stop()
    svc.running.app.pages.close()


def seed_history(svc: DemoService) -> int:
    """Yesterday as a busy terminal would have recorded it: transactions in every hour, peaks 9–11 and 14–16."""
    rec = svc.running.app.records
    today = date.fromisoformat(local_day_hour(time.time())[0])
    day = (today - timedelta(days=1)).isoformat()
    start_of_day = time.mktime(time.strptime(day, "%Y-%m-%d"))
    plan = ["social", "social", "residence", "tax", "housing"]
    rows = []
    for hour in range(24):
        for i in range(1 + (6 if 9 <= hour <= 11 or 14 <= hour <= 16 else 0)):
            t = start_of_day + hour * 3600 + 60 * i
            code = plan[(hour + i) % len(plan)]
            rows.append((uuid.uuid4().hex, code, "completed" if i % 5 else "failed", t))

    def write(conn: sqlite3.Connection) -> None:
        for tid, code, result, t in rows:
            d, h = local_day_hour(t)
            conn.execute("INSERT INTO transactions (id, service_code, app, state, result, started, started_t, last_t, "
                         "ended, duration, operations, day, hour) VALUES (?, ?, 'kiosk', 'ended', ?, ?, 0, 0, ?, 95, "
                         "4, ?, ?)", (tid, code, result, t, t + 95, d, h))
            body = Transaction(service_code=code, started=t, ended=t + 95, duration=95, result=result,
                               operations=4, app="kiosk")
            rec.store.emit(conn, RecordKind.TRANSACTION, tid, body)
        rollups.rebuild(conn)  # written around the store: its rollups recomputed

    rec.store.write(write)
    return len(rows)


@pytest.fixture(scope="module")
def scripted_day(sim_service: SimService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DayService]:
    home = tmp_path_factory.mktemp("ops-day") / "home"
    svc = start(sim_service, home)

    def call(mod: str, op: str, body: dict[str, Any], txn: str | None = None) -> dict[str, Any]:
        hdr = {"X-Transaction-Id": txn} if txn else {}
        out: dict[str, Any] = svc.request("POST", f"/v1/{mod}/{op}", body, token=svc.app_token, headers=hdr)
        return out

    def api(path: str, body: dict[str, Any]) -> dict[str, Any]:
        env = svc.request("POST", path, body, token=svc.app_token)
        assert env["code"] == "success", env
        return env["data"]  # type: ignore[no-any-return]

    receipt = [{"type": "text", "text": "流水号 GT-1"}, {"type": "qr", "data": "GT-1"}]
    try:
        # morning: a completed social-card service, rated 5
        t1 = api("/v1/transactions", {"serviceCode": "social"})["id"]
        svc.present_card()
        call("idcard", "open", {}, t1)
        assert call("idcard", "read", {"timeout": 10_000}, t1)["code"] == "success"
        call("lights", "flash", {"light": "idcard"}, t1)
        call("receipt_printer", "init", {}, t1)
        assert call("receipt_printer", "print", {"elements": receipt}, t1)["code"] == "success"
        api("/v1/transactions/end", {"transactionId": t1, "result": "completed"})
        api("/v1/ratings", {"transactionId": t1, "level": 5, "tags": ["fast"]})
        # the paper runs out during a residence certificate: failed, rated 2 with a comment holding a phone number
        t2 = api("/v1/transactions", {"serviceCode": "residence"})["id"]
        svc.sim_control("receipt_printer", "paper_out")
        assert call("receipt_printer", "print", {"elements": receipt}, t2)["code"] == "noMedia"
        api("/v1/transactions/end", {"transactionId": t2, "result": "failed", "reasonCode": "noMedia"})
        api("/v1/ratings", {"transactionId": t2, "level": 2, "comment": "没纸了，请回电 13800138000"})
        svc.sim_control("receipt_printer", "load_paper")
        assert call("receipt_printer", "print", {"elements": receipt})["code"] == "success"  # staff test print
        # someone walks away from a housing-fund query
        t3 = api("/v1/transactions", {"serviceCode": "housing"})["id"]
        call("lights", "on", {"light": "idcard"}, t3)
        api("/v1/transactions/end", {"transactionId": t3, "result": "abandoned", "reasonCode": "userCancelled"})
        # the reader is unplugged and plugged back: a level 1 fault (every service needs it), resolved by itself
        svc.lift_card()
        svc.sim_control("idcard", "unplug")
        wait_state(svc, "idcard", {"noDevice", "offline", "hardwareError"})
        time.sleep(0.3)
        svc.sim_control("idcard", "replug")
        wait_state(svc, "idcard", {"online"})
        # a tax certificate is under way when the service restarts
        t4 = api("/v1/transactions", {"serviceCode": "tax"})["id"]
        call("lights", "on", {"light": "receipt"}, t4)
        stop(svc)
        time.sleep(0.5)
        svc = start(sim_service, home, (svc.maintenance_token, svc.app_token))
        call("lights", "off", {"light": "receipt"}, t4)
        api("/v1/transactions/end", {"transactionId": t4, "result": "completed"})
        api("/v1/ratings", {"transactionId": t4, "level": 4})
        t5 = api("/v1/transactions", {"serviceCode": "social"})["id"]
        svc.present_card()
        assert call("idcard", "read", {"timeout": 10_000}, t5)["code"] == "success"
        api("/v1/transactions/end", {"transactionId": t5, "result": "completed"})
        api("/v1/ratings", {"transactionId": t5, "level": 5})
        svc.seeded = seed_history(svc)  # type: ignore[attr-defined]
        svc.txns = [t1, t2, t3, t4, t5]  # type: ignore[attr-defined]
        yield svc
    finally:
        try:
            svc.tidy()
        finally:
            stop(svc)


def summary(svc: DemoService, days: int = 30) -> dict[str, Any]:
    env = svc.request("GET", f"/v1/ops/summary?days={days}")
    assert env["code"] == "success", env
    return env["data"]  # type: ignore[no-any-return]


def test_summary(scripted_day: DemoService) -> None:
    svc = scripted_day
    d = summary(svc)
    seeded = svc.seeded  # type: ignore[attr-defined]
    tx = d["transactions"]
    assert tx["total"] == seeded + 5 and tx["open"] == 0
    assert (tx["abandoned"], tx["failed"] >= 1) == (1, True)
    services = {s["code"]: s for s in d["services"]}
    assert d["services"][0]["code"] == "social" and d["services"][0]["rank"] == 1  # the heat ranking
    assert abs(sum(s["share"] for s in d["services"]) - 1) < 0.01
    assert services["residence"]["failed"] >= 1 and services["housing"]["abandoned"] == 1
    assert all(n > 0 for n in d["hourly"]) and d["hourly"][10] >= 7  # every hour of yesterday, the morning peak
    assert d["satisfaction"]["ratings"] == 4 and d["satisfaction"]["rate"] == 0.75 and d["satisfaction"]["met"] is False
    assert d["usage"]["daily"][-1]["count"] == 5 and d["usage"]["daily"][-2]["count"] == seeded
    assert d["utilisation"]["lowUse"] is False
    faults = d["faults"]["recent"]
    idc = [f for f in faults if f["module"] == "idcard" and f["kind"] == "state"]
    assert idc and idc[0]["level"] == 1 and idc[0]["state"] == "resolved" and idc[0]["resolution"] == "automatic"
    assert 0 < idc[0]["duration"] < 60 and idc[0]["overdue"] is False
    paper = [f for f in faults if f["kind"] == "consumable:receiptPaper"]
    assert paper and paper[0]["level"] == 2 and paper[0]["state"] == "resolved"
    assert {"name": "receiptPaper", "module": "receipt_printer", "state": "ok"}.items() <= next(
        c for c in d["consumables"] if c["name"] == "receiptPaper").items()
    av = d["availability"]
    assert av["restarts"] == 1 and 0 < av["serviceDowntime"] < 30  # the restart in the middle, counted
    assert 0 < av["overall"] < 1 and av["modules"]["idcard"] < av["modules"]["lights"] <= 1
    assert av["target"] == 0.995 and av["met"] is False
    mods = {m["module"]: m for m in d["modules"]}
    assert mods["receipt_printer"]["lastError"] == "noMedia" and len(d["modules"]) == 14
    assert d["host"]["memoryPercent"] > 0
    # what the fleet platform will get: every record once, nothing personal
    db = sqlite3.connect(svc.home / "records.sqlite")
    envs = [RecordEnvelope.model_validate_json(p.body) for p in Outbox(db).pending(limit=100_000)]
    db.close()
    keys = [(e.id, e.version) for e in envs]
    assert len(keys) == len(set(keys))
    assert sum(1 for e in envs if e.kind == RecordKind.TRANSACTION) == seeded + 5
    text = "\n".join(e.model_dump_json() for e in envs)
    assert "13800138000" not in text and "110101" not in text and "张三" not in text
    # 10.2.2: the maintenance scope only
    assert svc.request("GET", "/v1/ops/summary", token=svc.app_token)["code"] == "forbidden"


def test_summary_csv(scripted_day: DemoService) -> None:
    status, headers, body = scripted_day.request("GET", "/v1/ops/summary?format=csv&table=hourly", raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["hour", "count"] and len(rows) == 25 and all(int(r[1]) > 0 for r in rows[1:])
    status, _, body = scripted_day.request("GET", "/v1/ops/summary?format=csv", raw=True)
    text = body.decode("utf-8-sig")
    for section in ("services", "hourly", "daily", "monthly", "yearly", "satisfaction", "faults", "availability",
                    "modules", "consumables"):
        assert f"# {section}" in text


def test_metrics(scripted_day: DemoService) -> None:
    svc = scripted_day
    status, headers, body = svc.request("GET", "/metrics", raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'gtsdk_module_state{module="idcard",state="online"} 1' in text
    assert 'gtsdk_operation_duration_seconds_count{module="idcard",operation="read"}' in text
    assert 'gtsdk_availability_ratio{module="terminal"}' in text and "gtsdk_service_restarts_total 1" in text
    assert 'gtsdk_faults_open{level="1"} 0' in text and "gtsdk_satisfaction_ratio 0.75" in text
    for line in text.splitlines():  # exposition format: comments or `name{labels} value`
        assert line.startswith("#") or float(line.rsplit(" ", 1)[1]) >= 0
    assert svc.request("GET", "/metrics", token="not-a-token", raw=True)[0] == 401
    assert svc.request("GET", "/metrics", token=svc.app_token, raw=True)[0] == 401  # an app token may not scrape


def test_metrics_scrape_token(sim_service: SimService, tmp_path: Path) -> None:
    """``[service] metrics_token_sha256``: a Prometheus server scrapes with its own token, nothing else."""
    import httpx

    from gtsdk.server.app import ServiceApp

    secret = "scrape-" + uuid.uuid4().hex
    cfg = parse_service({"metrics_token_sha256": hashlib.sha256(secret.encode()).hexdigest()})
    app = ServiceApp(sim_service.terminal, cfg, tmp_path)

    async def probe() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1") as c:
            return [(await c.get(path, headers={"Authorization": f"Bearer {tok}"})).status_code for path, tok in (
                ("/metrics", secret), ("/metrics", "wrong"), ("/v1/ops/summary", secret), ("/demo/", secret))]

    try:
        ok, wrong, summary_status, demo = asyncio.run(probe())
    finally:
        app.pages.close()  # type: ignore[attr-defined]
    assert (ok, wrong, summary_status) == (200, 401, 401)
    assert demo in (401, 404)  # the pages are off unless demo = true


def test_consumable_states() -> None:
    assert consumable_states("receipt_printer", {"paper": "nearEnd"}) == {"receiptPaper": "low"}
    assert consumable_states("a4_printer", {"reasons": ["media-empty-error"], "warnings": ["toner-low"]}) == {
        "a4Paper": "empty", "toner": "low"}
    assert consumable_states("camera", {"paper": "out"}) == {}


def _echarts_or_skip(svc: DemoService) -> None:
    if not any((d / "echarts.min.js").is_file() for d in vendor_dirs(svc.home)):
        pytest.skip("Apache ECharts not fetched (scripts/fetch-echarts.sh, part of scripts/setup.sh)")


def test_dashboard(page: Any, scripted_day: DemoService, artifacts: Path) -> None:
    svc = scripted_day
    _echarts_or_skip(svc)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(f"{svc.url}/ops/#token={svc.maintenance_token}")
    page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    assert "token" not in page.url  # the token leaves the address bar
    assert page.is_hidden("#no-echarts")
    d = summary(svc)
    for chart in ("services", "share", "hourly", "daily", "monthly", "ratings", "availability", "faults",
                  "availability-gauge", "satisfaction-gauge"):
        assert page.locator(f"#chart-{chart} canvas").count() >= 1, chart  # drawn by ECharts

    def values(selector: str) -> Any:
        return json.loads(page.get_attribute(selector, "data-values"))

    assert values("#chart-hourly") == d["hourly"]
    assert values("#chart-services") == [s["count"] for s in d["services"] if s["count"] > 0]
    assert values("#chart-monthly") == [m["count"] for m in d["usage"]["monthly"]]
    assert page.locator("#faults tr.level-1").count() >= 1 and page.locator("#faults tr.level-2").count() >= 1
    assert "凭条纸" in page.inner_text("#consumables") and page.locator("#modules tbody tr").count() == 14
    assert page.locator("#services tbody tr").count() == len(d["services"])
    page.screenshot(path=str(artifacts / "ops-dashboard.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#btn-csv")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig"))))
    head = rows.index(["# services"]) + 1
    exported = {r[1]: int(r[4]) for r in rows[head + 1: head + 1 + len(d["services"])]}
    assert exported == {s["code"]: s["count"] for s in d["services"]}
    with page.expect_download() as dl:
        page.click("#btn-json")
    page_json = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    for key in ("services", "hourly", "usage", "satisfaction", "transactions", "catalogue"):
        assert page_json[key] == d[key], key
    # availability moves with every second of a young terminal: the chart shows what the page fetched
    assert values("#chart-availability")[0] == page_json["availability"]["overall"]
    labelled = page.evaluate("""() => [...document.querySelectorAll('button, input, select')].every(e =>
        (e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))""")
    assert labelled
    assert page.js_errors == [] and console == []


def test_dashboard_without_echarts(page: Any, scripted_day: DemoService) -> None:
    """Without the fetched library the page says what to do, and the tables still work."""
    svc = scripted_day
    page.route("**/vendor/echarts.min.js", lambda route: route.fulfill(status=404, body=""))
    page.goto(f"{svc.url}/ops/#token={svc.maintenance_token}")
    page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    assert page.is_visible("#no-echarts") and "scripts/fetch-echarts.sh" in page.inner_text("#no-echarts")
    assert page.locator("#services tbody tr").count() >= 4 and page.js_errors == []


def test_demo_rating_is_stored(page: Any, scripted_day: DemoService) -> None:
    """The demo page in elderly mode: tiles from the catalogue, one tap rates, the transaction is recorded."""
    svc = scripted_day
    if svc.running.app.pages.card_photo is None:
        pytest.skip("simulated camera has no face photo (shared test data missing)")
    svc.present_card()
    svc.sim_control("receipt_printer", "load_paper")
    before = summary(svc)["satisfaction"]["ratings"]
    page.goto(f"{svc.url}/demo/?elderly=1&voice=0")
    page.wait_for_selector(".service")
    names = page.eval_on_selector_all(".service", "els => els.map(e => e.dataset.service)")
    cat = svc.request("GET", "/v1/catalogue")["data"]
    assert names == [e["code"] for e in cat["entries"] if e["available"]][:2]  # elderly mode: two tiles
    page.click("[data-service=social]")
    page.wait_for_selector("text=请在签字板上签名", timeout=60_000)
    end = time.monotonic() + 30
    while not svc.request("GET", "/v1/signature_pad/status")["data"].get("busy"):
        assert time.monotonic() < end
        time.sleep(0.05)
    svc.sim_control("signature_pad", "sign", what="张三", then="ok")
    page.wait_for_selector("#printed", timeout=60_000)
    assert page.locator("#btn-submit").count() == 0  # one tap, no submit button
    page.click("[data-rating='4']")
    page.wait_for_selector("#done")
    s = summary(svc)
    assert s["satisfaction"]["ratings"] == before + 1
    db = sqlite3.connect(svc.home / "records.sqlite")
    row = db.execute("SELECT t.service_code, t.result, t.operations, t.app, r.level FROM transactions t "
                     "JOIN ratings r ON r.transaction_id = t.id ORDER BY r.time DESC LIMIT 1").fetchone()
    db.close()
    assert row[0] == "social" and row[1] == "completed" and row[2] >= 5 and row[3] == "demo" and row[4] == 4
    assert page.js_errors == []
