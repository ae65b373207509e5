"""`gtsdk token`, `gtsdk ca`: tokens created, listed, revoked, rotated; the CA installed into a given directory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from gtsdk.cli import main
from gtsdk.server.tokens import TokenStore


def test_token_lifecycle(tmp_path: Path) -> None:
    home = tmp_path / "h"
    r = CliRunner()
    out = r.invoke(main, ["token", "--scope", "app", "--scope", "maintenance", "--app", "counter", "--label", "desk",
                          "--home", str(home)])
    assert out.exit_code == 0, out.output
    token = out.output.strip()
    assert token.startswith("gts_")
    tid = token.split("_")[1]
    info = TokenStore(home).verify(token)
    assert info is not None and info.scopes == ["app", "maintenance"] and info.app == "counter"
    listed = json.loads(r.invoke(main, ["token", "list", "--json", "--home", str(home)]).output)
    assert listed[0]["id"] == tid and listed[0]["active"] and "hash" not in listed[0]
    assert token not in r.invoke(main, ["token", "list", "--home", str(home)]).output
    rot = r.invoke(main, ["token", "rotate", tid, "--home", str(home)])
    assert rot.exit_code == 0
    new = rot.output.strip()
    store = TokenStore(home)
    assert store.verify(token) is None and store.verify(new) is not None
    rev = r.invoke(main, ["token", "revoke", new.split("_")[1], "--home", str(home)])
    assert rev.exit_code == 0 and TokenStore(home).verify(new) is None
    assert r.invoke(main, ["token", "revoke", "nosuch", "--home", str(home)]).exit_code != 0
    assert r.invoke(main, ["token", "--home", str(home)]).exit_code != 0  # no scope given
    assert r.invoke(main, ["token", "--scope", "root", "--home", str(home)]).exit_code != 0


def test_ca_install_to_directory(tmp_path: Path) -> None:
    home, dest = tmp_path / "h", tmp_path / "trust"
    r = CliRunner()
    out = r.invoke(main, ["ca", "install", "--home", str(home), "--dest", str(dest), "--no-update"])
    assert out.exit_code == 0, out.output
    installed = dest / "gtsdk-local-ca.crt"
    assert installed.read_bytes() == (home / "ca.pem").read_bytes()
    assert "certutil" in out.output and "Chromium" in out.output
    assert stat.S_IMODE(os.stat(home / "ca-key.pem").st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(installed.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    assert nc.permitted_subtrees is not None and x509.DNSName("localhost") in nc.permitted_subtrees
    show = r.invoke(main, ["ca", "show", "--home", str(home)])
    assert show.exit_code == 0 and "SHA-256" in show.output
