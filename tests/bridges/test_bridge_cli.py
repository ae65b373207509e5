"""`gtsdk bridge test`: each step and the mapped result, personal data masked; a broken mapping names its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _bridge_fixtures import NATIVE_MAPPING, native_sim  # noqa: F401
from click.testing import CliRunner

from gtsdk.cli import main


def test_dry_run_prints_steps_and_a_masked_result(native_sim: Any) -> None:  # noqa: F811
    p = native_sim.settings["params"]
    r = CliRunner().invoke(main, ["bridge", "test", str(NATIVE_MAPPING), "--param", f"library={p['library']}",
                                  "--param", f"state={p['state']}"])
    assert r.exit_code == 0, r.output
    for line in ("InitComm → 1 (ok)", "Authenticate → 1 (ok)", "Read_Content → 1 (ok)", "file zp.bmp → <",
                 "IdCardData (personal data: masked)", "birth_date: 1990-**-**", "card_type: resident"):
        assert line in r.output, r.output
    card = native_sim.cards["resident"].fields
    assert card["id_number"] not in r.output and card["name"] not in r.output and card["address"] not in r.output
    native_sim.control("remove", {})
    r = CliRunner().invoke(main, ["bridge", "test", str(NATIVE_MAPPING), "--param", f"library={p['library']}",
                                  "--param", f"state={p['state']}", "--timeout", "0.3"])
    assert r.exit_code == 1 and "FAILED timeOut" in r.output


def test_a_broken_mapping_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(NATIVE_MAPPING.read_text(encoding="utf-8").replace("call: Read_Content", "call: ReadContent"),
                   encoding="utf-8")
    r = CliRunner().invoke(main, ["bridge", "test", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}:" in r.output and "operations.read.steps[1].call: no function 'ReadContent'" in r.output
