"""``gtsdk ca``: show and install the local CA certificate (clause 9.2.1 b)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from gtsdk.cli.serve import HOME_HELP

home_option = click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
SYSTEM_DEST = Path("/usr/local/share/ca-certificates")
CERT_NAME = "gtsdk-local-ca.crt"


@click.group()
def command() -> None:
    """The local CA that signs the service's certificate."""


@command.command()
@home_option
def show(home: Path | None) -> None:
    """Print the CA path and fingerprint (creating the CA on first use)."""
    from gtsdk.home import home_dir
    from gtsdk.server import tls

    h = home_dir(home)
    f = tls.ensure(h)
    click.echo(f"{f.ca_cert}\nSHA-256 {tls.ca_fingerprint(h)}")


@command.command()
@home_option
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=SYSTEM_DEST, show_default=True,
              help="system CA directory")
@click.option("--update/--no-update", default=True, help="run update-ca-certificates when it exists")
def install(home: Path | None, dest: Path, update: bool) -> None:
    """Put the CA into the system trust store and print how to trust it in Chromium."""
    from gtsdk.home import home_dir
    from gtsdk.server import tls

    h = home_dir(home)
    f = tls.ensure(h)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / CERT_NAME
    shutil.copyfile(f.ca_cert, target)
    target.chmod(0o644)
    click.echo(f"copied {f.ca_cert} -> {target}")
    tool = shutil.which("update-ca-certificates")
    if update and tool and dest == SYSTEM_DEST:
        r = subprocess.run([tool], capture_output=True, text=True, check=False)
        click.echo(r.stdout.strip() or r.stderr.strip())
        if r.returncode != 0:
            raise click.ClickException("update-ca-certificates failed")
    elif update and dest == SYSTEM_DEST:
        click.echo("update-ca-certificates not found: add the file to your system trust store by hand")
    click.echo(
        "\nChromium does not read the system store on Linux; trust the CA for the kiosk user with:\n"
        "  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n gtsdk-local-ca -i " + str(f.ca_cert) + "\n"
        "(package libnss3-tools), or Settings → Privacy and security → Security → Manage certificates → "
        "Authorities → Import.\n"
        "Managed kiosks: policy {\"CACertificates\": [<base64 DER>]} or \"CAPlatformIntegrationEnabled\": true.\n"
        f"The CA is name-constrained to localhost, 127.0.0.0/8 and ::1; fingerprint SHA-256 {tls.ca_fingerprint(h)}")
