"""EF.SOD: the CMS SignedData (RFC 5652) over the LDS security object (ICAO 9303-10 4.6.2, 9303-11 5.1
passive authentication).  Parsing uses the BER-TLV reader of :mod:`.codec`; signatures and certificates
use ``cryptography``.  Malformed data -> ``invalidData``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gtsdk.errors import ErrorCode, GtsdkError

from .codec import children, read_tlv

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
HASH_OIDS = {"1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224", "2.16.840.1.101.3.4.2.1": "sha256",
             "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}
SIG_HASH = {"1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512",
            "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
            "1.2.840.10045.4.1": "sha1", "1.2.840.113549.1.1.5": "sha1"}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}


def _bad(detail: str) -> GtsdkError:
    return GtsdkError(ErrorCode.INVALID_DATA, detail)


def oid_str(v: bytes) -> str:
    if not v:
        raise _bad("empty OID")
    parts = [v[0] // 40, v[0] % 40] if v[0] < 80 else [2, v[0] - 80]
    n = 0
    for b in v[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


def _seq(value: bytes) -> list[tuple[int, bytes]]:
    return children(value)


def _raw_items(value: bytes) -> list[tuple[int, bytes, bytes]]:
    out = []
    i = 0
    while i < len(value):
        t, v, j = read_tlv(value, i)
        out.append((t, v, value[i:j]))
        i = j
    return out


@dataclass
class Sod:
    hash_alg: str
    dg_hashes: dict[int, bytes]
    econtent: bytes
    signed_attrs: bytes | None  # DER of the SET (tag re-written to 31)
    message_digest: bytes | None
    digest_alg: str
    sig_alg: str
    signature: bytes
    certificates: list[x509.Certificate] = field(default_factory=list)


def parse(data: bytes) -> Sod:
    try:
        return _parse(data)
    except GtsdkError:
        raise
    except (IndexError, ValueError, KeyError):
        raise _bad("EF.SOD is not a CMS SignedData") from None


def _parse(data: bytes) -> Sod:
    tag, val, _ = read_tlv(data)
    if tag == 0x77:  # EF.SOD wrapper
        tag, val, _ = read_tlv(val)
    if tag != 0x30:
        raise _bad("EF.SOD does not hold a ContentInfo")
    ci = _seq(val)
    if oid_str(ci[0][1]) != OID_SIGNED_DATA:
        raise _bad("EF.SOD content is not signedData")
    sd = _seq(_seq(ci[1][1])[0][1])  # [0] EXPLICIT SignedData SEQUENCE
    # version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
    eci = _seq(sd[2][1])
    if oid_str(eci[0][1]) != OID_LDS_SECURITY_OBJECT:
        raise _bad("EF.SOD does not carry an LDS security object")
    econtent = _seq(eci[1][1])[0][1]  # [0] EXPLICIT OCTET STRING
    certs: list[x509.Certificate] = []
    for t, v, raw in _raw_items(_payload_of(sd)):
        if t == 0xA0:
            for _t2, _v2, raw2 in _raw_items(v):
                try:
                    certs.append(x509.load_der_x509_certificate(raw2))
                except ValueError:
                    raise _bad("EF.SOD holds an unreadable certificate") from None
        del raw
    signer_infos = _seq(sd[-1][1])
    si = _raw_items(signer_infos[0][1])
    # version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature
    digest_alg = HASH_OIDS.get(oid_str(_seq(si[2][1])[0][1]), "")
    idx = 3
    signed_attrs = md = None
    if si[3][0] == 0xA0:
        signed_attrs = b"\x31" + si[3][2][1:]
        for _t, attr in _seq(si[3][1]):
            a = _seq(attr)
            if oid_str(a[0][1]) == OID_MESSAGE_DIGEST:
                md = _seq(a[1][1])[0][1]
        idx = 4
    sig_alg = oid_str(_seq(si[idx][1])[0][1])
    signature = si[idx + 1][1]
    # LDSSecurityObject: version, hashAlgorithm, SEQUENCE OF DataGroupHash
    lso = _seq(read_tlv(econtent)[1])
    hash_alg = HASH_OIDS.get(oid_str(_seq(lso[1][1])[0][1]), "")
    if not hash_alg:
        raise _bad("LDS security object uses an unknown hash algorithm")
    dgh: dict[int, bytes] = {}
    for _t, item in _seq(lso[2][1]):
        n, h = _seq(item)
        dgh[int.from_bytes(n[1], "big")] = h[1]
    return Sod(hash_alg, dgh, econtent, signed_attrs, md, digest_alg or hash_alg, sig_alg, signature, certs)


def _payload_of(sd: list[tuple[int, bytes]]) -> bytes:
    """Re-encode the optional [0]/[1] members of SignedData so certificates keep their raw DER."""
    from .codec import tlv

    return b"".join(tlv(t, v) for t, v in sd[3:-1])


@dataclass
class PaResult:
    hashes_ok: bool
    signature_ok: bool | None
    chain_ok: bool | None
    detail: str
    failed_groups: list[int]


def verify(sod: Sod, groups: dict[int, bytes], csca: list[x509.Certificate] | None = None) -> PaResult:
    """Hash check of every read data group; SignedData signature by the DSC in the SOD; DSC issued by a CSCA."""
    failed = [n for n, data in sorted(groups.items())
              if sod.dg_hashes.get(n) != hashlib.new(sod.hash_alg, data).digest()]
    notes = []
    if failed:
        notes.append("hash mismatch for DG" + ",".join(map(str, failed)))
    sig_ok: bool | None = None
    chain_ok: bool | None = None
    dsc = sod.certificates[0] if sod.certificates else None
    if dsc is None:
        notes.append("no document signer certificate in EF.SOD")
    else:
        try:
            md_ok = True
            if sod.signed_attrs is not None:
                md_ok = sod.message_digest == hashlib.new(sod.digest_alg, sod.econtent).digest()
                signed = sod.signed_attrs
            else:
                signed = sod.econtent
            h = _HASHES[SIG_HASH.get(sod.sig_alg, sod.digest_alg)]()
            key = dsc.public_key()
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(sod.signature, signed, ec.ECDSA(h))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(sod.signature, signed, padding.PKCS1v15(), h)
            else:
                raise InvalidSignature()
            sig_ok = md_ok
            if not md_ok:
                notes.append("messageDigest does not match the security object")
        except (InvalidSignature, KeyError, ValueError, TypeError):
            sig_ok = False
            notes.append("SOD signature does not verify")
        if csca:
            chain_ok = False
            for ca in csca:
                try:
                    dsc.verify_directly_issued_by(ca)
                    chain_ok = True
                    break
                except (ValueError, TypeError, InvalidSignature):
                    continue
            if not chain_ok:
                notes.append("document signer not issued by a configured CSCA")
    return PaResult(not failed, sig_ok, chain_ok, "; ".join(notes) or "ok", failed)


def load_csca_store(path: str) -> list[x509.Certificate]:
    """PEM/DER certificates from a file or every file of a directory (``configError`` if unreadable)."""
    p = Path(path)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    out: list[x509.Certificate] = []
    try:
        for f in files:
            raw = f.read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in raw:
                out.extend(x509.load_pem_x509_certificates(raw))
            else:
                out.append(x509.load_der_x509_certificate(raw))
    except (OSError, ValueError):
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "cannot read the CSCA store", field="cscaStore") from None
    return out
