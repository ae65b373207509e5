"""Fingerprint and signature through the HTTPS service with simulated devices (``serve --simulate``):
biometrics leave sealed for an app with a recipient key (9.3.2), the audit log records that a
biometric was captured and never the biometric itself (9.3.3 b)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from _server_fixtures import start_service

from gtsdk.simulated import simulated_terminal

crypto = pytest.importorskip("gtsdk.crypto")
pytest.importorskip("usb")


def test_biometrics_sealed_and_audited(tmp_path: Path) -> None:
    from gtsdk.crypto.envelope import open_envelope

    home = tmp_path / "h"
    home.mkdir()
    key = crypto.SM2PrivateKey.generate()
    (home / "kiosk.pub.pem").write_bytes(key.public_key().to_pem())
    t = simulated_terminal(tmp_path / "sim", modules=["fingerprint", "signature_pad"])
    s = start_service(home, {"apps": {"kiosk": {"recipient_key": "kiosk.pub.pem"}}}, terminal=t)
    try:
        with s.maint() as m:
            assert m.post("/v1/sim/fingerprint", json={"action": "place_finger",
                                                       "params": {"person": "张三"}}).status_code == 200
            assert m.post("/v1/sim/signature_pad",
                          json={"action": "speed", "params": {"factor": 40}}).status_code == 200
            assert m.post("/v1/sim/signature_pad", json={"action": "sign",
                                                         "params": {"what": "张三"}}).status_code == 200
        with s.app(timeout=60) as c:
            assert c.post("/v1/fingerprint/open").status_code == 200
            r = c.post("/v1/fingerprint/capture", json={})
            assert r.status_code == 200, r.text
            data = r.json()["data"]
            assert set(data) == {"kind", "sealed"} and data["kind"] == "sealed"
            cap = json.loads(open_envelope(data["sealed"], key).payload)
            template = base64.urlsafe_b64decode(cap["template"])  # pydantic writes URL-safe base64
            assert len(template) == 512 and cap["imagePng"] and cap["iso19794_2"]
            r = c.post("/v1/fingerprint/compare", json={"probe": cap["template"], "references": [cap["template"]]})
            assert r.status_code == 200, r.text
            cmp = r.json()["data"]
            assert cmp["matched"] is True  # a decision and a score are not biometric data: clear
            assert c.post("/v1/signature_pad/open").status_code == 200
            r = c.post("/v1/signature_pad/get_signature", json={"timeout": 30000})
            assert r.status_code == 200, r.text
            sig = r.json()["data"]
            assert set(sig) == {"kind", "sealed"} and sig["kind"] == "sealed"
            opened = json.loads(open_envelope(sig["sealed"], key).payload)
            assert opened["completed"] is True and opened["imagePng"] and opened["iso19794_7"]
        audit = s.running.app.audit
        assert audit is not None
        rows = audit.query()
        ops = {(r["module"], r["operation"], r["code"]) for r in rows}
        assert ("fingerprint", "capture", "success") in ops and ("signature_pad", "get_signature", "success") in ops
        audit.flush()
        raw = b"".join(p.read_bytes() for p in home.glob("audit.sqlite*"))
        assert template not in raw and base64.b64encode(template) not in raw
        assert base64.urlsafe_b64encode(template)[:40] not in raw and "张三".encode() not in raw
    finally:
        s.running.stop()
        s.terminal.stop()
