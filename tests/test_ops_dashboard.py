# ruff: noqa: F811  (pytest fixtures imported from _demo_fixtures are parameters here)
"""The operations dashboard (gtsdk/server/web/ops), its data route /v1/ops/summary and /metrics, after a scripted
day of operations on the simulated terminal: real calls through the service (with a receipt paper-out and an
ID card reader that vanishes and comes back) plus audit rows spread over 0–24 h and earlier days/months."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _demo_fixtures import DemoService, browser, demo_service, page  # noqa: F401  (fixtures)

from gtsdk.server.pages import consumable_states

pytestmark = pytest.mark.peer


def wait_state(svc: DemoService, module: str, want: set[str], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if svc.request("GET", f"/v1/{module}/status")["data"]["state"] in want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{module} never reached {want}")


@pytest.fixture(scope="module")
def scripted_day(demo_service: DemoService) -> DemoService:
    svc = demo_service
    call = lambda mod, op, body: svc.request("POST", f"/v1/{mod}/{op}", body, token=svc.app_token)  # noqa: E731
    # real operations now
    svc.present_card()
    call("idcard", "open", {})
    assert call("idcard", "read", {"timeout": 10_000})["code"] == "success"
    for name in ("idcard", "receipt"):
        call("lights", "on", {"light": name})
        call("lights", "off", {"light": name})
    call("voice", "speak", {"text": "欢迎使用", "language": "zh"})
    call("receipt_printer", "init", {})
    receipt = [{"type": "text", "text": "流水号 GT-1"}, {"type": "qr", "data": "GT-1"}]
    assert call("receipt_printer", "print", {"elements": receipt})["code"] == "success"
    svc.sim_control("receipt_printer", "paper_out")  # level 2 fault (consumable empty)
    assert call("receipt_printer", "print", {"elements": receipt})["code"] == "noMedia"
    svc.sim_control("receipt_printer", "load_paper")
    assert call("receipt_printer", "print", {"elements": receipt})["code"] == "success"
    svc.sim_control("idcard", "unplug")  # level 1 fault: the reader vanishes, then comes back
    wait_state(svc, "idcard", {"noDevice", "offline", "hardwareError"})
    svc.sim_control("idcard", "replug")
    wait_state(svc, "idcard", {"online"})
    # the rest of the day (and earlier days and months) as audit rows, as a busy terminal would have written
    audit = svc.running.app.audit
    assert audit is not None
    now = datetime.now(UTC).astimezone()
    day = now.replace(hour=0, minute=30, second=0, microsecond=0)
    plan = [("idcard", "read"), ("camera", "face_compare"), ("receipt_printer", "print"), ("signature_pad",
            "get_signature"), ("a4_printer", "print")]
    for hour in range(24):
        t = day - timedelta(days=1) + timedelta(hours=hour)
        for i in range(1 + (6 if 9 <= hour <= 11 or 14 <= hour <= 16 else 0)):
            mod, op = plan[(hour + i) % len(plan)]
            audit.record(time=t.astimezone(UTC).isoformat(timespec="milliseconds"), module=mod, operation=op,
                         request_id=uuid.uuid4().hex, code="success" if i % 5 else "timeOut", duration_ms=120.0,
                         caller="test:kiosk", app="kiosk")
    for back in (3, 10, 40, 100):
        t = now - timedelta(days=back)
        audit.record(time=t.astimezone(UTC).isoformat(timespec="milliseconds"), module="idcard", operation="read",
                     request_id=uuid.uuid4().hex, code="success", duration_ms=90.0, caller="test:kiosk", app="kiosk")
    audit.flush()
    return svc


def test_summary(scripted_day: DemoService) -> None:
    svc = scripted_day
    env = svc.request("GET", "/v1/ops/summary?days=366")
    assert env["code"] == "success", env
    d = env["data"]
    assert sum(d["hourly"]) >= 24 + 36 and all(n > 0 for n in d["hourly"])  # every hour of yesterday
    assert max(d["hourly"]) == d["hourly"][10] or d["hourly"][10] >= 7  # the morning peak
    per = d["operationsPerModule"]
    assert per["idcard"]["operations"] >= 5 and per["receipt_printer"]["failures"] >= 1
    assert abs(sum(s["share"] for s in d["share"]) - 1.0) < 0.01
    assert sum(x["count"] for x in d["daily"]) > 0 and len(d["daily"]) == 31
    assert len(d["monthly"]) == 12 and sum(1 for m in d["monthly"] if m["count"]) >= 3
    faults = d["faults"]
    idc = [f for f in faults if f["module"] == "idcard" and f["level"] == 1]
    assert idc and idc[0]["recoverySeconds"] is not None and idc[0]["recoverySeconds"] > 0
    paper = [f for f in faults if f["kind"] == "receiptPaper"]
    assert paper and paper[0]["level"] == 2 and not paper[0]["open"]
    assert {"name": "receiptPaper", "module": "receipt_printer", "state": "ok"} in d["consumables"]
    av = d["availability"]
    assert av["target"] == 0.995 and 0 < av["modules"]["idcard"] < 1
    mods = {m["module"]: m for m in d["modules"]}
    assert mods["receipt_printer"]["lastError"] == "noMedia"
    # 10.2.2: the maintenance scope only
    assert svc.request("GET", "/v1/ops/summary", token=svc.app_token)["code"] == "forbidden"
    assert svc.request("GET", "/v1/ops/summary?format=xml")["code"] == "invalidData"


def test_summary_csv(scripted_day: DemoService) -> None:
    status, headers, body = scripted_day.request("GET", "/v1/ops/summary?format=csv&table=hourly", raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["hour", "count"] and len(rows) == 25 and all(int(r[1]) > 0 for r in rows[1:])
    status, _, body = scripted_day.request("GET", "/v1/ops/summary?format=csv", raw=True)
    text = body.decode("utf-8-sig")
    for section in ("modules", "hourly", "share", "daily", "monthly", "faults", "consumables"):
        assert f"# {section}" in text


def test_metrics(scripted_day: DemoService) -> None:
    svc = scripted_day
    status, headers, body = svc.request("GET", "/metrics", raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'gtsdk_module_state{module="idcard",state="online"} 1' in text
    assert 'gtsdk_operations_total{module="receipt_printer",operation="print",code="noMedia"} 1' in text
    assert 'gtsdk_operation_duration_seconds_count{module="idcard",operation="read"}' in text
    assert "gtsdk_event_seq " in text and "# TYPE gtsdk_operations_total counter" in text
    for line in text.splitlines():  # exposition format: comments or `name{labels} value`
        assert line.startswith("#") or float(line.rsplit(" ", 1)[1]) >= 0
    status, _, _ = svc.request("GET", "/metrics", token="not-a-token", raw=True)
    assert status == 401
    status, _, _ = svc.request("GET", "/metrics", token=svc.app_token, raw=True)
    assert status == 401  # an app token may not scrape


def test_metrics_scrape_token(sim_service: Any, tmp_path: Path) -> None:
    """``[service] metrics_token_sha256``: a Prometheus server scrapes with its own token, nothing else."""
    import httpx

    from gtsdk.server.app import ServiceApp
    from gtsdk.server.config import parse_service

    secret = "scrape-" + uuid.uuid4().hex
    cfg = parse_service({"metrics_token_sha256": hashlib.sha256(secret.encode()).hexdigest()})
    app = ServiceApp(sim_service.terminal, cfg, tmp_path)

    async def probe() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1") as c:
            return [(await c.get(path, headers={"Authorization": f"Bearer {tok}"})).status_code for path, tok in (
                ("/metrics", secret), ("/metrics", "wrong"), ("/v1/ops/summary", secret), ("/demo/", secret))]

    try:
        ok, wrong, summary, demo = asyncio.run(probe())
    finally:
        app.pages.close()  # type: ignore[attr-defined]
    assert (ok, wrong, summary) == (200, 401, 401)
    assert demo in (401, 404)  # the pages are off unless demo = true


def test_consumable_states() -> None:
    assert consumable_states("receipt_printer", {"paper": "nearEnd"}) == {"receiptPaper": "low"}
    assert consumable_states("a4_printer", {"reasons": ["media-empty-error"], "warnings": ["toner-low"]}) == {
        "a4Paper": "empty", "toner": "low"}
    assert consumable_states("camera", {"paper": "out"}) == {}


def test_dashboard(page: Any, scripted_day: DemoService, artifacts: Path) -> None:
    svc = scripted_day
    page.goto(f"{svc.url}/ops/#token={svc.maintenance_token}")
    page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    assert "token" not in page.url  # the token leaves the address bar
    for chart, mark in (("modules", "rect.bar"), ("hourly", "circle.point"), ("share", "path.slice"),
                        ("availability", "rect.bar"), ("daily", "rect.bar"), ("monthly", "rect.bar")):
        values = page.eval_on_selector_all(f"#chart-{chart} {mark}", "els => els.map(e => +e.dataset.value)")
        assert values and any(v > 0 for v in values), chart
    assert page.locator("#chart-availability line.target").count() == 1
    assert page.locator("#faults tr.level-1").count() >= 1 and page.locator("#faults tr.level-2").count() >= 1
    assert "凭条纸" in page.inner_text("#consumables")
    assert page.locator("#modules tbody tr").count() == 14
    page.screenshot(path=str(artifacts / "ops-dashboard.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#btn-csv")
    assert "# hourly" in Path(dl.value.path()).read_text(encoding="utf-8-sig")
    with page.expect_download() as dl:
        page.click("#btn-json")
    assert '"hourly"' in Path(dl.value.path()).read_text(encoding="utf-8")
    labelled = page.evaluate("""() => [...document.querySelectorAll('button, input, select')].every(e =>
        (e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))""")
    assert labelled
    ids = page.evaluate("() => [...document.querySelectorAll('button, input, select')].map(e => e.id || e.textContent)")
    reached = set()
    page.focus("body")
    for _ in range(len(ids) + 2):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.id || document.activeElement.textContent"))
    assert set(ids) <= reached, set(ids) - reached
    assert page.js_errors == []


def test_fault_levels() -> None:
    """10.2.2 b: level 1 down, 2 partly failing, 3 minor; recovery time from the status events."""
    from types import SimpleNamespace

    from gtsdk.runtime.events import EventBus
    from gtsdk.server.pages import OpsTracker

    bus = EventBus()
    dev = SimpleNamespace(disabled_reason=None, state=SimpleNamespace(value="online"), reason="", since=None)
    app = SimpleNamespace(terminal=SimpleNamespace(devices={"receipt_printer": dev}, events=bus))
    tr = OpsTracker(app)  # type: ignore[arg-type]
    bus.publish("receipt_printer", "statusChanged", {"state": "hardwareError", "previous": "online", "reason": "cover"})
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "nearEnd"})
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "out"})
    bus.publish("receipt_printer", "statusChanged", {"state": "online", "previous": "hardwareError", "reason": ""})
    faults = [f.as_dict(datetime.now(UTC)) for f in tr.faults]
    assert [(f["kind"], f["level"], f["open"]) for f in faults] == [
        ("state", 1, False), ("receiptPaper", 3, False), ("receiptPaper", 2, True)]
    assert faults[0]["recoverySeconds"] is not None and faults[0]["recoverySeconds"] >= 0
    assert tr.consumables == {"receiptPaper": ("receipt_printer", "empty")}
    bus.publish("receipt_printer", "printerStatusChanged", {"paper": "ok"})
    assert all(f.end is not None for f in tr.faults)
    tr.unsubscribe()
