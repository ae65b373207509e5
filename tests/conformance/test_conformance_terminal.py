"""Terminal tier against a real service: a correct terminal earns gold with every check run; an
app token alone leaves tiers incomplete and says what each missing check needs; a terminal
that stalls is failed quickly and the run stays within its budget; the service bound to every
address is caught inside a private network namespace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from _conformance_fixtures import QUICK_SLACK, QUICK_WAIT, Target, failed, harness, not_run  # noqa: F401  (fixture)

from gtsdk.conformance import selftest
from gtsdk.conformance.model import Outcome, Report, Tier
from gtsdk.conformance.terminal_base import QUERY_WAIT, SLACK
from gtsdk.conformance.terminal_tier import certify_terminal, ordered


def kept(rep: Report, artifacts: Path, name: str) -> Report:
    """*rep* also written to artifacts/ (a report holds no personal data): when a run on a loaded machine fails
    once, its reasons and evidence outlive the run's output."""
    (artifacts / f"conformance-terminal-{name}.json").write_text(rep.model_dump_json(indent=1), encoding="utf-8")
    return rep


@pytest.fixture(scope="module")
def clean_run(harness: Target, artifacts: Path) -> tuple[Report, float]:  # noqa: F811
    """One full certification of the correct terminal, and its seconds: the tests that only read a clean
    report share it (a run is ~15 s of the service, the simulators and the suite on the CPU)."""
    t0 = time.monotonic()
    rep = kept(selftest.certify(harness), artifacts, "gold")
    return rep, time.monotonic() - t0


def test_a_correct_terminal_earns_gold_with_every_check_run(clean_run: tuple[Report, float]) -> None:
    rep, took = clean_run
    assert rep.passed, [(r.id, r.module, r.reason) for r in rep.failures()]
    assert not_run(rep) == [], "a simulated terminal with a maintenance token runs every check"
    assert set(rep.environment["modules"]) == {"idcard", "lights", "keyboard"}
    assert rep.tier_reached == Tier.GOLD and rep.tiers == {"bronze": "complete", "silver": "complete",
                                                            "gold": "complete"}
    ran = {r.id for r in rep.results if r.outcome == Outcome.PASS}
    assert {c.id for c in ordered().checks} == ran | {r.id for r in rep.results
                                                      if r.outcome == Outcome.NOT_APPLICABLE}
    # notApplicable only where the contract says so: no timeout check for lights, no unplug for the keyboard
    na = {(r.id, r.module) for r in rep.results if r.outcome == Outcome.NOT_APPLICABLE}
    assert ("module.timeout", "lights") in na and ("module.status_truth", "keyboard") in na
    assert ("module.timeout", "idcard") not in na
    slow = ", ".join(f"{s['check']}[{s['module']}] {s['seconds']}s" for s in rep.summary["slowest"][:5])
    print(f"\nclean terminal: {len(rep.results)} checks in {took:.1f} s; slowest: {slow}")


def test_an_app_token_alone_leaves_tiers_incomplete_naming_each_missing_check(harness: Target,  # noqa: F811
                                                                             artifacts: Path) -> None:
    rep = kept(certify_terminal(harness.url, harness.token, ca=harness.ca, origin=harness.origin), artifacts,
               "app-token")
    assert rep.passed, [(r.id, r.module, r.reason) for r in rep.failures()]
    missing = {(m.check, m.module) for m in rep.incomplete}
    assert ("module.operations", "idcard") in missing  # a card must be presented
    assert ("module.status_truth", "idcard") in missing and ("module.status_truth", "lights") in missing
    assert ("audit.personal_data", None) in missing
    assert all("maintenance token" in m.needs or "--interactive" in m.needs for m in rep.incomplete)
    assert rep.tier_reached is None and rep.tiers["bronze"] == "incomplete"
    assert ("module.operations", "lights") not in missing  # no person needed: it ran


def test_an_operator_with_interactive_stands_in_for_the_simulator(harness: Target) -> None:  # noqa: F811
    """No maintenance token: the questions go to a person (here a stand-in working the simulator)."""
    import ssl

    import httpx

    asked: list[str] = []
    rig = httpx.Client(base_url=harness.url, verify=ssl.create_default_context(cafile=str(harness.ca)),
                       headers={"Authorization": f"Bearer {harness.maintenance}"}, timeout=20)

    def act(module: str, action: str) -> None:
        rig.post(f"/v1/sim/{module}", json={"action": action, "params": {}})

    def operator(question: str) -> bool:
        asked.append(question)
        module = "lights" if "lights" in question else "idcard"
        if question.startswith("Place an ID card"):
            act("idcard", "remove")
            time.sleep(0.7)  # the reader notices the card has gone
            act("idcard", "insert")
        elif question.startswith("Make sure nothing"):
            act(module, "remove")
        elif question.startswith("Unplug"):
            act(module, "unplug")
        elif question.startswith("Plug"):
            act(module, "replug")
        return True

    try:
        rep = certify_terminal(harness.url, harness.token, ca=harness.ca, origin=harness.origin, interactive=True,
                               ask=operator, only=["module.operations", "module.timeout", "module.status_truth"])
    finally:
        rig.close()
    assert rep.passed, [(r.id, r.module, r.reason) for r in rep.failures()]
    assert not_run(rep) == []
    assert any(q.startswith("Place an ID card") for q in asked) and any(q.startswith("Unplug") for q in asked)
    worlds = next(r for r in rep.results if r.id == "module.operations" and r.module == "idcard").evidence
    assert worlds["operations"]["read"]["world"] == "operator"


def test_only_selects_a_check_or_a_group_and_nothing_more(harness: Target) -> None:  # noqa: F811
    rep = selftest.certify(harness, ["module.status"])
    assert {r.id for r in rep.results} == {"module.status"}
    rep = selftest.certify(harness, ["service"])
    assert {r.id for r in rep.results} == {c.id for c in ordered().checks if c.id.startswith("service.")}


def test_the_report_carries_the_cited_clause_text_and_no_personal_data(clean_run: tuple[Report, float]) -> None:
    rep, _ = clean_run
    r = next(r for r in rep.results if r.id == "module.timeout" and r.module == "idcard")
    assert "接口超时" in r.clause_text["6.4.4 c"]
    text = rep.model_dump_json()
    assert selftest.HOLDER_NAME not in text and selftest.HOLDER_ID[:17] not in text
    ops = next(r for r in rep.results if r.id == "module.operations" and r.module == "idcard").evidence
    assert ops["operations"]["read"]["evidence"]["fields"]  # the read's fields are named, its values are not


@pytest.mark.slow
def test_a_stalling_terminal_fails_fast_and_the_whole_run_stays_within_three_minutes(harness: Target) -> None:  # noqa: F811
    """Every operation answers never.  The run uses short bounds (QUICK_WAIT, QUICK_SLACK), so each stall is
    seen ending at its bound quickly; with the defaults (QUERY_WAIT, SLACK) the same stalls cost what the
    arithmetic below gives, and that is what must stay within three minutes.  (The module's terminal: a stall
    never reaches the service behind the switch, and the tests before this one are done with it.)"""
    harness.switch.mutation = selftest.stall(selftest._is_op)  # every operation answers never
    try:
        t0 = time.monotonic()
        rep = selftest.certify(harness, query_wait=QUICK_WAIT, slack=QUICK_SLACK)
        took = time.monotonic() - t0
    finally:
        harness.switch.mutation = None
        selftest.settle(harness)
    assert "no reply within" in failed(rep, "module.operations")
    assert rep.tier_reached is None
    # the requests that waited for nothing: each ended at its bound, once per module (later ones not attempted)
    waited = [(r, re.search(r"no reply within ([\d.]+) s( \(the operation's timeout)?", r.reason))
              for r in rep.results if r.outcome == Outcome.FAIL and not r.reason.startswith("not attempted")]
    stalls = [(r, m) for r, m in waited if m is not None]
    assert 1 <= len(stalls) <= len(rep.environment["modules"]) + 1, [r.reason for r, _ in stalls]
    at_defaults = took
    for r, m in stalls:
        bound = float(m.group(1))
        assert r.duration_ms / 1000 < bound + 5, f"{r.id} waited {r.duration_ms / 1000:.1f} s past {bound:g} s"
        default = bound - QUICK_SLACK + SLACK if m.group(2) else QUERY_WAIT
        assert default < 60, "no single check waits long on a stalled terminal"
        at_defaults += default - r.duration_ms / 1000
    assert at_defaults <= 180, f"a stalling terminal would take {at_defaults:.0f} s with the default bounds"
    print(f"\nstalling terminal: {len(rep.results)} checks in {took:.1f} s ({len(stalls)} stalls); "
          f"{at_defaults:.0f} s with the default bounds")


NETNS_SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    from gtsdk.conformance import selftest
    from gtsdk.conformance.terminal_tier import certify_terminal
    out = {}
    for label, listen in (("loopback", ["127.0.0.1"]), ("all", ["0.0.0.0"])):
        t = selftest.start(Path(tempfile.mkdtemp()), service={"listen": listen, "allow_remote": label == "all"})
        try:
            rep = certify_terminal(t.url, t.token, ca=t.ca, only=["security.loopback_only"])
            out[label] = [(r.outcome.value, r.reason) for r in rep.results]
        finally:
            t.stop()
    print(json.dumps(out))
""")


def test_service_bound_to_all_addresses_is_caught_inside_a_network_namespace(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a private network namespace")
    ns = f"gtsdk-conf-{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        script = tmp_path / "netns_check.py"
        script.write_text(NETNS_SCRIPT, encoding="utf-8")
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(script)], capture_output=True,
                           text=True, timeout=120, env={**os.environ})
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["loopback"][0][0] == "pass", out
        assert out["all"][0][0] == "fail" and "0.0.0.0" in out["all"][0][1], out
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
