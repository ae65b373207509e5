"""GB/T 35275-2017 (= GM/T 0010-2012) EnvelopedData and SignedAndEnvelopedData in DER.

PKCS#7 v1.5 syntax with the Chinese OIDs (GB/T 35275; OIDs from GM/T 0006 / GB/T 33560)::

    ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ... }
    EnvelopedData ::= SEQUENCE { version INTEGER, recipientInfos SET OF RecipientInfo,
                                 encryptedContentInfo EncryptedContentInfo }
    SignedAndEnvelopedData ::= SEQUENCE { version, recipientInfos, digestAlgorithms SET,
                                 encryptedContentInfo, certificates [0] IMPLICIT OPTIONAL,
                                 crls [1] IMPLICIT OPTIONAL, signerInfos SET OF SignerInfo }
    RecipientInfo ::= SEQUENCE { version INTEGER (1), issuerAndSerialNumber,
                                 keyEncryptionAlgorithm (sm2-3), encryptedKey OCTET STRING }
    EncryptedContentInfo ::= SEQUENCE { contentType OID (data), contentEncryptionAlgorithm
                                 (sm4-cbc, IV), encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL,
                                 sharedInfo1 [1] IMPLICIT OPTIONAL, sharedInfo2 [2] IMPLICIT OPTIONAL }
    SignerInfo ::= SEQUENCE { version, issuerAndSerialNumber, digestAlgorithm (sm3),
                              authenticatedAttributes [0] IMPLICIT OPTIONAL,
                              digestEncryptionAlgorithm (sm2-1), encryptedDigest OCTET STRING,
                              unauthenticatedAttributes [1] IMPLICIT OPTIONAL }

Choices (see docs/crypto.md):

* key encryption OID: emits ``1.2.156.10197.1.301.3`` (SM2-3, GM/T 0006); accepts ``.301.2``
  (what GmSSL 3.1 writes) and ``.301``; ``compat="gmssl"`` emits ``.301.2``, omits NULL
  algorithm parameters and names the signature ``1.2.156.10197.1.501``, which is what GmSSL 3.1's
  parser requires (checked with its ``cmsdecrypt``/``cmsparse``);
* content: SM4-CBC (``1.2.156.10197.1.104.2``, parameter = 16-byte IV) with PKCS#7 padding,
  a fresh 16-byte key per message; encryptedKey is the DER SM2Cipher of that key;
* signature (SignedAndEnvelopedData): SM2 with ZA (default user ID) over the content octets,
  encryptedDigest = DER SM2Signature (as emmansun/gmsm does); algorithm identifiers carry NULL
  parameters on output, absent or NULL accepted;
* recipients/signers are named by IssuerAndSerialNumber from their certificate when one is
  given; for a bare key gtsdk writes issuer ``CN=gtsdk SM2 key`` and serial = first 16 bytes
  of ``SM3(04‖x‖y)``.

Every parse, decryption or verification failure raises the one ``invalidData`` error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gtsdk.crypto import _der, sm4
from gtsdk.crypto._errors import bad_argument, rejected
from gtsdk.crypto.hashing import sm3
from gtsdk.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from gtsdk.errors import GtsdkError

OID_DATA = "1.2.156.10197.6.1.4.2.1"
OID_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
OID_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.3"
OID_SIGNED_AND_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.4"
OID_SM4_CBC = "1.2.156.10197.1.104.2"
OID_SM2 = "1.2.156.10197.1.301"
OID_SM2_SIGN = "1.2.156.10197.1.301.1"
OID_SM2_GMSSL_ENCRYPT = "1.2.156.10197.1.301.2"
OID_SM2_ENCRYPT = "1.2.156.10197.1.301.3"
OID_SM3 = "1.2.156.10197.1.401"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_CN = "2.5.4.3"

KEY_ENCRYPTION_ACCEPTED = frozenset({OID_SM2_ENCRYPT, OID_SM2_GMSSL_ENCRYPT, OID_SM2})
SIGNATURE_ACCEPTED = frozenset({OID_SM2_SIGN, OID_SM2_WITH_SM3})
MAX_RECIPIENTS = 32
MAX_SIGNERS = 8

Compat = Literal["standard", "gmssl"]


def _alg(oid: str, param: bytes | None = None, *, null: bool = True) -> bytes:
    if param is None:
        return _der.seq(_der.oid(oid), _der.null()) if null else _der.seq(_der.oid(oid))
    return _der.seq(_der.oid(oid), param)


def _alg_oid(t: _der.Tlv) -> str:
    """OID of an AlgorithmIdentifier whose parameters must be absent or NULL."""
    oid, param = _read_alg(t)
    if param is not None:
        raise rejected()
    return oid


def _read_alg(t: _der.Tlv) -> tuple[str, _der.Tlv | None]:
    items = _der.children(_der.expect(t, _der.SEQUENCE), min_n=1, max_n=2)
    oid = _der.as_oid(items[0])
    if len(items) == 1:
        return oid, None
    if items[1].tag == _der.NULL:
        _der.as_null(items[1])
        return oid, None
    return oid, items[1]


def key_identifier(key: SM2PublicKey) -> bytes:
    """IssuerAndSerialNumber that names a bare key (no certificate)."""
    name = _der.seq(_der.set_of(_der.seq(_der.oid(OID_CN), _der.tlv(_der.UTF8_STRING, b"gtsdk SM2 key"))))
    serial = int.from_bytes(sm3(key.point)[:16], "big") >> 1  # positive, at most 127 bits
    return _der.seq(name, _der.integer(serial or 1))


def certificate_identifier(cert_der: bytes) -> bytes:
    """IssuerAndSerialNumber of an X.509 certificate (DER)."""
    tbs = _tbs(cert_der)
    i = 1 if tbs[0].tag == 0xA0 else 0
    _der.as_int(tbs[i], nonneg=False)
    _der.expect(tbs[i + 2], _der.SEQUENCE)
    return _der.seq(tbs[i + 2].raw, tbs[i].raw)


def certificate_public_key(cert_der: bytes) -> SM2PublicKey:
    """The SM2 public key in an X.509 certificate (no chain or validity check)."""
    tbs = _tbs(cert_der)
    i = 1 if tbs[0].tag == 0xA0 else 0
    return SM2PublicKey.from_der(_der.expect(tbs[i + 5], _der.SEQUENCE).raw)


def _tbs(cert_der: bytes) -> list[_der.Tlv]:
    try:
        cert = _der.children(_der.parse(cert_der, _der.SEQUENCE), 3)
        tbs = _der.children(_der.expect(cert[0], _der.SEQUENCE), min_n=6)
    except _der.DerError:
        raise rejected() from None
    return tbs


def _sm2_cert(cert_der: bytes) -> tuple[SM2PublicKey, bytes] | None:
    """(key, IssuerAndSerialNumber) of an embedded certificate, or None if it is not an SM2 certificate."""
    try:
        return certificate_public_key(cert_der), certificate_identifier(cert_der)
    except (GtsdkError, _der.DerError, IndexError):
        return None


@dataclass(frozen=True)
class CmsOpened:
    """Result of :func:`open_der`."""

    payload: bytes
    content_type: str
    signed: bool
    verified: bool
    signer: SM2PublicKey | None = None


def seal_der(
    payload: bytes,
    recipients: SM2PublicKey | Sequence[SM2PublicKey],
    *,
    sign_key: SM2PrivateKey | None = None,
    recipient_certs: Sequence[bytes | None] | None = None,
    signer_cert: bytes | None = None,
    compat: Compat = "standard",
) -> bytes:
    """EnvelopedData (or SignedAndEnvelopedData when *sign_key* is given) as a DER ContentInfo."""
    rcpts = [recipients] if isinstance(recipients, SM2PublicKey) else list(recipients)
    if not 1 <= len(rcpts) <= MAX_RECIPIENTS:
        raise bad_argument("between 1 and 32 recipients")
    certs = list(recipient_certs or [None] * len(rcpts))
    if len(certs) != len(rcpts):
        raise bad_argument("recipient_certs must match recipients")
    kek_oid = OID_SM2_GMSSL_ENCRYPT if compat == "gmssl" else OID_SM2_ENCRYPT
    null = compat != "gmssl"  # GmSSL 3.1 refuses NULL parameters
    cek = os.urandom(sm4.KEY_SIZE)
    iv = os.urandom(sm4.BLOCK_SIZE)
    infos = []
    for pub, cert in zip(rcpts, certs, strict=True):
        rid = certificate_identifier(cert) if cert else key_identifier(pub)
        infos.append(_der.seq(_der.integer(1), rid, _alg(kek_oid, null=null), _der.octets(pub.encrypt(cek))))
    eci = _der.seq(
        _der.oid(OID_DATA),
        _alg(OID_SM4_CBC, _der.octets(iv)),
        _der.implicit_prim(0, sm4.cbc_encrypt(cek, iv, bytes(payload))),
    )
    ris = _der.set_of(*infos)
    if sign_key is None:
        body = _der.seq(_der.integer(1), ris, eci)
        return _der.seq(_der.oid(OID_ENVELOPED_DATA), _der.explicit(0, body))
    sid = certificate_identifier(signer_cert) if signer_cert else key_identifier(sign_key.public_key())
    signer = _der.seq(
        _der.integer(1),
        sid,
        _alg(OID_SM3, null=null),
        _alg(OID_SM2_WITH_SM3 if compat == "gmssl" else OID_SM2_SIGN, null=null),
        _der.octets(sign_key.sign(bytes(payload))),
    )
    parts = [_der.integer(1), ris, _der.set_of(_alg(OID_SM3, null=null)), eci]
    if signer_cert:
        parts.append(_der.implicit_cons(0, signer_cert))
    parts.append(_der.set_of(signer))
    return _der.seq(_der.oid(OID_SIGNED_AND_ENVELOPED_DATA), _der.explicit(0, _der.seq(*parts)))


def open_der(
    blob: bytes,
    key: SM2PrivateKey,
    *,
    sender: SM2PublicKey | None = None,
    recipient_cert: bytes | None = None,
) -> CmsOpened:
    """Open EnvelopedData / SignedAndEnvelopedData for *key*.

    The RecipientInfo used is the one named like *key* (by *recipient_cert* if the message was
    sealed to a certificate, else by :func:`key_identifier`).  With *sender*, the message must be
    SignedAndEnvelopedData with a valid signature by that key, named by :func:`key_identifier` or by
    an embedded certificate for that key.  Without *sender*, a signature is verified against the
    signer certificate embedded in the message (``verified=True``, ``signer`` set — the caller still
    decides whether to trust that key); if there is no certificate the signature cannot be checked
    and ``verified`` is False.
    """
    try:
        my_rid = certificate_identifier(recipient_cert) if recipient_cert else key_identifier(key.public_key())
        return _open(bytes(blob), key, sender, my_rid)
    except (GtsdkError, _der.DerError, ValueError, TypeError, IndexError):
        raise rejected() from None


def _open(blob: bytes, key: SM2PrivateKey, sender: SM2PublicKey | None, my_rid: bytes) -> CmsOpened:
    top = _der.children(_der.parse(blob, _der.SEQUENCE), 2)
    ctype = _der.as_oid(top[0])
    content = _der.children(_der.expect(top[1], 0xA0), 1)[0]
    if ctype == OID_ENVELOPED_DATA:
        items = _der.children(_der.expect(content, _der.SEQUENCE), 3)
        signed = False
        ris_t, eci_t = items[1], items[2]
        certs: list[bytes] = []
        signer_infos: list[_der.Tlv] = []
    elif ctype == OID_SIGNED_AND_ENVELOPED_DATA:
        items = _der.children(_der.expect(content, _der.SEQUENCE), min_n=5, max_n=7)
        signed = True
        ris_t, eci_t = items[1], items[3]
        digests = _der.children(_der.expect(items[2], _der.SET), min_n=1, max_n=MAX_SIGNERS)
        for d in digests:
            if _alg_oid(d) != OID_SM3:
                raise rejected()
        certs = []
        rest = items[4:]
        if rest and rest[0].tag == 0xA0:
            certs = [c.raw for c in _der.children(rest[0], max_n=16)]
            rest = rest[1:]
        if rest and rest[0].tag == 0xA1:
            rest = rest[1:]
        if len(rest) != 1:
            raise rejected()
        signer_infos = _der.children(_der.expect(rest[0], _der.SET), min_n=1, max_n=MAX_SIGNERS)
    else:
        raise rejected()
    if _der.as_int(items[0]) not in (0, 1):
        raise rejected()
    ris = _der.children(_der.expect(ris_t, _der.SET), min_n=1, max_n=MAX_RECIPIENTS)
    wrapped: list[bytes] = []
    for ri in ris:
        f = _der.children(_der.expect(ri, _der.SEQUENCE), 4)
        if _der.as_int(f[0]) not in (0, 1) or _alg_oid(f[2]) not in KEY_ENCRYPTION_ACCEPTED:
            raise rejected()
        _der.expect(f[1], _der.SEQUENCE)
        if f[1].raw == my_rid:
            wrapped.append(_der.as_octets(f[3]))
    e = _der.children(_der.expect(eci_t, _der.SEQUENCE), min_n=3, max_n=5)
    if _der.as_oid(e[0]) != OID_DATA:
        raise rejected()
    alg, param = _read_alg(e[1])
    if alg != OID_SM4_CBC or param is None:
        raise rejected()
    iv = _der.as_octets(param)
    if len(iv) != sm4.BLOCK_SIZE or e[2].tag != 0x80:
        raise rejected()
    for extra, tag in zip(e[3:], (0x81, 0x82), strict=False):
        if extra.tag != tag:
            raise rejected()
    ciphertext = e[2].value
    cek: bytes | None = None
    for w in wrapped:
        try:
            cek = key.decrypt(w)
            break
        except GtsdkError:
            continue
    if cek is None or len(cek) != sm4.KEY_SIZE:
        raise rejected()
    payload = sm4.cbc_decrypt(cek, iv, ciphertext)
    if not signed:
        if sender is not None:
            raise rejected()
        return CmsOpened(payload, ctype, False, False)
    # (key, the SignerIdentifiers that may name it)
    embedded = [kc for kc in (_sm2_cert(c) for c in certs) if kc is not None]  # other algorithms are skipped
    candidates: list[tuple[SM2PublicKey, set[bytes]]] = []
    if sender is not None:
        ids = {key_identifier(sender)}
        ids.update(cid for k, cid in embedded if k == sender)
        candidates.append((sender, ids))
    else:
        candidates = [(k, {cid}) for k, cid in embedded]
    ok_signer: SM2PublicKey | None = None
    for si in signer_infos:
        f = _der.children(_der.expect(si, _der.SEQUENCE), min_n=5, max_n=7)
        if _der.as_int(f[0]) not in (0, 1) or _alg_oid(f[2]) != OID_SM3:
            raise rejected()
        _der.expect(f[1], _der.SEQUENCE)
        rest = f[3:]
        if rest[0].tag == 0xA0:
            raise rejected()  # authenticatedAttributes are not produced or accepted by this profile
        if _alg_oid(rest[0]) not in SIGNATURE_ACCEPTED:
            raise rejected()
        sig = _der.as_octets(rest[1])
        if (len(rest) == 3 and rest[2].tag != 0xA1) or len(rest) > 3:
            raise rejected()
        for cand, ids in candidates:
            if ok_signer is None and f[1].raw in ids and cand.verify(sig, payload):
                ok_signer = cand
    if sender is not None and ok_signer is None:
        raise rejected()
    if candidates and ok_signer is None:
        raise rejected()
    return CmsOpened(payload, ctype, True, ok_signer is not None, ok_signer)
