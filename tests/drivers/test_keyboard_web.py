"""Soft keyboard (8.4 n): the web driver's events drive the reference component /sdk/keyboard.js in
headless Chromium (Debian's chromium through Playwright): it shows and hides when the API says so, with
the asked layout, large keys for elderly users (7.2 a), and typed keys arrive in the focused field."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _media_fixtures import Recorder

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.runtime import Terminal
from gtsdk.simulated import simulated_terminal

STATIC = Path(__file__).resolve().parents[2] / "gtsdk" / "server" / "static"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>kiosk</title>
<script src="/sdk/keyboard.js"></script></head><body>
<label>身份证号 <input id="idno" maxlength="18"></label>
<label>手机 <input id="phone" type="tel"></label>
<label>姓名 <input id="name"></label>
<div id="log"></div>
<script>document.addEventListener("gtsdk-keyboard", e => {
  document.getElementById("log").textContent += e.detail.action + ";"; });</script>
</body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    (root / "sdk").mkdir()
    shutil.copy(STATIC / "keyboard.js", root / "sdk" / "keyboard.js")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/index.html"
    srv.shutdown()
    srv.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def kiosk(browser: Any, site: str, tmp_path: Path) -> Iterator[tuple[Terminal, Any]]:
    """The terminal's keyboard events forwarded to the page, as the service's event stream would."""
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    page.goto(site)
    t = simulated_terminal(tmp_path, modules=["keyboard"])
    pending: list[dict[str, Any]] = []
    t.events.subscribe(lambda e: pending.append({"module": e.module, "event": e.type, "data": e.data}), ["keyboard"])

    def pump() -> None:
        while pending:
            page.evaluate("e => GtsdkKeyboard.handleEvent(e)", pending.pop(0))

    page.pump = pump
    with t:
        yield t, page
    page.close()


def _visible(page: Any) -> bool:
    return bool(page.evaluate("GtsdkKeyboard.state().visible"))


def _key(page: Any, k: str) -> None:
    page.locator(f"gtsdk-keyboard button[data-k='{k}']").click()


def test_show_id_number_and_type(kiosk: tuple[Terminal, Any]) -> None:
    t, page = kiosk
    rec = Recorder(t, "keyboard")
    assert not _visible(page)
    st = t.keyboard.show(layout="idNumber", field="idno")
    assert st.visible and st.layout == "idNumber"
    page.pump()
    assert _visible(page) and page.locator("gtsdk-keyboard").is_visible()
    assert page.evaluate("document.activeElement.id") == "idno"
    for k in "11010519491231002X":
        _key(page, k)
    assert page.input_value("#idno") == "11010519491231002X"
    _key(page, "\u232b")
    assert page.input_value("#idno") == "11010519491231002"
    assert page.evaluate("document.activeElement.id") == "idno"  # the field kept its focus throughout
    # idNumber has only digits and X
    assert page.locator("gtsdk-keyboard button[data-k='a']").count() == 0
    assert rec.of("keyboardShown") == [{"visible": True, "layout": "idNumber", "field": "idno", "large": False}]
    t.keyboard.hide()
    page.pump()
    assert not _visible(page) and not page.locator("gtsdk-keyboard").is_visible()
    assert rec.of("keyboardHidden") == [{"visible": False, "field": "idno"}]
    assert page.text_content("#log").startswith("shown;")


def test_keys_go_to_the_focused_field(kiosk: tuple[Terminal, Any]) -> None:
    t, page = kiosk
    page.focus("#phone")
    t.keyboard.show(layout="phone")
    page.pump()
    for k in "13800138000":
        _key(page, k)
    assert page.input_value("#phone") == "13800138000" and page.input_value("#idno") == ""
    page.evaluate("document.getElementById('phone').setSelectionRange(3, 3)")  # caret in the middle
    _key(page, "9")
    assert page.input_value("#phone") == "138900138000"
    _key(page, "done")
    assert not _visible(page)


def test_full_and_large_layouts(kiosk: tuple[Terminal, Any]) -> None:
    t, page = kiosk
    t.keyboard.show(layout="full", field="name")
    page.pump()
    small = page.locator("gtsdk-keyboard button[data-k='q']").bounding_box()
    for k in ["\u21e7", "w", "a", "n", "g", " ", "l", "i"]:
        _key(page, k)
    assert page.input_value("#name") == "Wang li"
    t.keyboard.show(layout="numeric", field="idno", large=True)
    page.pump()
    big = page.locator("gtsdk-keyboard button[data-k='5']").bounding_box()
    assert big["height"] >= 80 and small["height"] < 80  # 7.2 a: large keys
    assert page.evaluate("GtsdkKeyboard.state()") == {"visible": True, "layout": "numeric", "field": "idno",
                                                      "large": True}
    st = t.keyboard.show(layout="large", field="name")
    page.pump()
    assert st.large and page.locator("gtsdk-keyboard button[data-k='q']").bounding_box()["height"] >= 80


def test_pinyin_candidates(kiosk: tuple[Terminal, Any]) -> None:
    t, page = kiosk
    t.keyboard.show(layout="pinyin", field="name")
    page.pump()
    for k in "zhang":
        _key(page, k)
    assert page.input_value("#name") == ""  # still composing
    page.locator("gtsdk-keyboard button[data-cand='张']").click()
    for k in "san":
        _key(page, k)
    page.locator("gtsdk-keyboard button[data-cand='三']").click()
    assert page.input_value("#name") == "张三"


def test_other_events_are_ignored(kiosk: tuple[Terminal, Any]) -> None:
    _t, page = kiosk
    assert page.evaluate("GtsdkKeyboard.handleEvent({module: 'voice', event: 'keyboardShown', data: {}})") is False
    assert not _visible(page)
    with pytest.raises(Exception, match="unknown keyboard layout"):
        page.evaluate("GtsdkKeyboard.show({layout: 'klingon'})")
    # connect(sdk) subscribes through the gtsdk.js client's events() for the keyboard module only
    modules = page.evaluate("""() => { let seen = null; GtsdkKeyboard.connect({ events: (o) => {
        seen = o.modules; window._onEvent = o.onEvent; return {}; } }); return seen; }""")
    assert modules == ["keyboard"]
    page.evaluate("window._onEvent({seq: 1, module: 'keyboard', event: 'keyboardShown', data: {layout: 'phone'}})")
    assert page.evaluate("GtsdkKeyboard.state().layout") == "phone" and _visible(page)


@pytest.mark.parametrize("req,code,field", [
    ({"layout": "klingon"}, ErrorCode.INVALID_DATA, "layout"),
    ({"layout": "full", "field": "a b<script>"}, ErrorCode.INVALID_DATA, "field"),
    ({"layout": "full", "field": "x" * 65}, ErrorCode.INVALID_DATA, "field"),
    ({"layout": "numeric", "large": "very"}, ErrorCode.INVALID_DATA, "large"),
])
def test_bad_requests(tmp_path: Path, req: dict[str, Any], code: ErrorCode, field: str) -> None:
    t = simulated_terminal(tmp_path, modules=["keyboard"])
    with t:
        with pytest.raises(GtsdkError) as ei:
            t.keyboard.show(**req)
        assert ei.value.code == code and ei.value.field == field
        assert t.keyboard.status().detail["visible"] is False


def test_layout_not_offered(tmp_path: Path) -> None:
    from _media_fixtures import terminal_for

    t = terminal_for("keyboard", "web", {"layouts": ["numeric", "idNumber"]})
    with t:
        with pytest.raises(GtsdkError) as ei:
            t.keyboard.show(layout="pinyin")
        assert ei.value.code == ErrorCode.UNSUPPORTED_DATA
        assert t.keyboard.capabilities().features["layouts"] == ["numeric", "idNumber"]
