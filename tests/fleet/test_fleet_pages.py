# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Headless Chromium drives /fleet/ against a simulated fleet (real agents → Mosquitto → ingest → database → API):
the distribution map, the rankings, the fault board with its SLA timers, the drill-down with a command sent from
the console, the big-screen mode and an embedded panel; no JavaScript errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _fleet_fixtures import db_url, engine, fleet, postgres, wait_for  # noqa: F401
from sqlalchemy import Engine, func, select

from gtsdk.fleet import httpd
from gtsdk.fleet.api import build_app, find_echarts
from gtsdk.fleet.lab import LocalFleet
from gtsdk.fleet.platform import Platform, PlatformConfig
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.simulate import SimulatedFleet, plan_fleet
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import add_user

pytestmark = [pytest.mark.daemons, pytest.mark.peer]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-quic"]
REPO = Path(__file__).resolve().parents[2]
N = 8


def echarts() -> Path:
    """build/vendor/echarts.min.js, fetched by the set-up (scripts/fetch-echarts.sh: pinned, integrity checked)."""
    found = find_echarts()
    if found is None or not found.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "fetch-echarts.sh")], check=False, timeout=300,
                       capture_output=True)
        found = find_echarts()
    if found is None or not found.exists():
        pytest.fail("Apache ECharts is not fetched: run scripts/fetch-echarts.sh (scripts/setup.sh does)")
    return found


@pytest.fixture
def site(fleet: LocalFleet, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, str, Platform]]:
    js = echarts()
    b = fleet.brokers["province"]
    platform = Platform(PlatformConfig(home=fleet.home.path, db="", broker=b.url, workers=1), engine=engine).start()
    token = add_user(engine, "zj", "province", region="330000")
    configs: list[tuple[Any, Any]] = []
    for p in plan_fleet(N, seed=3):
        configs.append((p, fleet.enrol_terminal(engine, p.terminal_id, p.region, tmp_path / p.terminal_id, "province",
                                                name=p.name, latitude=p.latitude, longitude=p.longitude)))
    sim = SimulatedFleet(configs, speed=1.0, outage_rate=0.0)
    written = sim.backfill(3)
    sim.start()
    cert, key = platform.home.https_files(["127.0.0.1"])
    running = httpd.start_background(build_app(platform, echarts=js), cert, key)

    def ingested() -> bool:
        with engine.connect() as c:
            n = c.execute(select(func.count()).select_from(s.transactions)).scalar_one()
        return all(t.agent is not None and t.agent.outbox_size() == 0 for t in sim.terminals) and n > 0
    wait_for(ingested, timeout=60, what=f"{written} records ingested")
    try:
        yield running.url, token, platform
    finally:
        running.stop()
        sim.stop()
        platform.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1800}, locale="zh-CN")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(url)
    pg.wait_for_selector("body[data-loaded='1']", timeout=30_000)
    return pg, errors


def test_fleet_page(site: tuple[str, str, Platform], browser: Any, artifacts: Path) -> None:
    url, token, platform = site
    pg, errors = open_page(browser, f"{url}/fleet/#token={token}")
    assert pg.locator("#k-terminals").inner_text() == str(N)
    # the map: one point per terminal, drawn by ECharts on a canvas
    assert pg.locator("#chart-map canvas").count() == 1
    assert len(pg.eval_on_selector("#chart-map", "el => JSON.parse(el.dataset.values)")) == N
    assert pg.locator("#terminals tbody tr").count() == N
    # rankings with share
    assert pg.locator("#services tbody tr").count() >= 5
    shares = pg.locator("#services tbody tr td:nth-child(4)").all_inner_texts()
    assert abs(sum(float(x.rstrip(" %")) for x in shares) - 100) < 0.5
    assert pg.locator("#terminal-ranking tbody tr").count() == N
    assert sum(pg.eval_on_selector("#chart-hourly", "el => JSON.parse(el.dataset.values)")) > 0
    # the fault board: an open fault from the platform with a running SLA timer and dispatch buttons
    with platform.engine.begin() as c:
        first = c.execute(select(s.terminals.c.id, s.terminals.c.region).order_by(s.terminals.c.id)).first()
        assert first is not None
        c.execute(s.faults.insert().values(id="board-test-fault", version=1, terminal_id=first.id, region=first.region,
                                           module="idcard", level=1, kind="state", reason="reader gone",
                                           source="terminal", terminal_state="open", opened=now_naive(),
                                           dispatch_state="open", deadline=now_naive() + timedelta(hours=2)))
    pg.click("#btn-refresh")
    row = pg.locator("#faults tbody tr", has_text=first.id).filter(has_text="idcard")
    row.first.wait_for(timeout=10_000)
    pg.wait_for_function("() => [...document.querySelectorAll('#faults .sla')]"
                         ".some(e => e.textContent.includes('剩余'))")
    row.first.locator("button[data-to='acknowledged']").click()
    pg.wait_for_function("() => [...document.querySelectorAll('#faults tbody tr')].some("
                         "r => r.textContent.includes('acknowledged'))", timeout=10_000)
    pg.screenshot(path=str(artifacts / "fleet-overview.png"), full_page=True)
    # drill-down and the command console
    pg.locator("#terminals a.terminal-link", has_text=first.id).click()
    pg.wait_for_selector("#detail:not([hidden])")
    pg.wait_for_function(f"() => document.querySelector('#d-title').textContent.includes('{first.id}')")
    assert pg.locator("#d-chart-usage canvas").count() == 1
    pg.select_option("#cmd-op", "status")
    pg.click("#cmd-form button[type=submit]")
    pg.wait_for_function("() => [...document.querySelectorAll('#d-commands tbody tr')].some("
                         "r => r.textContent.includes('status') && r.textContent.includes('success'))", timeout=20_000)
    pg.screenshot(path=str(artifacts / "fleet-terminal.png"), full_page=True)
    assert not errors, errors


def test_big_screen_and_panel(site: tuple[str, str, Platform], browser: Any) -> None:
    url, token, _ = site
    pg, errors = open_page(browser, f"{url}/fleet/?screen=big#token={token}")
    assert "big" in pg.eval_on_selector("body", "el => el.className")
    assert pg.locator("#login").is_hidden() and pg.locator("#chart-map canvas").count() == 1
    pg2, errors2 = open_page(browser, f"{url}/fleet/?panel=services#token={token}")
    assert pg2.locator("[data-panel='services']").is_visible()
    assert pg2.locator("[data-panel='map']").is_hidden()
    assert not errors and not errors2, errors + errors2


PUSHED = """version = "2026.9"

[[entries]]
code = "330000-SB-0101"
name_zh = "社保参保证明打印"
modules = ["idcard", "a4_printer"]
"""


def test_catalogue_push_and_certification(site: tuple[str, str, Platform], browser: Any, artifacts: Path) -> None:
    """The console pushes a catalogue to a region and follows each terminal's answer; the terminal list and the
    drill-down show the catalogue in force and the newest self-certification (tier, date, signature)."""
    import zlib

    url, token, platform = site
    pg, errors = open_page(browser, f"{url}/fleet/#token={token}")
    pg.fill("#push-text", PUSHED)
    pg.select_option("#push-scope", "region")
    pg.fill("#push-value", "33")
    pg.click("#push-form button[type=submit]")
    pg.wait_for_function(f"() => document.querySelector('#push-title').textContent.includes('success {N}')",
                         timeout=30_000)
    assert pg.locator("#push-results tbody tr").count() == N
    assert pg.locator("#pushes tbody tr").count() == 1
    # a bad catalogue is refused with the entry named, and nothing is sent
    pg.fill("#push-text", PUSHED.replace('"a4_printer"]', '"a4_printer", "teleporter"]'))
    pg.click("#push-form button[type=submit]")
    pg.wait_for_function("() => document.querySelector('#status').textContent.includes('entries[0]')")
    assert pg.locator("#pushes tbody tr").count() == 1
    errors[:] = [e for e in errors if "status of 400" not in e]  # the browser's own note of that refusal
    with platform.engine.begin() as c:
        first = c.execute(select(s.terminals.c.id, s.terminals.c.region).order_by(s.terminals.c.id)).first()
        assert first is not None
        c.execute(s.certifications.insert().values(
            command_id="f" * 32, terminal_id=first.id, region=first.region, tier="gold", passed=True,
            generated=now_naive(), received=now_naive(), verified=True, problem=None, counts={"pass": 56},
            tool="gtsdk test", size=2, report=zlib.compress(b"{}")))

    def all_on_new_catalogue() -> bool:
        with platform.engine.connect() as c:
            return c.execute(select(func.count()).select_from(s.catalogues).where(
                s.catalogues.c.version == "2026.9")).scalar_one() == N
    wait_for(all_on_new_catalogue, timeout=30, what="the catalogue records of the push ingested")
    pg.click("#btn-refresh")
    pg.wait_for_function("() => [...document.querySelectorAll('#terminals tbody tr')].filter("
                         "r => r.textContent.includes('2026.9')).length === " + str(N), timeout=20_000)
    row = pg.locator("#terminals tbody tr", has_text=first.id)
    assert "gold" in row.inner_text() and row.locator(".tier-gold").count() == 1
    pg.screenshot(path=str(artifacts / "fleet-catalogue-push.png"), full_page=True)
    row.locator("a.terminal-link").click()
    pg.wait_for_selector("#detail:not([hidden])")
    pg.wait_for_function("() => document.querySelectorAll('#d-certs tbody tr').length === 1")
    assert "已验证" in pg.locator("#d-certs tbody tr").inner_text()
    assert not errors, errors
