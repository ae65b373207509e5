"""Config errors name the offending key (foundation issue; runtime config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runtime_fixtures import register_all

from gtsdk.errors import ConfigError, ErrorCode
from gtsdk.modules import MODULES
from gtsdk.runtime import Terminal, load_config, parse_config

register_all()


def test_fourteen_modules_in_clause_order() -> None:
    assert list(MODULES) == ["idcard", "travel_doc", "signature_pad", "fingerprint", "camera", "a4_printer",
                             "receipt_printer", "qr_scanner", "microphone", "lights", "sensors", "imaging",
                             "voice", "keyboard"]
    assert [m.clause for m in MODULES.values()] == [f"8.4 {c})" for c in "abcdefghijklmn"]


def test_unknown_module_id_names_the_key() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"modules": {"idcrad": {"driver": "sam_serial"}}})
    assert e.value.key == "modules.idcrad"
    assert "unknown module id" in e.value.detail


def test_missing_driver_names_the_key() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"modules": {"lights": {"port": "/dev/ttyS0"}}})
    assert e.value.key == "modules.lights.driver"


def test_runtime_key_with_wrong_type() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"modules": {"lights": {"driver": "recording", "timeout": "soon"}}})
    assert e.value.key == "modules.lights.timeout"


def test_unknown_top_level_table() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"module": {}})
    assert e.value.key == "module"


def test_unknown_driver_strict_raises_and_lists_installed() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "nope"}}})
    with pytest.raises(ConfigError) as e:
        Terminal(cfg, strict=True)
    assert e.value.key == "modules.lights.driver"
    assert "recording" in e.value.detail


def test_unknown_driver_disables_only_that_module() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "nope"}, "idcard": {"driver": "cards"}}})
    with Terminal(cfg) as t:
        st = t.lights.status()
        assert st.state == "noDevice" and "unknown driver 'nope'" in st.reason
        with pytest.raises(Exception) as e:
            t.lights.on(light="a")
        assert getattr(e.value, "code", None) == ErrorCode.NO_DEVICE
        assert t.device("idcard").driver is not None


def test_bad_driver_setting_names_the_key() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "recording", "channels": "four"}}})
    with pytest.raises(ConfigError) as e:
        Terminal(cfg, strict=True)
    assert e.value.key == "modules.lights.channels"


def test_unknown_driver_setting_names_the_key() -> None:
    cfg = parse_config({"modules": {"lights": {"driver": "recording", "chanels": 4}}})
    with pytest.raises(ConfigError) as e:
        Terminal(cfg, strict=True)
    assert e.value.key == "modules.lights.chanels"


def test_load_config_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "t.toml"
    p.write_text('[terminal]\nid = "T-1"\n[modules.lights]\ndriver = "recording"\ndelay = 0.0\ntimeout = 2\n',
                 encoding="utf-8")
    cfg = load_config(p)
    assert cfg.terminal["id"] == "T-1"
    assert cfg.modules["lights"].timeout == 2.0
    assert cfg.modules["lights"].settings == {"delay": 0.0}


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "t.toml"
    p.write_text("[modules.lights\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_event_history_bounds_the_ring() -> None:
    """``[terminal] event_history`` sets how many events a reconnecting client can catch up on; no more are kept."""
    t = Terminal(parse_config({"terminal": {"event_history": 150}}))
    for i in range(1000):
        t.events.publish("sensors", "alarm", {"i": i})
    kept, complete = t.events.since(0)
    assert [e.seq for e in kept] == list(range(851, 1001))
    assert not complete  # the older 850 are reported as a gap
    assert t.events.since(850) == (kept, True)


@pytest.mark.parametrize("value", [99, 2_000_000, 1.5, "many", True])
def test_bad_event_history_names_the_key(value: object) -> None:
    with pytest.raises(ConfigError) as e:
        Terminal(parse_config({"terminal": {"event_history": value}}))
    assert e.value.key == "terminal.event_history"
