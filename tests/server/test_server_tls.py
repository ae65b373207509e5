"""The service's certificates (clause 9.2.1 b): a usable server certificate is kept; one that is damaged or was not
issued by this home's CA is replaced at the next start, and the reason is logged by its kind."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from gtsdk.server import tls


def _issued_by(files: tls.TlsFiles) -> bool:
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if not
    return True


def test_a_usable_server_certificate_is_kept(tmp_path: Path) -> None:
    f = tls.ensure(tmp_path)
    first = f.cert.read_bytes()
    assert tls.ensure(tmp_path).cert.read_bytes() == first


@pytest.mark.parametrize("damage", ["garbage", "missing key", "another CA"])
def test_a_server_certificate_that_is_not_usable_is_replaced(tmp_path: Path, damage: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    for d in ("home", "other"):
        (tmp_path / d).mkdir()
    f = tls.ensure(tmp_path / "home")
    before = f.cert.read_bytes()
    if damage == "garbage":
        f.cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    elif damage == "missing key":
        f.key.unlink()
    else:  # a certificate from another home's CA on this host: the same issuer name, another key
        other = tls.ensure(tmp_path / "other")
        shutil.copy(other.cert, f.cert)
    caplog.set_level(logging.INFO, logger="gtsdk.server")
    again = tls.ensure(tmp_path / "home")
    assert again.cert.read_bytes() != before and _issued_by(again) and again.key.exists()
    reason = {"garbage": "ValueError", "another CA": "InvalidSignature"}.get(damage)
    if reason is not None:
        assert f"not usable ({reason}): making a new one" in caplog.text
