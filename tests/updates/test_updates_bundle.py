"""Update bundles (issue #17; 9.1.1.2 a/d): build, sign, verify; every refusal with its code, in order; hostile
archives; the signature checked by OpenSSL as an independent peer; usbguard rules read by usbguard's own parser."""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.cli import main
from gtsdk.crypto import SM2PrivateKey
from gtsdk.errors import GtsdkError
from gtsdk.runtime import parse_config
from gtsdk.updates import bundle, usbguard
from gtsdk.updates import errors as ue
from gtsdk.updates.manifest import Manifest, Targets
from gtsdk.updates.trust import Identity, TrustStore, check, targeted

OPENSSL = shutil.which("openssl")
RULE_PARSER = shutil.which("usbguard-rule-parser")
KEY = SM2PrivateKey.generate()
OTHER = SM2PrivateKey.generate()
WHO = Identity("T-0001", model="GT-K200", region="440305", groups=frozenset({"canary"}))


def _wheel(tmp: Path, name: str = "acme_scanner-1.1-py3-none-any.whl",
           body: bytes = b"PK\x05\x06" + b"\0" * 18) -> Path:
    p = tmp / name
    p.write_bytes(body)
    return p


def _bundle(tmp: Path, *, version: str = "1.1", key: SM2PrivateKey | None = KEY, **fields: object) -> Path:
    out = tmp / f"b-{version}.tar"
    cfg = tmp / "terminal.toml"
    cfg.write_text('[modules.qr_scanner]\ndriver = "acme"\n')
    bundle.build(out, Manifest.model_validate({"name": "gtsdk-terminal", "version": version, **fields}),
                 wheels=[_wheel(tmp)], config=cfg, key=key)
    return out


def _trust(tmp: Path) -> TrustStore:
    t = TrustStore(tmp / "trusted")
    t.add(KEY.public_key())
    return t


def _check(path: Path, trust: TrustStore, current: str | None = "1.0", who: Identity = WHO) -> Manifest:
    return check(bundle.read_signed(path), trust, who, current=current, gtsdk_version="0.1.0")


def test_good_bundle_passes_and_unpacks_byte_identical(tmp_path: Path) -> None:
    p = _bundle(tmp_path, targets={"models": ["GT-K200"], "regions": ["44"]})
    m = _check(p, _trust(tmp_path))
    assert m.version == "1.1" and m.wheels == ["wheels/acme_scanner-1.1-py3-none-any.whl"] and m.has_config
    bundle.unpack(p, m, tmp_path / "out")
    assert (tmp_path / "out/wheels/acme_scanner-1.1-py3-none-any.whl").read_bytes() == _wheel(tmp_path).read_bytes()
    assert (tmp_path / "out/config/terminal.toml").read_text().startswith("[modules.qr_scanner]")


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_signature_verifies_in_openssl(tmp_path: Path) -> None:
    assert OPENSSL is not None
    p = _bundle(tmp_path)
    s = bundle.read_signed(p)
    assert s.signature is not None
    (tmp_path / "m.json").write_bytes(s.manifest_bytes)
    (tmp_path / "s.der").write_bytes(base64.b64decode(s.signature["value"]))
    (tmp_path / "pub.pem").write_bytes(KEY.public_key().to_pem())
    r = subprocess.run([OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                        "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / "m.json"),
                        "-sigfile", str(tmp_path / "s.der")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # the signed manifest carries the SM3 digest OpenSSL computes for the wheel
    d = subprocess.run([OPENSSL, "dgst", "-sm3", "-r", str(_wheel(tmp_path))], capture_output=True, text=True,
                       timeout=30).stdout.split()[0]
    assert s.manifest.files["wheels/acme_scanner-1.1-py3-none-any.whl"].sm3 == d


def test_refusals_in_order(tmp_path: Path) -> None:
    trust = _trust(tmp_path)
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, key=None), trust)
    assert e.value.code == ue.UNSIGNED
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, key=OTHER), trust)
    assert e.value.code == ue.UNTRUSTED_KEY
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, targets={"models": ["OTHER"]}), trust)
    assert e.value.code == ue.NOT_TARGETED and "GT-K200" in e.value.detail
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, targets={"regions": ["4403"]}), trust, who=Identity("T-1", region="110101"))
    assert e.value.code == ue.NOT_TARGETED
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, minGtsdk="9.0"), trust)
    assert e.value.code == ue.GTSDK_TOO_OLD
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, version="0.9"), trust)
    assert e.value.code == ue.DOWNGRADE
    with pytest.raises(GtsdkError) as e:
        _check(_bundle(tmp_path, version="1.0"), trust)
    assert e.value.code == ue.DOWNGRADE
    assert _check(_bundle(tmp_path, version="0.9", allowDowngrade=True), trust).version == "0.9"
    # a damaged trusted-key file trusts nothing, and is not an error
    (tmp_path / "trusted" / "junk.pem").write_text("not a key")
    assert _check(_bundle(tmp_path), trust).version == "1.1"


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(src) as a, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as b:
        for m in a:
            f = a.extractfile(m)
            data = f.read() if f else b""
            data = change.get(m.name, data)
            m.size = len(data)
            b.addfile(m, io.BytesIO(data))


def test_tampered_file_and_manifest(tmp_path: Path) -> None:
    trust = _trust(tmp_path)
    good = _bundle(tmp_path)
    bad = tmp_path / "bad.tar"
    wheel = "wheels/acme_scanner-1.1-py3-none-any.whl"
    same_size = b"PK\x05\x06" + b"\1" * 18
    _rewrite(good, bad, {wheel: same_size})
    m = _check(bad, trust)  # the manifest is intact …
    with pytest.raises(GtsdkError) as e:  # … the wheel is not
        bundle.unpack(bad, m, tmp_path / "x")
    assert e.value.code == ue.TAMPERED and "SM3" in e.value.detail
    s = bundle.read_signed(good)
    forged = json.loads(s.manifest_bytes)
    forged["files"][wheel]["sm3"] = "0" * 64
    _rewrite(good, bad, {"manifest.json": json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()})
    with pytest.raises(GtsdkError) as e:
        _check(bad, trust)
    assert e.value.code == ue.SIGNATURE_INVALID
    _rewrite(good, bad, {wheel: same_size + b"x"})
    with pytest.raises(GtsdkError) as e:
        bundle.unpack(bad, _check(bad, trust), tmp_path / "y")
    assert e.value.code == ue.TAMPERED


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            t.addfile(m, io.BytesIO(b"x" * m.size) if m.isreg() else None)
    return path


@pytest.mark.parametrize("kind", ["symlink", "dotdot", "absolute", "duplicate", "device", "gzip", "nomanifest"])
def test_hostile_archives_are_refused(tmp_path: Path, kind: str) -> None:
    def reg(name: str, size: int = 1) -> tarfile.TarInfo:
        i = tarfile.TarInfo(name)
        i.size = size
        return i

    link = tarfile.TarInfo("wheels/a.whl")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    dev = tarfile.TarInfo("wheels/a.whl")
    dev.type = tarfile.CHRTYPE
    cases = {"symlink": [reg("manifest.json"), link], "dotdot": [reg("manifest.json"), reg("../evil.whl")],
             "absolute": [reg("manifest.json"), reg("/tmp/evil.whl")],
             "duplicate": [reg("manifest.json"), reg("manifest.json")], "device": [reg("manifest.json"), dev],
             "nomanifest": [reg("wheels/a.whl")]}
    p = tmp_path / "h.tar"
    if kind == "gzip":
        with tarfile.open(p, "w:gz") as t:
            t.addfile(reg("manifest.json"), io.BytesIO(b"x"))
    else:
        _tar(p, cases[kind])
    with pytest.raises(GtsdkError) as e:
        bundle.read_signed(p)
    assert e.value.code == ue.BUNDLE_INVALID


def test_manifest_refuses_files_outside_wheels_and_config() -> None:
    for name in ("setup.sh", "wheels/x/y.whl", "wheels/a.tar.gz", "config/other.toml"):
        with pytest.raises(ValueError):
            Manifest.model_validate({"name": "n", "version": "1", "files": {name: {"sm3": "0" * 64, "size": 1}}})
    with pytest.raises(ValueError):
        Manifest.model_validate({"name": "n", "version": "not a version"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_flipped_byte_is_refused_or_changes_nothing(tmp_path_factory: pytest.TempPathFactory,
                                                        data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("flip")
    good = _bundle(tmp)
    raw = bytearray(good.read_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    bad = tmp / "flipped.tar"
    bad.write_bytes(bytes(raw))
    try:
        m = _check(bad, _trust(tmp))
        bundle.unpack(bad, m, tmp / "out")
    except GtsdkError as e:
        assert e.code.startswith("update.")
        return
    # accepted: then what lands on disk is exactly what was signed (the byte was tar padding or metadata)
    assert (tmp / "out/wheels/acme_scanner-1.1-py3-none-any.whl").read_bytes() == _wheel(tmp).read_bytes()


@given(st.lists(st.sampled_from(["GT-K200", "GT-K300", "X"]), max_size=3),
       st.lists(st.sampled_from(["44", "4403", "440305", "11"]), max_size=3),
       st.lists(st.sampled_from(["canary", "wave1"]), max_size=2))
def test_targeting_matches_lists(models: list[str], regions: list[str], groups: list[str]) -> None:
    m = Manifest(name="n", version="1", targets=Targets(models=models, regions=regions, groups=groups))
    ok = ((not models or WHO.model in models) and (not regions or any(WHO.region.startswith(r) for r in regions))
          and (not groups or "canary" in groups))
    assert (targeted(m, WHO) is None) == ok


def test_release_cli_build_sign_verify(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_bytes(KEY.to_pem())
    (tmp_path / "pub.pem").write_bytes(KEY.public_key().to_pem())
    (tmp_path / "other.pem").write_bytes(OTHER.public_key().to_pem())
    w = _wheel(tmp_path)
    r = CliRunner()
    res = r.invoke(main, ["release", "build", str(tmp_path / "b.tar"), "--version", "2.0", "--wheel", str(w),
                          "--driver", "qr_scanner.acme", "--tier", "silver", "--region", "4403"])
    assert res.exit_code == 0 and "UNSIGNED" in res.output, res.output
    res = r.invoke(main, ["release", "verify", str(tmp_path / "b.tar"), "--pub", str(tmp_path / "pub.pem")])
    assert res.exit_code != 0 and "update.unsigned" in res.output
    assert r.invoke(main, ["release", "sign", str(tmp_path / "b.tar"), "--key", str(tmp_path / "k.pem")]).exit_code == 0
    res = r.invoke(main, ["release", "verify", str(tmp_path / "b.tar"), "--pub", str(tmp_path / "pub.pem"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["manifest"]["requiredTier"] == "silver" and doc["manifest"]["drivers"] == ["qr_scanner.acme"]
    res = r.invoke(main, ["release", "verify", str(tmp_path / "b.tar"), "--pub", str(tmp_path / "other.pem")])
    assert res.exit_code != 0 and "update.untrustedKey" in res.output
    res = r.invoke(main, ["release", "build", str(tmp_path / "c.tar"), "--version", "2.0", "--wheel", str(w),
                          "--region", "4"])
    assert res.exit_code != 0 and "GB/T 2260" in res.output


def test_usbguard_rules_from_config(tmp_path: Path) -> None:
    cfg = parse_config({"modules": {
        "signature_pad": {"driver": "wacom_stu", "vendor_id": 0x056A, "product_id": "00a2"},
        "receipt_printer": {"driver": "escpos", "usb": "0416:5011", "usb_serial": "X1"},
        "qr_scanner": {"driver": "serial_scanner", "port": "/dev/ttyACM0", "vid": "0x0c2e", "pid": "0x0b61"},
        "lights": {"driver": "modbus_rtu", "port": "/dev/ttyS0", "enabled": False, "vid": "1a86", "pid": "7523"}}})
    text = usbguard.rules(usbguard.devices_of(cfg))
    rules = [line for line in text.splitlines() if line.startswith("allow")]
    assert rules == ["allow id 056a:00a2", 'allow id 0416:5011 serial "X1"', "allow id 0c2e:0b61"]
    if RULE_PARSER is not None:  # usbguard's own parser reads every rule
        for rule in rules:
            p = subprocess.run([RULE_PARSER, rule], capture_output=True, text=True, timeout=10)
            assert p.returncode == 0, p.stderr
    from gtsdk.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        usbguard.devices_of(parse_config({"modules": {"signature_pad": {"driver": "x", "vid": "zz", "pid": "1"}}}))
    assert e.value.key == "modules.signature_pad.vid"


def test_update_codes_are_documented() -> None:
    from gtsdk.errors import base_code, catalogue

    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    codes = [i for i in catalogue() if i.code.startswith("update.")]
    assert len(codes) == 14
    for i in codes:
        assert f"| `{i.code}` | `{base_code(i.code)}` | {i.http_status} |" in doc


def test_refusals_are_audited_in_one_chain_from_several_processes(tmp_path: Path) -> None:
    import multiprocessing

    from gtsdk.audit import AuditLog, Signer
    from gtsdk.updates.auditing import UpdateAudit
    from gtsdk.updates.environment import VenvEnvironment
    from gtsdk.updates.installer import Updater

    root, home = tmp_path / "root", tmp_path / "home"
    home.mkdir()
    u = Updater(root, identity=WHO, environment=VenvEnvironment(), audit=UpdateAudit(root, home))
    u.trust.add(KEY.public_key())
    for key, code in ((None, ue.UNSIGNED), (OTHER, ue.UNTRUSTED_KEY)):
        with pytest.raises(GtsdkError) as e:
            u.stage(_bundle(tmp_path, key=key))
        assert e.value.code == code
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_report_many, args=(root, home, n)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = AuditLog(root, signer=Signer(home))  # heads signed with the terminal's key
    try:
        rows = log.query(module="update")
        assert [r["code"] for r in rows[:2]] == [ue.UNSIGNED, ue.UNTRUSTED_KEY]
        assert [r["operation"] for r in rows[:2]] == ["refused", "refused"] and len(rows) == 42
        v = log.verify()
        assert v.ok and v.signed_days == 1, v.problems  # two processes wrote, the chain is whole
    finally:
        log.close(sign=False)


def _report_many(root: Path, home: Path, n: int) -> None:
    from gtsdk.updates.auditing import UpdateAudit

    a = UpdateAudit(root, home)
    for i in range(20):
        a.record(module="update", operation="staged", request_id=f"p{n}-{i}", code="success", duration_ms=0.0,
                 caller="updater")


def test_a_progress_listener_that_raises_does_not_change_the_update(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The refusal is what the caller gets, the listener's failure is logged by type and place, not its text."""
    from gtsdk.updates.environment import VenvEnvironment
    from gtsdk.updates.installer import Updater

    seen: list[str] = []

    def listener(doc: Any) -> None:
        seen.append(doc["phase"])
        raise RuntimeError("platform said 110101199003071234")

    u = Updater(tmp_path / "root", identity=WHO, environment=VenvEnvironment(), on_progress=listener)
    u.trust.add(KEY.public_key())
    caplog.set_level(logging.WARNING, logger="gtsdk.updates")
    with pytest.raises(GtsdkError) as e:
        u.stage(_bundle(tmp_path, key=OTHER))
    assert e.value.code == ue.UNTRUSTED_KEY and seen == ["refused"]
    line = next(r.getMessage() for r in caplog.records if "progress listener" in r.getMessage())
    assert "(refused) raised RuntimeError at " in line and "test_updates_bundle.py" in line
    assert "110101199003071234" not in caplog.text
