"""The fleet platform's certificate authority: broker TLS, per-terminal client certificates, revocation.

Transport security between terminals, brokers and the platform is plain X.509 TLS with **ECDSA P-256**
certificates.  SM2 certificates are not used on the broker links: Mosquitto is built on OpenSSL, and OpenSSL 3
offers no SM2/SM3/SM4 cipher suites for TLS 1.2 or 1.3 (RFC 8998's TLS_SM4_GCM_SM3 is not implemented there), so
an SM2 certificate could not be used by the broker at all.  The application layer keeps the national algorithms:
commands are signed with the platform's SM2 key (:mod:`gtsdk.fleet.commands`).  See docs/fleet.md.

Layout of a CA directory (the platform's home, ``<home>/ca/``)::

    ca.pem        the fleet CA certificate (public; terminals and brokers trust it)
    ca-key.pem    its private key, mode 0600 — never copied to a broker or a terminal
    revoked.json  serial numbers revoked so far (hex), with the subject and time
    crl.pem       the CRL built from revoked.json, signed by the CA (Mosquitto's ``crlfile``)

A terminal's private key is made on the terminal and never leaves it: enrolment sends a CSR, and the CA
puts the terminal id it was given with the one-time code into the certificate's CN — whatever CN the CSR
asked for.  With ``use_identity_as_username`` the broker then knows the terminal only by that CN.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.home import write_private, write_public

CA_DAYS = 3650
CLIENT_DAYS = 825
SERVER_DAYS = 397
#: a CRL is valid this long; the platform rewrites it well before (OpenSSL refuses every client once it lapses)
CRL_DAYS = 30
CRL_REFRESH_BEFORE = dt.timedelta(days=10)
#: a CSR larger than this is refused before parsing
MAX_CSR_BYTES = 8192
#: names the CA writes into a CN: terminal ids, broker and service identities
IDENTITY = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    serial: int
    not_after: dt.datetime


class FleetCA:
    """The platform's CA (ECDSA P-256).  One instance per process; issuing and revoking are serialised."""

    def __init__(self, directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.dir = directory
        self.cert = cert
        self._key = key
        self._lock = threading.Lock()

    # ---- files --------------------------------------------------------------------------------------
    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def open(cls, directory: Path, name: str = "gtsdk fleet CA") -> FleetCA:
        """Load the CA in *directory*, creating it (and an empty CRL) on first use."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
        if cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise GtsdkError(ErrorCode.CONFIG_ERROR, f"{key_path}: not an EC private key")
            ca = cls(directory, load_cert(cert_path.read_bytes()), key)
        else:
            key = generate_key()
            subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gtsdk fleet"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, name[:64])])
            now = _now()
            cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                 key_cert_sign=True, crl_sign=True, encipher_only=False,
                                                 decipher_only=False), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .sign(key, hashes.SHA256()))
            write_private(key_path, key_pem(key))
            write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
            ca = cls(directory, cert, key)
        if not ca.crl_path.exists() or ca.crl_due():
            ca.write_crl()
        return ca

    # ---- issuing ------------------------------------------------------------------------------------
    def _builder(self, cn: str, public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, days: int,
                 ) -> x509.CertificateBuilder:
        if not IDENTITY.match(cn):
            raise GtsdkError(ErrorCode.INVALID_DATA, "identity must be 1-64 of [0-9A-Za-z._-]", field="cn")
        now = _now()
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gtsdk fleet"),
                                         x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self.cert.subject).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False))

    def issue_client(self, csr_pem: bytes, cn: str, days: int = CLIENT_DAYS) -> Issued:
        """A TLS client certificate for *cn* (a terminal id, a bridge, an ingest worker) from a CSR."""
        if len(csr_pem) > MAX_CSR_BYTES:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"CSR over {MAX_CSR_BYTES} bytes", field="csr")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "not a PEM certificate signing request", field="csr") from None
        if not csr.is_signature_valid:
            raise GtsdkError(ErrorCode.INVALID_DATA, "CSR signature does not verify", field="csr")
        pub = csr.public_key()
        if isinstance(pub, ec.EllipticCurvePublicKey):
            if pub.curve.name not in ("secp256r1", "secp384r1"):
                raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"curve {pub.curve.name} (use P-256)", field="csr")
        elif isinstance(pub, rsa.RSAPublicKey):
            if pub.key_size < 2048:
                raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, "RSA key under 2048 bits", field="csr")
        else:
            raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, "key type (use ECDSA P-256)", field="csr")
        cert = (self._builder(cn, pub, days)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256()))
        return Issued(cert.public_bytes(serialization.Encoding.PEM), cert.serial_number, cert.not_valid_after_utc)

    def issue_client_key(self, cn: str, days: int = CLIENT_DAYS) -> tuple[bytes, Issued]:
        """Key and certificate together, for identities the platform itself runs (ingest workers, bridges)."""
        key = generate_key()
        return key_pem(key), self.issue_client(make_csr(key, cn), cn, days)

    def issue_server(self, cn: str, hosts: list[str], days: int = SERVER_DAYS) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM) for a broker or the platform's HTTPS listener; *hosts* are DNS names or IPs."""
        key = generate_key()
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        cert = (self._builder(cn, key.public_key(), days)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256()))
        return key_pem(key), cert.public_bytes(serialization.Encoding.PEM)

    def verify_issued(self, cert: x509.Certificate) -> bool:
        """True when *cert* was signed by this CA (a certificate presented to the platform's API)."""
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
            return False
        return True

    # ---- revocation ---------------------------------------------------------------------------------
    def _revoked(self) -> dict[str, dict[str, str]]:
        path = self.dir / "revoked.json"
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): dict(v) for k, v in data.items()}

    def revoked_serials(self) -> set[int]:
        return {int(k, 16) for k in self._revoked()}

    def revoke(self, serial: int, subject: str) -> None:
        with self._lock:
            revoked = self._revoked()
            revoked[f"{serial:x}"] = {"subject": subject, "time": _now().isoformat(timespec="seconds")}
            write_public(self.dir / "revoked.json", json.dumps(revoked, indent=1, sort_keys=True).encode())
            self._write_crl_locked(revoked)

    def crl_due(self) -> bool:
        try:
            crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        except (OSError, ValueError):
            return True
        nxt = crl.next_update_utc
        return nxt is None or nxt - _now() < CRL_REFRESH_BEFORE

    def write_crl(self) -> Path:
        with self._lock:
            self._write_crl_locked(self._revoked())
        return self.crl_path

    def _write_crl_locked(self, revoked: dict[str, dict[str, str]]) -> None:
        now = _now()
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
             .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=CRL_DAYS)))
        for serial_hex, meta in sorted(revoked.items()):
            when = dt.datetime.fromisoformat(meta["time"])
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(int(serial_hex, 16))
                                          .revocation_date(when).build())
        crl = b.sign(self._key, hashes.SHA256())
        write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
