"""The local certificate authority and the server certificate (clause 9.2.1 b).

On first start gtsdk creates a CA (``<home>/ca.pem``, key ``<home>/ca-key.pem``
mode 0600) and a server certificate for ``localhost``, ``127.0.0.1`` and
``::1`` signed by it.  The CA carries X.509 name constraints that allow only
those names, so even if its key leaked it could not vouch for any other site
once installed in a trust store.  Keys are ECDSA P-256: browsers do not accept
SM2 server certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gtsdk.home import write_private, write_public

log = logging.getLogger("gtsdk.server")

CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)
DNS_NAMES = ("localhost",)
IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def files(home: Path) -> TlsFiles:
    return TlsFiles(home / "ca.pem", home / "ca-key.pem", home / "server.pem", home / "server-key.pem")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _create_ca(f: TlsFiles) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gtsdk"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"gtsdk local CA ({socket.gethostname()[:40]})"),
    ])
    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    permitted += [x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")), x509.IPAddress(ipaddress.ip_network("::1/128"))]
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(f.ca_key, _key_pem(key))
    write_public(f.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _create_server(f: TlsFiles) -> None:
    ca_key = serialization.load_pem_private_key(f.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(f.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES] + [x509.IPAddress(i) for i in IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(f.key, _key_pem(key))
    write_public(f.cert, cert.public_bytes(serialization.Encoding.PEM))


def _server_ok(f: TlsFiles) -> bool:
    if not (f.cert.exists() and f.key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(f.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(f.ca_cert.read_bytes())
        # ValueError: not a certificate, or another issuer's name; InvalidSignature: not signed by this CA;
        # TypeError: a key type the check does not know
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature) as e:
        log.info("the server certificate in %s is not usable (%s): making a new one", f.cert.parent, type(e).__name__)
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def ensure(home: Path) -> TlsFiles:
    """Create the CA and server certificate when missing, expired or not matching."""
    f = files(home)
    if not (f.ca_cert.exists() and f.ca_key.exists()):
        _create_ca(f)
    if not _server_ok(f):
        _create_server(f)
    return f


def ca_fingerprint(home: Path) -> str:
    cert = x509.load_pem_x509_certificate(files(home).ca_cert.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
