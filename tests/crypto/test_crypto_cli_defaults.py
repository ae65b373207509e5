"""`gtsdk crypto seal` defaults to an authenticated envelope (issue #18 item 12; clause 9.3.2 b: integrity).

The GB/T 35275 EnvelopedData (SM4-CBC, no MAC) stays available behind ``--format der``; its help, ``seal``
and ``open`` say on stderr that it is unauthenticated."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("gtsdk.crypto")

from gtsdk.cli.crypto import command


def run(*args: str, data: bytes = b"") -> tuple[int, bytes, str]:
    res = CliRunner().invoke(command, list(args), input=data, catch_exceptions=False)
    return res.exit_code, res.stdout_bytes, res.stderr


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    k, p = tmp_path / "k.pem", tmp_path / "p.pem"
    assert run("keygen", "--out", str(k), "--pub", str(p))[0] == 0
    return k, p


def _flip(blob: bytes, i: int) -> bytes:
    return blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1:]


def test_default_envelope_rejects_a_flipped_byte(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    k, p = keys
    message = b"110101199003070011 " * 8
    code, env, err = run("seal", "--to", str(p), data=message)
    assert code == 0 and env.lstrip().startswith(b"{") and err == ""  # JSON envelope, SM4-GCM
    assert run("open", "--key", str(k), data=env)[:2] == (0, message)
    code, out, err = run("open", "--key", str(k), data=_flip(env, len(env) // 2))
    assert code != 0 and out == b"" and "invalidData" in err
    # every byte, not only the middle one: a flip never opens (nor leaks partial plaintext)
    for i in range(0, len(env) - 1):  # the last byte is the newline
        code, out, _ = run("open", "--key", str(k), data=_flip(env, i))
        assert code != 0 and out == b"", i


def test_der_is_explicit_and_says_it_is_unauthenticated(keys: tuple[Path, Path]) -> None:
    k, p = keys
    res = CliRunner().invoke(command, ["seal", "--help"])
    assert "WITHOUT a MAC" in res.output and "unauthenticated" in res.output
    message = b"A" * 64
    code, env, err = run("seal", "--to", str(p), "--format", "der", data=message)
    assert code == 0 and env[:1] == b"\x30" and "unauthenticated" in err
    code, out, err = run("open", "--key", str(k), data=env)
    assert (code, out) == (0, message) and "unauthenticated" in err
    # why it is not the default: a flip in the middle of the ciphertext opens, with exit 0, to other bytes
    code, out, err = run("open", "--key", str(k), data=_flip(env, len(env) - 70))  # ciphertext block 1 of 5
    assert code == 0 and out != message and "unauthenticated" in err
    # signed (SignedAndEnvelopedData) is authenticated by its signature: no warning
    code, env, err = run("seal", "--to", str(p), "--format", "der", "--sign-key", str(k), data=message)
    assert code == 0 and err == ""
    code, out, err = run("open", "--key", str(k), "--from", str(p), data=env)
    assert (code, out, err) == (0, message, "")


def test_compat_needs_der(keys: tuple[Path, Path]) -> None:
    _, p = keys
    res = CliRunner().invoke(command, ["seal", "--to", str(p), "--compat", "gmssl"], input=b"x")
    assert res.exit_code == 2 and "--format der" in res.output
    assert run("seal", "--to", str(p), "--format", "der", "--compat", "gmssl", data=b"x")[0] == 0
