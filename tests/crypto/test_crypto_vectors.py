"""Official SM2/SM3/SM4 examples (values as listed in the reference, §1).

SM3: GB/T 32905-2016 Annex A.  SM4: GB/T 32907-2016 Annex A.  SM2 on the recommended
curve: GM/T 0003.5-2012 / GB/T 32918.5-2017 Annex A.  SM2 test curve: GM/T 0003.2-2012 /
GB/T 32918.2-2016 Annex A.
"""

from __future__ import annotations

import _crypto_ref as ref
import pytest

from gtsdk.crypto import DEFAULT_UID, SM2PrivateKey, SM2PublicKey, formats, hmac_sm3, sm3, sm4
from gtsdk.crypto.hashing import SM3
from gtsdk.errors import GtsdkError


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


# ---- SM3 (GB/T 32905-2016 Annex A)


def test_sm3_abc() -> None:
    assert sm3(b"abc") == h("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")


def test_sm3_abcd_x16() -> None:
    want = h("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
    assert sm3(b"abcd" * 16) == want
    inc = SM3()
    for _ in range(16):
        inc.update(b"abcd")
    assert inc.digest() == want


def test_hmac_sm3_matches_rfc2104_construction() -> None:
    # HMAC (RFC 2104) built by hand on the SM3 vector-checked hash, 64-byte block.
    key, msg = b"k" * 20, b"message"
    k0 = key.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in k0)
    opad = bytes(b ^ 0x5C for b in k0)
    assert hmac_sm3(key, msg) == ref.sm3(opad + ref.sm3(ipad + msg))


# ---- SM4 (GB/T 32907-2016 Annex A)

SM4_KEY = h("0123456789abcdeffedcba9876543210")


def test_sm4_example1() -> None:
    assert sm4.ecb_encrypt(SM4_KEY, SM4_KEY) == h("681edf34d206965e86b3e94f536e4246")
    assert sm4.ecb_decrypt(SM4_KEY, h("681edf34d206965e86b3e94f536e4246")) == SM4_KEY


@pytest.mark.slow
def test_sm4_example2_million_iterations() -> None:
    blk = sm4.SM4Block(SM4_KEY)
    x = SM4_KEY
    for _ in range(1_000_000):
        x = blk.encrypt_block(x)
    assert x == h("595298c7c6fd271f0402f804c33d3f66")


# ---- SM2 recommended curve (GB/T 32918.5-2017 Annex A)

D = h("3945208F 7B2144B1 3F36E38A C6D39F95 88939369 2860B51A 42FB81EF 4DF7C5B8")
XA = h("09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020")
YA = h("CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13")
ZA = h("B2E14C5C 79C6DF5B 85F4FE7E D8DB7A26 2B9DA7E0 7CCB0EA9 F4747B8C CDA8A4F3")
E = h("F0B43E94 BA45ACCA ACE692ED 534382EB 17E6AB5A 19CE7B31 F4486FDF C0D28640")
K = int("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21", 16)
R = h("F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3")
S = h("B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA")
SIG_DER = h("3046022100") + R + h("022100") + S

C1 = h(
    "04 04EBFC71 8E8D1798 62043226 8E77FEB6 415E2EDE 0E073C0F 4F640ECD 2E149A73"
    " E858F9D8 1E5430A5 7B36DAAB 8F950A3C 64E6EE6A 63094D99 283AFF76 7E124DF0"
)
C2 = h("21886CA9 89CA9C7D 58087307 CA93092D 651EFA")
C3 = h("59983C18 F809E262 923C53AE C295D303 83B54E39 D609D160 AFCB1908 D0BD8766")
CT_DER = h("307C0220") + C1[1:33] + h("022100") + C1[33:] + h("0420") + C3 + h("0413") + C2


def test_sm2_public_key_and_za() -> None:
    key = SM2PrivateKey.from_bytes(D)
    assert key.public_key().point == b"\x04" + XA + YA
    assert key.public_key().za(DEFAULT_UID) == ZA
    assert key.public_key().za("1234567812345678") == ZA
    assert key.public_key().digest(b"message digest") == E


def test_sm2_signature_vector_reproduced_by_reference_and_verified_by_gtsdk() -> None:
    c = ref.SM2P256V1
    r, s = ref.sign(c, int.from_bytes(D, "big"), b"message digest", DEFAULT_UID, K)
    assert (r.to_bytes(32, "big"), s.to_bytes(32, "big")) == (R, S)
    assert formats.encode_signature(r, s) == SIG_DER  # both INTEGERs carry a 0x00 pad
    pub = SM2PublicKey(b"\x04" + XA + YA)
    assert pub.verify(SIG_DER, b"message digest")
    assert pub.verify_digest(SIG_DER, E)
    assert not pub.verify(SIG_DER, b"message digesT")
    assert not pub.verify(SIG_DER, b"message digest", uid=b"ALICE123@YAHOO.COM")
    assert formats.signature_der_to_raw(SIG_DER) == R + S
    assert formats.signature_raw_to_der(R + S) == SIG_DER


def test_sm2_encryption_vector() -> None:
    c = ref.SM2P256V1
    c1, c3, c2 = ref.encrypt(c, (int.from_bytes(XA, "big"), int.from_bytes(YA, "big")), b"encryption standard", K)
    assert (c1, c3, c2) == (C1, C3, C2)
    # The DER form: x1 starts with byte 04 and is a 32-byte INTEGER; y1 needs a 0x00 pad.
    assert len(CT_DER) == 0x7E
    parsed = formats.parse_ciphertext(CT_DER)
    assert (parsed.c1, parsed.c3, parsed.c2) == (C1, C3, C2)
    assert parsed.to_der() == CT_DER
    assert SM2PrivateKey.from_bytes(D).decrypt(CT_DER) == b"encryption standard"
    # Converters, both orders, with and without the 04 byte: never confused by x1 starting with 04.
    for order, raw in (("C1C3C2", C1 + C3 + C2), ("C1C2C3", C1 + C2 + C3)):
        for prefix in (True, False):
            blob = raw if prefix else raw[1:]
            assert formats.ciphertext_der_to_raw(CT_DER, order=order, c1_prefix=prefix) == blob  # type: ignore[arg-type]
            assert formats.ciphertext_raw_to_der(blob, order=order, c1_prefix=prefix) == CT_DER  # type: ignore[arg-type]


def test_sm2_encryption_vector_tampered_c2_and_c3_rejected() -> None:
    key = SM2PrivateKey.from_bytes(D)
    for bad in (C2[:-1] + bytes([C2[-1] ^ 1]), C2):
        c3 = C3 if bad != C2 else C3[:-1] + bytes([C3[-1] ^ 1])
        der = formats.SM2Ciphertext(int.from_bytes(C1[1:33], "big"), int.from_bytes(C1[33:], "big"), c3, bad).to_der()
        with pytest.raises(GtsdkError) as ei:
            key.decrypt(der)
        assert ei.value.code == "invalidData" and ei.value.detail == "cryptographic data rejected"


def test_sm2_test_curve_signature_vector() -> None:
    """GB/T 32918.2-2016 Annex A on the Fp-256 test curve, checked with the reference (ZA, r, s)."""
    c = ref.TEST_CURVE
    d = int("128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263", 16)
    k = int("6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F", 16)
    pub = ref.mul(c, d, (c.gx, c.gy))
    assert pub is not None
    assert ref.za(c, b"ALICE123@YAHOO.COM", pub) == h(
        "F4A38489 E32B45B6 F876E3AC 2168CA39 2362DC8F 23459C1D 1146FC3D BFB7BC9A"
    )
    r, s = ref.sign(c, d, b"message digest", b"ALICE123@YAHOO.COM", k)
    assert r == int("40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1", 16)
    assert s == int("6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7", 16)


def test_reference_agrees_with_gtsdk_on_random_keys() -> None:
    """gtsdk signatures verify in the independent reference arithmetic (s·G + t·P check)."""
    c = ref.SM2P256V1
    for msg in (b"", b"x", b"kiosk" * 50):
        key = SM2PrivateKey.generate()
        pub = key.public_key().point
        P = (int.from_bytes(pub[1:33], "big"), int.from_bytes(pub[33:], "big"))
        r, s = formats.parse_signature(key.sign(msg))
        e = int.from_bytes(ref.sm3(ref.za(c, DEFAULT_UID, P) + msg), "big")
        t = (r + s) % c.n
        pt = ref.add(c, ref.mul(c, s, (c.gx, c.gy)), ref.mul(c, t, P))
        assert pt is not None and (e + pt[0]) % c.n == r
