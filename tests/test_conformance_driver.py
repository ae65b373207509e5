"""Driver tier of the conformance suite: it passes good drivers and catches broken ones;
reports are signed with SM2 and tampering is detected (issue: conformance suite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _runtime_fixtures import RecordingLights, register_all
from click.testing import CliRunner
from pydantic import ConfigDict

from gtsdk.cli import main
from gtsdk.conformance import html, signing
from gtsdk.conformance.driver_tier import certify_driver
from gtsdk.conformance.model import Outcome, Report, Tier
from gtsdk.crypto import SM2PrivateKey
from gtsdk.driver import DriverSettings, OpContext
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules import lights
from gtsdk.runtime import registry

register_all()


def outcome(report: Report, check_id: str) -> Outcome:
    return next(r.outcome for r in report.results if r.id == check_id)


def reason(report: Report, check_id: str) -> str:
    return next(r.reason for r in report.results if r.id == check_id)


class CrashingLights(RecordingLights):
    name = "crashing"

    def flash(self, request: lights.FlashRequest, ctx: OpContext) -> lights.Lights:
        raise KeyError("flash register")


class LaxSettings(DriverSettings):
    model_config = ConfigDict(extra="allow")


class LaxLights(RecordingLights):
    name = "lax"
    settings_model = LaxSettings


class AbsentLights(RecordingLights):
    name = "absent"

    def connect(self) -> None:
        raise GtsdkError(ErrorCode.NO_DEVICE, "nothing on the bus")


class WrongResultLights(RecordingLights):
    name = "wrongresult"

    def off(self, request: lights.LightRequest, ctx: OpContext) -> Any:
        return {"states": {}}


for cls in (CrashingLights, LaxLights, AbsentLights, WrongResultLights):
    registry.register("lights", cls.name, cls)


def test_good_driver_passes_every_check_that_applies() -> None:
    rep = certify_driver("lights.recording")
    assert rep.passed, [(r.id, r.reason) for r in rep.failures()]
    assert outcome(rep, "driver.operations") == Outcome.PASS
    assert outcome(rep, "driver.timeout") == Outcome.NOT_RUN  # lights have no waiting operation
    assert rep.tier_reached == Tier.BRONZE


def test_card_reader_reaches_gold_with_timeout_and_cancel() -> None:
    rep = certify_driver("idcard.cards")
    for c in ("driver.state_machine", "driver.timeout", "driver.cancel"):
        assert outcome(rep, c) == Outcome.PASS, reason(rep, c)
    assert rep.tier_reached == Tier.GOLD, [(r.id, r.reason) for r in rep.failures()]


@pytest.mark.parametrize(("driver", "check", "why"), [
    ("crashing", "driver.operations", "non-catalogue exception"),
    ("lax", "driver.settings", "accepted silently"),
    ("absent", "driver.lifecycle", "did not come online"),
    ("wrongresult", "driver.operations", ""),
])
def test_broken_drivers_are_caught_by_the_check_meant_for_them(driver: str, check: str, why: str) -> None:
    rep = certify_driver(f"lights.{driver}", only=[check])
    assert outcome(rep, check) == Outcome.FAIL
    assert why in reason(rep, check)
    assert not rep.passed and rep.tier_reached is None


def test_report_signature_verifies_and_detects_tampering() -> None:
    rep = certify_driver("lights.recording", only=["driver.load"])
    lab = SM2PrivateKey.generate()
    signing.sign(rep, lab)
    data = json.loads(rep.model_dump_json())
    assert signing.verify(data, lab.public_key()) == (True, "signature valid")
    other = SM2PrivateKey.generate().public_key()
    assert not signing.verify(data, other)[0]
    data["results"][0]["outcome"] = "fail"
    ok, why = signing.verify(data, lab.public_key())
    assert not ok and "modified" in why
    del data["signature"]
    assert signing.verify(data)[0] is False


def test_html_report_is_self_contained_and_shows_every_check() -> None:
    rep = certify_driver("lights.crashing")
    page = html.render(rep)
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    for r in rep.results:
        assert r.id in page
    assert "pass rate per module" in page and "不通过 fail" in page


def test_cli_certify_driver_writes_and_verifies_a_signed_report(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "lab.pem").write_bytes(key.to_pem())
    (tmp_path / "lab.pub.pem").write_bytes(key.public_key().to_pem())
    runner = CliRunner()
    r = runner.invoke(main, ["certify-driver", "lights.recording", "--out", str(tmp_path / "out"),
                             "--sign-key", str(tmp_path / "lab.pem")])
    assert r.exit_code == 0, r.output
    assert "tier reached: bronze" in r.output
    report = tmp_path / "out" / "report.json"
    assert (tmp_path / "out" / "report.html").exists()
    r = runner.invoke(main, ["certify", "verify", str(report), "--pub", str(tmp_path / "lab.pub.pem")])
    assert r.exit_code == 0 and "signature valid" in r.output
    data = json.loads(report.read_text())
    data["target"] = "lights.other"
    report.write_text(json.dumps(data))
    r = runner.invoke(main, ["certify", "verify", str(report), "--pub", str(tmp_path / "lab.pub.pem")])
    assert r.exit_code == 1


def test_cli_certify_driver_exit_code_reflects_failures(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["certify-driver", "lights.crashing", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "FAIL driver.operations" in r.output
