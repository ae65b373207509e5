"""The 256-byte UCS-2LE text block of the four card layouts (pure bytes <-> model).

Offsets and lengths (bytes) from docs/protocols.md 1.6: resident card (HslCommunication,
hevz, heavyii agree); 港澳台居民居住证 'J' and foreigner cards 'I'/'Y' after Johann356/readinfo
``PCSCGetData.h`` and the afzhan.com republication of the 2017 table.  The layout flag is
the character at byte 248.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.idcard import CardType, IdCardData

from .tables import NATION, SEX, id_number_valid

LONG_TERM = "长期"
FLAG_OFFSET = 248


@dataclass(frozen=True)
class Slot:
    name: str
    offset: int
    length: int  # bytes


# (field, offset, length) per layout; names are IdCardData fields or "extra.<key>"
RESIDENT = (
    Slot("name", 0, 30), Slot("sex_code", 30, 2), Slot("nation_code", 32, 4), Slot("birth_date", 36, 16),
    Slot("address", 52, 70), Slot("id_number", 122, 36), Slot("issuer", 158, 30), Slot("valid_from", 188, 16),
    Slot("valid_until", 204, 16), Slot("extra.reserved", 220, 28),
)
HMT = (
    Slot("name", 0, 30), Slot("sex_code", 30, 2), Slot("extra.reserved32", 32, 4), Slot("birth_date", 36, 16),
    Slot("address", 52, 70), Slot("id_number", 122, 36), Slot("issuer", 158, 30), Slot("valid_from", 188, 16),
    Slot("valid_until", 204, 16), Slot("pass_number", 220, 18), Slot("issue_count", 238, 4),
)
FOREIGNER_2017 = (
    Slot("name_en", 0, 120), Slot("sex_code", 120, 2), Slot("id_number", 122, 30), Slot("nationality", 152, 6),
    Slot("name", 158, 30), Slot("valid_from", 188, 16), Slot("valid_until", 204, 16), Slot("birth_date", 220, 16),
    Slot("card_version", 236, 4), Slot("issuer", 240, 8),
)
FOREIGNER_2023 = (
    Slot("name", 0, 30), Slot("sex_code", 30, 2), Slot("issue_count", 32, 4), Slot("birth_date", 36, 16),
    Slot("name_en", 52, 70), Slot("id_number", 122, 36), Slot("extra.reserved158", 158, 30),
    Slot("valid_from", 188, 16), Slot("valid_until", 204, 16), Slot("extra.name_en_cont", 220, 22),
    Slot("nationality", 242, 6), Slot("previous_card_ref", 250, 6),
)
LAYOUTS: dict[CardType, tuple[Slot, ...]] = {
    CardType.RESIDENT: RESIDENT,
    CardType.HMT_PERMIT: HMT,
    CardType.FOREIGNER_2017: FOREIGNER_2017,
    CardType.FOREIGNER_2023: FOREIGNER_2023,
}
FLAGS = {CardType.HMT_PERMIT: "J", CardType.FOREIGNER_2017: "I", CardType.FOREIGNER_2023: "Y"}


def card_type_of(text: bytes) -> CardType:
    if len(text) != 256:
        raise GtsdkError(ErrorCode.INVALID_DATA, f"text block is {len(text)} bytes, expected 256")
    flag = text[FLAG_OFFSET:FLAG_OFFSET + 2]
    for ct, ch in FLAGS.items():
        if flag == ch.encode("utf-16-le"):
            return ct
    if flag in (b" \x00", b"\x00\x00"):  # resident cards: ' ' per Johann356, 00 00 on older cards
        return CardType.RESIDENT
    raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"unknown card layout flag {flag.hex()}")


def _str(text: bytes, s: Slot) -> str:
    try:
        v = text[s.offset:s.offset + s.length].decode("utf-16-le")
    except UnicodeDecodeError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "text field is not UCS-2", field=_wire(s.name)) from None
    return v.rstrip(" \x00")


def _wire(name: str) -> str:
    head, *rest = name.replace("extra.", "").split("_")
    return head + "".join(p.title() for p in rest)


def _date(v: str, s: Slot) -> date:
    if len(v) != 8 or not v.isascii() or not v.isdigit():
        raise GtsdkError(ErrorCode.INVALID_DATA, "date field is not YYYYMMDD", field=_wire(s.name))
    try:
        return date(int(v[:4]), int(v[4:6]), int(v[6:]))
    except ValueError:
        raise GtsdkError(ErrorCode.INVALID_DATA, "date field is not a calendar date", field=_wire(s.name)) from None


def parse_text(text: bytes, *, check_digit: bool = True) -> IdCardData:
    """Decode a text block; ``invalidData`` (naming the field) for anything malformed."""
    ct = card_type_of(text)
    raw: dict[str, str] = {}
    extra: dict[str, str] = {}
    for s in LAYOUTS[ct]:
        v = _str(text, s)
        if s.name.startswith("extra."):
            if v:
                extra[s.name[6:]] = v
        else:
            raw[s.name] = v
    out: dict[str, object] = {"card_type": ct}
    _coded(raw, out)
    _dates(raw, out, {s.name: s for s in LAYOUTS[ct]})
    if "issue_count" in raw:
        ic = raw.pop("issue_count")
        if ic:
            if not ic.isascii() or not ic.isdigit():
                raise GtsdkError(ErrorCode.INVALID_DATA, "issue count is not a number", field="issueCount")
            out["issue_count"] = int(ic)
    if ct is CardType.FOREIGNER_2023 and "name_en_cont" in extra:
        raw["name_en"] = raw.get("name_en", "") + extra.pop("name_en_cont")
    for k, v in raw.items():
        if v or k in ("name", "id_number"):
            out[k] = v
    if not out.get("name"):
        out["name"] = raw.get("name_en", "")
    _check_number(ct, str(out["id_number"]), check_digit)
    out["extra"] = extra
    return IdCardData.model_validate(out)


def _coded(raw: dict[str, str], out: dict[str, object]) -> None:
    """Sex (GB/T 2261.1) and nation (GB/T 3304) codes with their names."""
    sex_code = raw.pop("sex_code")
    out["sex_code"] = sex_code
    out["sex"] = SEX.get(sex_code, "未知的性别")
    if sex_code not in SEX:
        raise GtsdkError(ErrorCode.INVALID_DATA, "sex code not in GB/T 2261.1", field="sexCode")
    if "nation_code" in raw:
        nc = raw.pop("nation_code")
        if nc not in NATION:
            raise GtsdkError(ErrorCode.INVALID_DATA, "nation code not in GB/T 3304", field="nationCode")
        out["nation_code"], out["nation"] = nc, NATION[nc]


def _dates(raw: dict[str, str], out: dict[str, object], slots: dict[str, Slot]) -> None:
    """Birth date and validity; ``长期`` as the end of validity is a long-term card."""
    for key in ("birth_date", "valid_from"):
        out[key] = _date(raw.pop(key), slots[key])
    until = raw.pop("valid_until")
    if until == LONG_TERM:
        out["long_term"] = True
    else:
        out["valid_until"] = _date(until, slots["valid_until"])


def _check_number(ct: CardType, number: str, check_digit: bool) -> None:
    if ct is not CardType.FOREIGNER_2017 and check_digit and not id_number_valid(number):
        # GB 11643 check (18 digits; 'J' and 'Y' cards use the same MOD 11-2 rule)
        raise GtsdkError(ErrorCode.INVALID_DATA, "identity number check digit (GB 11643) does not match",
                         field="idNumber")
    if ct is CardType.FOREIGNER_2017 and (len(number) != 15 or not number.isascii() or not number.isalnum()):
        raise GtsdkError(ErrorCode.INVALID_DATA, "permanent residence number is not 15 characters", field="idNumber")


def build_text(fields: dict[str, str], card_type: CardType) -> bytes:
    """Encode a text block from raw strings (simulator and tests); inverse of :func:`parse_text`."""
    buf = bytearray(" ".encode("utf-16-le") * 128)
    for s in LAYOUTS[card_type]:
        v = fields.get(s.name, "")
        b = v.encode("utf-16-le")
        if len(b) > s.length:
            raise ValueError(f"{s.name} longer than {s.length // 2} characters")
        buf[s.offset:s.offset + len(b)] = b
    flag = FLAGS.get(card_type, " ")
    buf[FLAG_OFFSET:FLAG_OFFSET + 2] = flag.encode("utf-16-le")
    return bytes(buf)


def raw_fields(data: IdCardData) -> dict[str, str]:
    """The raw strings :func:`build_text` needs to reproduce *data* (for round-trip tests)."""
    f: dict[str, str] = {}
    for k in ("name", "sex_code", "nation_code", "address", "id_number", "issuer", "pass_number", "nationality",
              "card_version", "previous_card_ref"):
        v = getattr(data, k)
        if v is not None:
            f[k] = v
    if data.name_en is not None:
        if data.card_type is CardType.FOREIGNER_2023:
            f["name_en"], f["extra.name_en_cont"] = data.name_en[:35], data.name_en[35:]
        else:
            f["name_en"] = data.name_en
    f["birth_date"] = data.birth_date.strftime("%Y%m%d")
    f["valid_from"] = data.valid_from.strftime("%Y%m%d")
    f["valid_until"] = LONG_TERM if data.long_term or data.valid_until is None else data.valid_until.strftime("%Y%m%d")
    if data.issue_count is not None:
        f["issue_count"] = str(data.issue_count).zfill(2)
    for k, v in data.extra.items():
        f["extra." + k] = v
    return f
