"""The JavaScript client /sdk/gtsdk.js in headless Chromium against a running service: operations, errors,
abort → cancel, events with a forced reconnect that resumes from the last seq.  The kiosk page is served
from its own origin, so every call goes through the service's CORS checks."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from _server_fixtures import FakeIdCard, Svc, start_service

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic",
         "--ignore-certificate-errors"]  # tests only: the kiosk trusts the local CA via `gtsdk ca install`

SCRIPT = """
async ([base, token, maintToken]) => {
  const { Gtsdk, GtsdkError } = await import(base + "/sdk/gtsdk.js");
  const out = {};
  const sdk = new Gtsdk({ baseUrl: base, token });
  const services = await sdk.services();
  out.modules = services.modules.map((m) => m.module);
  out.on = await sdk.call("lights", "on", { light: "hall" });
  out.proxy = await sdk.modules.lights.off({ light: "hall" });
  try { await sdk.call("lights", "flash", { light: "hall", colour: "red" }); }
  catch (e) { out.invalid = { isError: e instanceof GtsdkError, code: e.code, field: e.field, status: e.status }; }
  try { await new Gtsdk({ baseUrl: base, token: "gts_nope_x", lang: "en" }).services(); }
  catch (e) { out.unauth = { code: e.code, message: e.serverMessage }; }
  try { await new Gtsdk({ baseUrl: base, token: maintToken }).call("lights", "on", { light: "a" }); }
  catch (e) { out.scope = e.code; }

  // abort -> the operation is cancelled on the device
  await sdk.call("idcard", "open");
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 300);
  try { await sdk.call("idcard", "read", {}, { signal: ctl.signal }); out.abort = "resolved"; }
  catch (e) { out.abort = e.code; }
  for (let i = 0; i < 50; i++) {
    const st = await sdk.status("idcard");
    if (!st.busy) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  out.canceledCount = ((await sdk.statistics("idcard")).byError || {}).canceled || 0;

  // events, then a dropped socket, an event while it is down, and resume
  const events = [];
  const states = [];
  let opened;
  const firstOpen = new Promise((r) => { opened = r; });
  const sub = sdk.events({ modules: ["lights"], onEvent: (e) => events.push(e),
                           onState: (s) => { states.push(s); if (s === "open") opened(); } });
  await firstOpen;
  await sdk.call("lights", "on", { light: "a" });
  const waitFor = async (n) => {
    for (let i = 0; i < 100 && events.length < n; i++) await new Promise((r) => setTimeout(r, 50));
  };
  await waitFor(1);
  sub.reconnect();
  await sdk.call("lights", "flash", { light: "a" });   // happens while the socket is down
  await sdk.call("lights", "off", { light: "a" });
  await waitFor(3);
  sub.close();
  out.events = events.map((e) => ({ seq: e.seq, module: e.module, event: e.event, state: e.data.state }));
  out.states = states;
  return out;
}
"""


@pytest.fixture
def page_origin() -> Iterator[str]:
    """A kiosk page on its own origin (http://127.0.0.1:<port>)."""
    root = Path(__file__).parent
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def js_svc(tmp_path: Path, page_origin: str) -> Iterator[Svc]:
    s = start_service(tmp_path / "home", {"origins": [page_origin]})
    try:
        yield s
    finally:
        s.running.stop()
        s.terminal.stop()


@pytest.mark.peer
def test_js_client_in_headless_chromium(js_svc: Svc, page_origin: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    FakeIdCard.behaviour = {"sleep": 30}
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_origin + "/does-not-matter.html")
            out: dict[str, Any] = page.evaluate(SCRIPT, [js_svc.url, js_svc.app_token, js_svc.maint_token])
        finally:
            browser.close()
    assert not errors
    assert len(out["modules"]) == 14 and out["modules"][0] == "idcard"
    assert out["on"] == {"states": {"hall": "on"}} and out["proxy"] == {"states": {"hall": "off"}}
    assert out["invalid"] == {"isError": True, "code": "invalidData", "field": "colour", "status": 400}
    assert out["unauth"]["code"] == "unauthorized" and out["unauth"]["message"].startswith("Unauthorized")
    assert out["scope"] == "forbidden"
    assert out["abort"] == "canceled" and out["canceledCount"] == 1
    seqs = [e["seq"] for e in out["events"]]
    assert [e["state"] for e in out["events"]] == ["on", "flash", "off"], out
    assert seqs == sorted(set(seqs))
    assert out["states"][0] == "open" and "reconnecting" in out["states"] and out["states"].count("open") >= 2
