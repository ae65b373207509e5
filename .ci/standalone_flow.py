"""The kiosk flow against a running ``gtsdk serve --simulate --demo`` (called by .ci/standalone.sh).

1. every one of the 14 modules comes online;
2. the README's quick-start commands run as written (only the URL, the gtsdk home and the gtsdk command are
   put in) and every reply is a success — the ID card read included;
3. the camera: capture, liveness and comparison with the simulated card holder's photo succeed;
4. the demo page drives the whole flow in headless Chromium: ID card, liveness and comparison, signature,
   fingerprint, receipt printed.

Only codes and scores are printed (the simulated person's data stays out of the CI log).
Standard library + Playwright (Debian's chromium, never a downloaded browser).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MODULES = 14
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-quic"]


class Api:
    def __init__(self, url: str, home: Path, app: str, maintenance: str) -> None:
        self.url, self.home, self.app, self.maintenance = url, home, app, maintenance

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, maint: bool = False,
             timeout: float = 90) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.maintenance if maint else self.app}",
            **({"Content-Type": "application/json"} if data is not None else {})})
        ctx = ssl.create_default_context(cafile=str(self.home / "ca.pem"))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
                out: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as e:
            out = json.loads(e.read())
        return out

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        env = self.call(method, path, body, **kw)
        if env.get("code") != "success":
            raise SystemExit(f"{method} {path}: {env.get('code')} {env.get('message', '')}")
        data: dict[str, Any] = env.get("data") or {}
        return data

    def sim(self, module: str, action: str, **params: Any) -> dict[str, Any]:
        return self.ok("POST", f"/v1/sim/{module}", {"action": action, "params": params}, maint=True)

    def wait_busy(self, module: str, limit: float = 60) -> None:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.ok("GET", f"/v1/{module}/status").get("busy"):
                return
            time.sleep(0.1)
        raise SystemExit(f"{module} never started waiting for the user")


def step(text: str) -> None:
    print(f"  - {text}", flush=True)


def wait_online(api: Api, pid: int, limit: float) -> None:
    end = time.monotonic() + limit
    states: dict[str, str] = {}
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise SystemExit("the service exited") from None
        try:
            mods = api.ok("GET", "/v1/services")["modules"]
            states = {m["module"]: m["state"] for m in mods}
            if len(states) == MODULES and set(states.values()) == {"online"}:
                step(f"all {MODULES} modules online")
                return
        except (OSError, SystemExit):
            pass  # not listening yet
        time.sleep(1)
    raise SystemExit(f"modules not online within {limit:.0f} s: "
                     f"{ {m: s for m, s in states.items() if s != 'online'} or 'service not answering'}")


def readme_commands(readme: Path, url: str, home: Path, gtsdk: str) -> str:
    """The README's quick-start shell block (the one that makes a token), with this run's places put in."""
    blocks = re.findall(r"```sh\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    block = next((b for b in blocks if "gtsdk token" in b and "/v1/idcard/read" in b), None)
    if block is None:
        raise SystemExit("README: no quick-start block with a token and /v1/idcard/read")
    return (block.replace("https://127.0.0.1:8801", url).replace("~/.local/share/gtsdk", str(home))
            .replace(".venv/bin/gtsdk", gtsdk))


def run_readme(args: argparse.Namespace) -> None:
    script = readme_commands(Path(args.readme), args.url, Path(args.home), args.gtsdk)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                       cwd=Path(args.readme).parent)
    if r.returncode != 0:
        raise SystemExit(f"README commands failed ({r.returncode}): {r.stderr[-800:]}")
    dec, text, pos, replies = json.JSONDecoder(), r.stdout, 0, []
    while True:
        m = re.compile(r"\{").search(text, pos)
        if m is None:
            break
        obj, pos = dec.raw_decode(text, m.start())
        replies.append(obj)
    codes = [o.get("code") for o in replies]
    if not replies or set(codes) != {"success"}:
        raise SystemExit(f"README commands: replies {codes}")
    if not replies[-1].get("data", {}).get("idNumber"):
        raise SystemExit("README commands: the last reply is not an ID card read")
    step(f"README quick start: {len(replies)} replies, all success (the ID card read included)")


def camera(api: Api) -> None:
    api.ok("POST", "/v1/camera/init", {})
    cap = api.ok("POST", "/v1/camera/capture", {"format": "jpeg"})
    live = api.ok("POST", "/v1/camera/liveness", {})
    card = api.ok("GET", "/v1/demo/card-photo")
    cmp = api.ok("POST", "/v1/camera/face_compare", {"reference": card["image"]})
    checks = ", ".join(f"{c['name']} {c['score']:.2f}" for c in live["checks"])
    step(f"camera: capture {cap['width']}x{cap['height']}; liveness {live['score']:.2f} ({checks}); "
         f"compare distance {cmp['distance']:.3f} (threshold {cmp['threshold']})")
    if not live["suggestedLive"] or not cmp["suggestedMatch"]:
        raise SystemExit("camera: the simulated person is not live or does not match the card photo")


def demo(api: Api) -> None:
    from playwright.sync_api import sync_playwright

    api.sim("idcard", "remove")
    time.sleep(1.0)  # the reader driver notices the card leave before it reads one again
    api.sim("idcard", "insert", card="resident")
    api.sim("receipt_printer", "load_paper")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1080, "height": 1600},
                                      locale="zh-CN")
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{api.url}/demo/")
            page.wait_for_selector(".service")
            page.click("[data-service=social]")
            page.wait_for_selector("#scores", timeout=90_000)  # card read, liveness and comparison done
            row = page.inner_text("#row-compare")
            if "通过" not in row or "未通过" in row:
                raise SystemExit(f"demo: face comparison did not pass: {row!r}")
            step("demo: ID card read, liveness and comparison passed")
            page.wait_for_selector("text=请在签字板上签名", timeout=60_000)
            api.wait_busy("signature_pad")
            api.sim("signature_pad", "sign", what="张三", then="ok")
            page.wait_for_selector("#btn-finger", timeout=30_000)
            page.click("#btn-finger")
            api.wait_busy("fingerprint")
            api.sim("fingerprint", "place_finger", person="zhangsan")
            page.wait_for_selector("#printed", timeout=60_000)
            step("demo: signed, fingerprint taken, receipt printed and cut")
            if errors:
                raise SystemExit(f"demo: JavaScript errors: {errors}")
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--gtsdk", required=True, help="the clone's gtsdk command")
    ap.add_argument("--service-pid", type=int, required=True)
    ap.add_argument("--start-limit", type=float, default=240.0)
    args = ap.parse_args()
    home = Path(args.home)
    t0 = time.monotonic()
    end = t0 + args.start_limit
    while not (home / "ca.pem").exists():  # the service makes its CA first
        if time.monotonic() > end:
            raise SystemExit("the service made no CA")
        time.sleep(0.5)

    def token(scope: str) -> str:
        return subprocess.run([args.gtsdk, "token", "--scope", scope, "--home", str(home)], capture_output=True,
                              text=True, check=True, timeout=60).stdout.strip()

    api = Api(args.url, home, token("app"), token("maintenance"))
    wait_online(api, args.service_pid, max(10.0, end - time.monotonic()))
    run_readme(args)
    camera(api)
    demo(api)
    print(f"  standalone flow: {time.monotonic() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
