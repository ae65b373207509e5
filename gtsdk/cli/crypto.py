"""``gtsdk crypto``: SM2 keys, signatures and envelopes, SM3 digests, for integrators and labs.

Every command reads stdin when IN is omitted and writes binary results to stdout, so it
composes with the ``openssl`` command line (see docs/crypto.md for interop recipes).
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from gtsdk.errors import GtsdkError

if TYPE_CHECKING:
    from gtsdk.crypto import SM2PrivateKey, SM2PublicKey


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror}") from None


def _fail(e: GtsdkError) -> click.ClickException:
    return click.ClickException(f"{e.code}: {e.detail}")


def _public(path: Path) -> SM2PublicKey:
    """A public key from PEM: SubjectPublicKeyInfo, an X.509 certificate, or a private key."""
    from gtsdk.crypto import load_private_pem, load_public_pem
    from gtsdk.crypto.cms import certificate_public_key

    data = _read(path)
    if b"-----BEGIN CERTIFICATE-----" in data:
        body = data.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except ValueError:
            raise click.ClickException(f"{path}: bad certificate PEM") from None
        return certificate_public_key(der)
    if b"PRIVATE KEY-----" in data:
        return load_private_pem(data).public_key()
    return load_public_pem(data)


def _out() -> BinaryIO:
    return sys.stdout.buffer


_IN = click.argument("infile", metavar="[IN]", type=click.File("rb"), default="-", required=False)
_PASS = click.option("--pass-env", "pass_env", metavar="VAR",
                     help="password of an encrypted private key, read from environment variable VAR")


def _password(pass_env: str | None) -> str | None:
    if pass_env is None:
        return None
    value = os.environ.get(pass_env)
    if value is None:
        raise click.ClickException(f"environment variable {pass_env} is not set")
    return value


def _private(path: Path, pass_env: str | None) -> SM2PrivateKey:
    from gtsdk.crypto import load_private_pem

    return load_private_pem(_read(path), _password(pass_env))


_ID = click.option("--id", "uid", default="1234567812345678", show_default=True, help="SM2 user ID (distid)")


@click.group()
def command() -> None:
    """SM2/SM3/SM4 tools (GB/T 32918, GB/T 32905, GB/T 32907, GB/T 35275)."""


@command.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="private key (PEM)")
@click.option("--pub", "pub", type=click.Path(dir_okay=False, path_type=Path), help="also write the public key (PEM)")
@click.option("--force", is_flag=True, help="overwrite existing files")
@click.option("--pass-env", "pass_env", metavar="VAR",
              help="encrypt the key (PBKDF2-HMAC-SM3 + SM4-CBC, GmSSL-compatible) with the password in VAR")
def keygen(out: Path, pub: Path | None, force: bool, pass_env: str | None) -> None:
    """Generate an SM2 key pair (PKCS#8 / SubjectPublicKeyInfo PEM, readable by `openssl pkey`)."""
    from gtsdk.crypto import SM2PrivateKey

    for p in (out, pub):
        if p is not None and p.exists() and not force:
            raise click.ClickException(f"{p} exists (use --force)")
    try:
        key = SM2PrivateKey.generate()
    except GtsdkError as e:
        raise _fail(e) from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(out, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.to_pem(_password(pass_env)))
    os.chmod(out, 0o600)
    if pub is not None:
        pub.write_bytes(key.public_key().to_pem())
    click.echo(f"SM2 key {key.public_key().fingerprint()[:16]} written to {out}", err=True)


@command.command()
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_PASS
@_ID
@_IN
def sign(key_path: Path, pass_env: str | None, uid: str, infile: BinaryIO) -> None:
    """Sign IN with SM2/SM3 (ZA over --id); write the DER signature to stdout."""
    try:
        key = _private(key_path, pass_env)
        _out().write(key.sign(infile.read(), uid=uid.encode()))
    except GtsdkError as e:
        raise _fail(e) from None


@command.command()
@click.option("--pub", "pub_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sig", "sig_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_ID
@_IN
def verify(pub_path: Path, sig_path: Path, uid: str, infile: BinaryIO) -> None:
    """Verify a DER SM2 signature of IN; exit 0 if valid, 1 if not."""
    try:
        pub = _public(pub_path)
    except GtsdkError as e:
        raise _fail(e) from None
    if pub.verify(_read(sig_path), infile.read(), uid=uid.encode()):
        click.echo("Signature OK", err=True)
        return
    click.echo("Signature FAILED", err=True)
    sys.exit(1)


@command.command()
@click.option("--to", "to_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="recipient public key or certificate (PEM)")
@click.option("--sign-key", "sign_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also sign with this private key (SignedAndEnvelopedData)")
@click.option("--format", "fmt", type=click.Choice(["json", "der"]), default="json", show_default=True,
              help="json: the compact gtsdk envelope, SM4-GCM, every byte authenticated; der: GB/T 35275 "
                   "ContentInfo, SM4-CBC WITHOUT a MAC: unauthenticated unless --sign-key is given, a modified "
                   "envelope can open to wrong content without an error")
@click.option("--compat", type=click.Choice(["standard", "gmssl"]), default="standard", show_default=True,
              help="with --format der: gmssl writes key-encryption OID 1.2.156.10197.1.301.2 (what GmSSL 3.1 "
                   "accepts)")
@_PASS
@_IN
def seal(to_path: Path, sign_path: Path | None, fmt: str, compat: str, pass_env: str | None, infile: BinaryIO) -> None:
    """Encrypt IN for a recipient (SM2 + SM4-GCM); write the envelope to stdout."""
    from gtsdk.crypto.cms import seal_der
    from gtsdk.crypto.envelope import dumps, seal_json

    if compat != "standard" and fmt != "der":
        raise click.UsageError("--compat applies to --format der only")
    try:
        to = _public(to_path)
        signer = _private(sign_path, pass_env) if sign_path else None
        data = infile.read()
        if fmt == "json":
            _out().write(dumps(seal_json(data, to, sign_key=signer)) + b"\n")
        else:
            if signer is None:
                click.echo(_UNAUTHENTICATED, err=True)
            _out().write(seal_der(data, to, sign_key=signer, compat="gmssl" if compat == "gmssl" else "standard"))
    except GtsdkError as e:
        raise _fail(e) from None


_UNAUTHENTICATED = ("warning: GB/T 35275 EnvelopedData (SM4-CBC, no MAC) is unauthenticated: a modified envelope "
                    "can open to wrong content without an error; prefer the JSON envelope or sign it (--sign-key)")


@command.command(name="open")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_path", type=click.Path(dir_okay=False, path_type=Path),
              help="require a valid signature by this public key or certificate (PEM)")
@click.argument("infile", metavar="[ENV]", type=click.File("rb"), default="-", required=False)
@_PASS
def open_(key_path: Path, from_path: Path | None, pass_env: str | None, infile: BinaryIO) -> None:
    """Open an envelope (GB/T 35275 DER or compact JSON); write the content to stdout."""
    from gtsdk.crypto.cms import open_der
    from gtsdk.crypto.envelope import loads, open_envelope

    try:
        key = _private(key_path, pass_env)
        sender = _public(from_path) if from_path else None
        blob = infile.read()
        if blob.lstrip()[:1] == b"{":
            res = open_envelope(loads(blob), key, sender=sender)
            payload, unverified = res.payload, False
        else:
            cres = open_der(blob, key, sender=sender)
            payload, unverified = cres.payload, cres.signed and not cres.verified
            if not cres.signed:
                click.echo(_UNAUTHENTICATED, err=True)
    except GtsdkError as e:
        raise _fail(e) from None
    if unverified:
        click.echo("warning: the envelope is signed but the signer is unknown; pass --from PUB.pem", err=True)
    _out().write(payload)


@command.command(name="sm3")
@_IN
def sm3_(infile: BinaryIO) -> None:
    """Print the SM3 digest of IN (hex)."""
    from gtsdk.crypto.hashing import SM3

    h = SM3()
    while chunk := infile.read(1 << 20):
        h.update(chunk)
    click.echo(h.hexdigest())
