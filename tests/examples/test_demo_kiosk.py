# ruff: noqa: F811  (pytest fixtures imported from _demo_fixtures are parameters here)
"""The kiosk demo page (gtsdk/server/web/demo) in headless Chromium against the simulated terminal: the whole
实名认证 flow, its three error paths (no card, face does not match, paper out), elderly mode (7.2 a–e), the
English interface, and keyboard/label accessibility.  Screenshots go to artifacts/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _demo_fixtures import DemoService, browser, demo_service, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.peer

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces" / "pairs"


def wait_busy(svc: DemoService, module: str, timeout: float = 30.0) -> None:
    """Until *module* runs an operation (the page is waiting for the user)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        env = svc.request("GET", f"/v1/{module}/status")
        if env["data"].get("busy"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{module} never became busy")


def wait_services_available(svc: DemoService, timeout: float = 30.0) -> None:
    """Until the catalogue serves every service on the terminal as available.  A device recovering from the
    test before (paper loaded again after paper-out) is seen by its status a moment later — on a loaded
    machine, after the next page has drawn its tiles disabled, and a disabled button takes no focus."""
    end = time.monotonic() + timeout
    missing: list[str] = []
    while time.monotonic() < end:
        entries = svc.request("GET", "/v1/catalogue")["data"]["entries"]
        missing = [e["code"] for e in entries if e.get("onTerminal", True) and not e["available"]]
        if not missing:
            return
        time.sleep(0.05)
    raise AssertionError(f"services still unavailable after {timeout:.0f} s: {missing}")


@pytest.fixture(autouse=True)
def world(demo_service: DemoService) -> Iterator[None]:
    """Each test starts with a card on the reader, the card holder in front of the camera and paper loaded
    (and the terminal serving every service again)."""
    assert demo_service.running.app.pages.card_photo is not None, "the simulated camera has no person"
    demo_service.present_card()
    demo_service.sim_control("receipt_printer", "load_paper")
    wait_services_available(demo_service)
    yield
    demo_service.sim_control("receipt_printer", "load_paper")


def open_demo(page: Any, svc: DemoService, query: str = "") -> None:
    page.goto(f"{svc.url}/demo/{query}")
    page.wait_for_selector(".service")


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"demo-{name}.png"), full_page=True)


def sign_when_asked(page: Any, svc: DemoService) -> None:
    page.wait_for_selector("text=请在签字板上签名", timeout=60_000)
    wait_busy(svc, "signature_pad")
    svc.sim_control("signature_pad", "sign", what="张三", then="ok")


def test_full_flow(page: Any, demo_service: DemoService, artifacts: Path) -> None:
    svc = demo_service
    open_demo(page, svc)
    assert page.locator("#consult-phone").inner_text() == "12345"  # 7.1.1 e
    assert "投诉渠道" in page.locator("footer").inner_text()
    shot(page, artifacts, "1-home")
    page.click("[data-service=social]")
    page.wait_for_selector("#scores", timeout=60_000)  # card read, liveness and comparison done
    assert "已读取身份证" in page.inner_text("#view")
    assert "******" in page.inner_text(".who")  # the ID number is shown masked
    row = page.inner_text("#row-compare")
    assert "通过" in row and "未通过" not in row
    shot(page, artifacts, "2-face")
    sign_when_asked(page, svc)
    page.wait_for_selector("#btn-finger", timeout=30_000)
    assert page.locator("img.sig").count() == 1
    shot(page, artifacts, "3-signed")
    page.click("#btn-finger")
    wait_busy(svc, "fingerprint")
    svc.sim_control("fingerprint", "place_finger", person="zhangsan")
    page.wait_for_selector("#printed", timeout=30_000)  # receipt printed and cut
    page.click("[data-rating='5']")
    page.focus("#phone")
    page.wait_for_function("() => GtsdkKeyboard.state().visible", timeout=10_000)  # soft keyboard (8.4 n)
    for k in "13800138000":
        page.locator(f"gtsdk-keyboard button[data-k='{k}']").click()
    assert page.input_value("#phone") == "13800138000"
    shot(page, artifacts, "4-rate")
    page.click("#btn-submit")
    page.wait_for_selector("#done")
    txn = page.evaluate("() => gtsdkDemo.state.txn")
    assert txn.startswith("GT") and txn in page.inner_text("#view")
    shot(page, artifacts, "5-done")
    paper = Path(svc.sim_control("receipt_printer", "receipts")["receipts"][-1])  # the simulated paper roll
    transcript = paper.with_suffix(".txt").read_text(encoding="utf-8")
    assert "社保卡补办" in transcript
    assert any("QR" in line and txn in line for line in transcript.splitlines())  # the QR code holds the txn id
    shutil.copy(paper, artifacts / "demo-receipt.png")
    rows = svc.running.app.audit.query(module="receipt_printer")
    assert [r["operation"] for r in rows if r["code"] == "success"][-2:] == ["print", "cut"]
    ops = {(r["module"], r["operation"]) for r in svc.running.app.audit.query(code="success")}
    for need in [("idcard", "read"), ("lights", "flash"), ("voice", "speak"), ("camera", "liveness"),
                 ("camera", "face_compare"), ("signature_pad", "get_signature"), ("fingerprint", "capture"),
                 ("keyboard", "show")]:
        assert need in ops, need
    assert page.js_errors == []


def test_no_card(page: Any, demo_service: DemoService, artifacts: Path) -> None:
    demo_service.sim_control("idcard", "remove")
    open_demo(page, demo_service, "?cardTimeout=1500&voice=0")
    page.click("[data-service=residence]")
    page.wait_for_selector("#error[data-kind=noCard]", timeout=30_000)
    text = page.inner_text("#error")
    assert "没有检测到身份证" in text and "重试" in text and "人工窗口" in text
    shot(page, artifacts, "error-no-card")
    demo_service.sim_control("idcard", "insert", card="resident")  # the user places the card and retries
    page.click("#btn-retry")
    page.wait_for_selector("#scores", timeout=60_000)


def test_face_mismatch(page: Any, demo_service: DemoService, artifacts: Path) -> None:
    other = (SHARED / "img20.jpg").resolve()  # someone else than the card holder (the bundled portrait)
    if not other.exists():
        pytest.skip(f"a second person's photo comes from the face pairs beside the repository ({SHARED}): absent")
    demo_service.sim_control("camera", "person", photo=str(other))
    try:
        open_demo(page, demo_service, "?voice=0")
        page.click("[data-service=social]")
        page.wait_for_selector("#error[data-kind=face]", timeout=60_000)
        text = page.inner_text("#view")
        assert "人脸与身份证照片不一致" in text and "未通过" in page.inner_text("#row-compare")
        shot(page, artifacts, "error-face")
    finally:
        card_holder = demo_service.running.app.pages.card_photo
        demo_service.sim_control("camera", "person", photo=str(card_holder))


def test_elderly_paper_out(page: Any, demo_service: DemoService, artifacts: Path) -> None:
    """Elderly mode: large type, solid background, help button, 5 steps (no fingerprint); paper runs out."""
    svc = demo_service
    open_demo(page, svc, "?elderly=1")
    assert page.evaluate("() => document.body.classList.contains('elderly')")
    assert page.locator(".service").count() == 2
    size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.service')).fontSize)")
    assert size >= 30
    bg = page.evaluate("() => getComputedStyle(document.body).backgroundImage")
    assert bg == "none"  # solid background
    page.click("#btn-help")  # one tap
    assert page.is_visible("#help-panel") and "12345" in page.inner_text("#help-panel")
    shot(page, artifacts, "elderly-help")
    page.click("#btn-help-close")
    shot(page, artifacts, "elderly-home")
    svc.sim_control("receipt_printer", "paper_out")
    page.click("[data-service=social]")
    assert page.locator("#steps li").count() == 5
    sign_when_asked(page, svc)
    page.wait_for_selector("#error[data-kind=paper]", timeout=60_000)
    text = page.inner_text("#error")
    assert "凭条打印机缺纸" in text and "工作人员" in text and "GT" in text
    shot(page, artifacts, "error-paper-out")
    svc.sim_control("receipt_printer", "load_paper")
    page.click("#btn-retry")
    page.wait_for_selector("#printed", timeout=30_000)
    assert page.locator("#phone").count() == 0  # no typing needed in elderly mode


def test_english(page: Any, demo_service: DemoService, artifacts: Path) -> None:
    open_demo(page, demo_service, "?lang=en")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert "Please choose a service" in page.inner_text("#view")
    assert "Consultation phone" in page.inner_text("footer")
    shot(page, artifacts, "english")
    page.click("#btn-lang")
    assert "请选择要办理的业务" in page.inner_text("#view")


def test_keyboard_and_labels(page: Any, demo_service: DemoService) -> None:
    open_demo(page, demo_service, "?voice=0")
    controls = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select')]
        .filter(e => e.offsetParent !== null)
        .map(e => ({id: e.id || e.dataset.service || e.textContent.trim(),
                    name: (e.getAttribute('aria-label') || e.textContent || (e.labels && e.labels[0] &&
                           e.labels[0].textContent) || '').trim()}))""")
    assert controls and all(c["name"] for c in controls), controls
    reached = set()
    for _ in range(len(controls) + 4):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => { const e = document.activeElement; "
                                  "return e.id || e.dataset.service || e.textContent.trim(); }"))
    missing = [c["id"] for c in controls if c["id"] not in reached]
    assert not missing, missing
    demo_service.sim_control("idcard", "remove")
    page.focus("[data-service=tax]")
    page.keyboard.press("Enter")  # a service starts from the keyboard alone
    page.wait_for_selector("#steps li.current")
    wait_busy(demo_service, "idcard")  # waiting for a card
    page.keyboard.press("Tab")  # 返回首页 is the first control of the step
    assert page.evaluate("() => document.activeElement.id") == "btn-home"
    page.keyboard.press("Enter")
    page.wait_for_selector(".service")
    end = time.monotonic() + 10  # going home cancelled the read on the device (gtsdk.js cancel on abort)
    while demo_service.request("GET", "/v1/idcard/status")["data"]["busy"]:
        assert time.monotonic() < end, "read not cancelled"
        time.sleep(0.05)


def test_demo_token_and_origins(demo_service: DemoService) -> None:
    """The page's injected token is a short-lived app token of app ``demo``; only the service's own loopback origin
    is added to the allowed origins (a rebinding Host header does not add a foreign one)."""
    import json
    import re
    import urllib.request
    from datetime import UTC, datetime, timedelta

    from gtsdk.server.tokens import TokenStore

    svc = demo_service
    ctx = svc._ctx()

    def fetch(path: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(svc.url + path, data=body, headers=headers, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    status, html = fetch("/demo/", {"Host": "evil.example"})
    assert status == 200
    m = re.search(rb'name="gtsdk-token" content="([^"]+)"', html)
    assert m and not m.group(1).startswith(b"__")
    token = m.group(1).decode()
    info = TokenStore(svc.home).verify(token)
    assert info is not None and info.scopes == ["app"] and info.app == "demo"
    assert info.expires is not None
    assert datetime.fromisoformat(str(info.expires)) < datetime.now(UTC) + timedelta(hours=9)
    body = json.dumps({"light": "idcard"}).encode()
    call = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert fetch("/v1/lights/off", {**call, "Origin": "https://evil.example"}, body)[0] == 403
    assert fetch("/demo/", {})[0] == 200  # the page as the kiosk browser loads it
    assert fetch("/v1/lights/off", {**call, "Origin": svc.url}, body)[0] == 200
    assert fetch("/v1/lights/off", {**call, "Origin": "https://evil.example"}, body)[0] == 403
    assert fetch("/v1/audit", {"Authorization": f"Bearer {token}"})[0] == 403  # app scope only


def test_voice_switch(page: Any, demo_service: DemoService) -> None:
    """7.2 e: the voice guidance (slow in elderly mode) can be switched off with one button."""
    svc = demo_service
    audit = svc.running.app.audit

    def spoken() -> int:
        return len(audit.query(module="voice", operation="speak", limit=100_000))

    open_demo(page, svc, "?elderly=1")
    assert page.get_attribute("#btn-voice", "aria-pressed") == "true"
    page.click("#btn-voice")
    assert page.get_attribute("#btn-voice", "aria-pressed") == "false"
    before = spoken()
    page.click("[data-service=social]")
    page.wait_for_selector("#scores", timeout=60_000)  # card read and face checked without a word
    assert spoken() == before


def test_tiles_follow_a_pushed_catalogue(page: Any, demo_service: DemoService) -> None:
    """A catalogue the fleet platform pushes (Recorder.replace_catalogue, docs/fleet.md) shows on the home screen
    without a visitor touching it, and the next visitor gets it too."""
    from gtsdk.records import catalogue

    rec = demo_service.running.app.records
    assert rec is not None
    before = rec.catalogue
    pushed = catalogue.parse({"version": "pushed-1", "entries": [
        *catalogue.to_file_data(before)["entries"],
        {"code": "pushed", "name_zh": "新下发事项", "name_en": "Pushed service", "modules": ["idcard"]}]}, "x")
    open_demo(page, demo_service, "?catalogueCheck=500&voice=0")
    assert page.locator("[data-service=pushed]").count() == 0
    try:
        rec.replace_catalogue(pushed)
        page.wait_for_selector("[data-service=pushed]", timeout=10_000)  # idle on the home screen: followed
        assert "新下发事项" in page.inner_text("[data-service=pushed]")
    finally:
        rec.replace_catalogue(before.model_copy(update={"version": "restored"}))
    page.reload()
    page.wait_for_selector(".service")
    assert page.locator("[data-service=pushed]").count() == 0
    assert page.js_errors == []
