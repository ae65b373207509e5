"""Test PKI for the simulated documents: a CSCA, a document signer, and the SOD (CMS SignedData)
built with a small DER writer of its own (independent of the driver's parser)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag: int, *parts: bytes) -> bytes:
    v = b"".join(parts)
    return bytes([tag]) + _len(len(v)) + v


def oid(dotted: str) -> bytes:
    a = [int(x) for x in dotted.split(".")]
    body = bytes([40 * a[0] + a[1]])
    for n in a[2:]:
        enc = [n & 0x7F]
        n >>= 7
        while n:
            enc.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(enc))
    return der(0x06, body)


def integer(n: int) -> bytes:
    b = n.to_bytes(n.bit_length() // 8 + 1, "big", signed=False)
    return der(0x02, b)


SHA256 = der(0x30, oid("2.16.840.1.101.3.4.2.1"))
ECDSA_SHA256 = der(0x30, oid("1.2.840.10045.4.3.2"))


@dataclass
class TestPki:
    csca_key: ec.EllipticCurvePrivateKey
    csca: x509.Certificate
    dsc_key: ec.EllipticCurvePrivateKey
    dsc: x509.Certificate

    def write_csca(self, path: Path) -> Path:
        path.write_bytes(self.csca.public_bytes(serialization.Encoding.PEM))
        return path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "UT"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(country_cn: str = "Utopia test CSCA") -> TestPki:
    now = dt.datetime.now(dt.UTC)
    ck = ec.generate_private_key(ec.SECP256R1())
    csca = (x509.CertificateBuilder().subject_name(_name(country_cn)).issuer_name(_name(country_cn))
            .public_key(ck.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ck, hashes.SHA256()))
    dk = ec.generate_private_key(ec.SECP256R1())
    dsc = (x509.CertificateBuilder().subject_name(_name("Utopia test document signer")).issuer_name(csca.subject)
           .public_key(dk.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
           .sign(ck, hashes.SHA256()))
    return TestPki(ck, csca, dk, dsc)


def build_sod(pki: TestPki, groups: dict[int, bytes]) -> bytes:
    """EF.SOD (tag 77) = ContentInfo(signedData) with an LDSSecurityObject over SHA-256 of each group."""
    hashes_seq = der(0x30, *[der(0x30, integer(n), der(0x04, hashlib.sha256(d).digest()))
                             for n, d in sorted(groups.items())])
    lso = der(0x30, integer(0), SHA256, hashes_seq)
    signed_attrs = [
        der(0x30, oid("1.2.840.113549.1.9.3"), der(0x31, oid("2.23.136.1.1.1"))),
        der(0x30, oid("1.2.840.113549.1.9.4"), der(0x31, der(0x04, hashlib.sha256(lso).digest()))),
    ]
    attrs_set = der(0x31, *sorted(signed_attrs))
    sig = pki.dsc_key.sign(attrs_set, ec.ECDSA(hashes.SHA256()))
    dsc_der = pki.dsc.public_bytes(serialization.Encoding.DER)
    issuer_der = pki.dsc.issuer.public_bytes()
    signer = der(0x30, integer(1), der(0x30, issuer_der, integer(pki.dsc.serial_number)), SHA256,
                 b"\xa0" + attrs_set[1:], ECDSA_SHA256, der(0x04, sig))
    signed_data = der(0x30, integer(3), der(0x31, SHA256),
                      der(0x30, oid("2.23.136.1.1.1"), der(0xA0, der(0x04, lso))),
                      der(0xA0, dsc_der), der(0x31, signer))
    content_info = der(0x30, oid("1.2.840.113549.1.7.2"), der(0xA0, signed_data))
    return der(0x77, content_info)
