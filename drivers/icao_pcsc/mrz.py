"""Machine readable zones: ICAO 9303 TD3 (passports), TD1 cards, and the Chinese permits
(one-line 30-character ``CS``/``CD`` 往来港澳/台湾通行证, three-line ``CR``/``CT``).

Layouts: ICAO Doc 9303 parts 4-5 (TD3/TD1); CS/CD/CR/CT after Johann356/readinfo ``MRTD.cpp``
(docs/protocols.md 2.1; the CS samples there verify against the ICAO check digits).
Pure string <-> value code; every malformed MRZ raises ``GtsdkError(invalidData, field="mrz")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gtsdk.errors import ErrorCode, GtsdkError

_ALPHABET = re.compile(r"^[A-Z0-9<]+$")
WEIGHTS = (7, 3, 1)


def char_value(c: str) -> int:
    """ICAO 9303-3 4.9: digits as value, A-Z = 10..35, '<' = 0."""
    if "0" <= c <= "9":
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55
    if c == "<":
        return 0
    raise ValueError(f"not an MRZ character: {c!r}")


def check_digit(s: str) -> str:
    return str(sum(char_value(c) * WEIGHTS[i % 3] for i, c in enumerate(s)) % 10)


def _bad(detail: str) -> GtsdkError:
    return GtsdkError(ErrorCode.INVALID_DATA, detail, field="mrz")


@dataclass(frozen=True)
class MrzData:
    document_type: str
    issuing_state: str
    document_number: str
    document_number_cd: str
    birth: str  # YYMMDD
    birth_cd: str
    expiry: str  # YYMMDD
    expiry_cd: str
    surname: str = ""
    given_names: str = ""
    nationality: str | None = None
    sex: str | None = None
    text: str = ""

    @property
    def bac_key(self) -> str:
        """MRZ_information of ICAO 9303-11 9.7.1: document number (>= 9, '<'-padded) + CD, birth + CD, expiry + CD."""
        return (self.document_number.ljust(9, "<") + self.document_number_cd + self.birth + self.birth_cd
                + self.expiry + self.expiry_cd)

    @property
    def birth_date(self) -> date:
        return yymmdd(self.birth, future=False)

    @property
    def expiry_date(self) -> date:
        return yymmdd(self.expiry, future=True)


def yymmdd(s: str, *, future: bool, today: date | None = None) -> date:
    """Two-digit year: birth dates are never in the future; expiry dates lie within 2000-2099
    unless that would put them > 50 years away (then 1900s)."""
    if len(s) != 6 or not s.isdigit():
        raise _bad("date is not YYMMDD")
    yy, mm, dd = int(s[:2]), int(s[2:4]), int(s[4:])
    now = today or date.today()
    if future:
        year = 2000 + yy if 2000 + yy <= now.year + 50 else 1900 + yy
    else:
        year = 2000 + yy if 2000 + yy <= now.year else 1900 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        raise _bad("date is not a calendar date") from None


def _checked(value: str, cd: str, what: str) -> None:
    if not cd.isdigit() or check_digit(value) != cd:
        raise _bad(f"{what} check digit does not match")


def _name(field: str) -> tuple[str, str]:
    sur, _, given = field.strip("<").partition("<<")
    return sur.replace("<", " ").strip(), given.replace("<", " ").strip()


def normalise(text: str) -> list[str]:
    lines = [ln.strip().replace(" ", "").upper() for ln in text.replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if len(lines) == 1 and len(lines[0]) in (60, 88, 90):  # lines joined without a separator
        n = {60: 30, 88: 44, 90: 30}[len(lines[0])]
        lines = [lines[0][i:i + n] for i in range(0, len(lines[0]), n)]
    for ln in lines:
        if not _ALPHABET.match(ln):
            raise _bad("MRZ holds characters outside A-Z 0-9 <")
    return lines


def parse(text: str) -> MrzData:
    lines = normalise(text)
    shape = tuple(len(ln) for ln in lines)
    if shape == (30,) and lines[0][:2] in ("CS", "CD"):
        return _parse_cs(lines[0])
    if shape == (44, 44):
        return _parse_td3(lines)
    if shape == (30, 30, 30):
        return _parse_cr(lines) if lines[0][:2] in ("CR", "CT") else _parse_td1(lines)
    raise _bad(f"unsupported MRZ shape {shape}")


def _parse_cs(ln: str) -> MrzData:
    # [0-1] type, [2-10] doc no, [11] CD, [12] '<', [13-18] expiry, [19] CD, [20] '<', [21-26] birth, [27] CD,
    # [28] '<', [29] composite CD over doc+CD+expiry+CD+birth+CD
    doc, dcd, exp, ecd, bir, bcd, comp = ln[2:11], ln[11], ln[13:19], ln[19], ln[21:27], ln[27], ln[29]
    _checked(doc, dcd, "document number")
    _checked(exp, ecd, "expiry date")
    _checked(bir, bcd, "birth date")
    _checked(doc + dcd + exp + ecd + bir + bcd, comp, "composite")
    m = MrzData(ln[:2], "CHN", doc.rstrip("<"), dcd, bir, bcd, exp, ecd, text=ln)
    m.birth_date, m.expiry_date  # noqa: B018 - validate the dates now
    return m


def _parse_td3(lines: list[str]) -> MrzData:
    l1, l2 = lines
    doc, dcd, nat, bir, bcd, sex, exp, ecd = l2[0:9], l2[9], l2[10:13], l2[13:19], l2[19], l2[20], l2[21:27], l2[27]
    opt, ocd, comp = l2[28:42], l2[42], l2[43]
    _checked(doc, dcd, "document number")
    _checked(bir, bcd, "birth date")
    _checked(exp, ecd, "expiry date")
    if ocd != "<" or opt.strip("<"):
        _checked(opt, ocd if ocd != "<" else "0", "optional data")
    _checked(doc + dcd + bir + bcd + exp + ecd + opt + ocd, comp, "composite")
    sur, given = _name(l1[5:])
    m = MrzData(l1[:2].rstrip("<"), l1[2:5].rstrip("<"), doc.rstrip("<"), dcd, bir, bcd, exp, ecd, sur, given,
                nat.rstrip("<"), sex if sex != "<" else None, "\n".join(lines))
    m.birth_date, m.expiry_date  # noqa: B018
    return m


def _parse_td1(lines: list[str]) -> MrzData:
    l1, l2, l3 = lines
    doc, dcd, opt1 = l1[5:14], l1[14], l1[15:30]
    bir, bcd, sex, exp, ecd, nat, comp = l2[0:6], l2[6], l2[7], l2[8:14], l2[14], l2[15:18], l2[29]
    if dcd == "<":  # long document number continues in the optional field (ICAO 9303-5 4.2.2 note j)
        ext, _, rest = opt1.partition("<")
        doc, dcd = doc + ext[:-1], ext[-1:] if ext else ""
        del rest
    _checked(doc, dcd, "document number")
    _checked(bir, bcd, "birth date")
    _checked(exp, ecd, "expiry date")
    _checked(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], comp, "composite")
    sur, given = _name(l3)
    m = MrzData(l1[:2].rstrip("<"), l1[2:5].rstrip("<"), doc.rstrip("<"), dcd, bir, bcd, exp, ecd, sur, given,
                nat.rstrip("<"), sex if sex != "<" else None, "\n".join(lines))
    m.birth_date, m.expiry_date  # noqa: B018
    return m


def _parse_cr(lines: list[str]) -> MrzData:
    # Johann356 MRTD.cpp: line 1 type [0-1], doc no [2-10] + CD [11], expiry [15-20] + CD [21], sex [22],
    # birth [23-28] + CD [29]; line 3 holds the name
    l1, _l2, l3 = lines
    doc, dcd, exp, ecd, sex, bir, bcd = l1[2:11], l1[11], l1[15:21], l1[21], l1[22], l1[23:29], l1[29]
    _checked(doc, dcd, "document number")
    _checked(exp, ecd, "expiry date")
    _checked(bir, bcd, "birth date")
    sur, given = _name(l3)
    m = MrzData(l1[:2], "CHN", doc.rstrip("<"), dcd, bir, bcd, exp, ecd, sur, given, None,
                sex if sex != "<" else None, "\n".join(lines))
    m.birth_date, m.expiry_date  # noqa: B018
    return m


def from_fields(document_number: str, birth: date, expiry: date) -> MrzData:
    """BAC input when the caller (or an OCR step) gives the three fields rather than the MRZ."""
    doc = document_number.strip().upper()
    if not doc or len(doc) > 20 or not _ALPHABET.match(doc):
        raise GtsdkError(ErrorCode.INVALID_DATA, "document number must be A-Z/0-9", field="documentNumber")
    b, e = birth.strftime("%y%m%d"), expiry.strftime("%y%m%d")
    d9 = doc.ljust(9, "<")
    return MrzData("", "", doc, check_digit(d9), b, check_digit(b), e, check_digit(e))


# ---- builders (simulator, tests) ---------------------------------------------------------------


def _field(s: str, n: int) -> str:
    s = s.upper().replace(" ", "<")
    if len(s) > n:
        raise ValueError(f"{s!r} longer than {n}")
    return s.ljust(n, "<")


def build_td3(doc_type: str, state: str, surname: str, given: str, number: str, nationality: str, birth: str,
              sex: str, expiry: str, optional: str = "") -> str:
    l1 = _field(doc_type, 2) + _field(state, 3) + _field(surname + "<<" + given.replace(" ", "<"), 39)
    doc, opt = _field(number, 9), _field(optional, 14)
    ocd = check_digit(opt) if optional else "<"
    body = doc + check_digit(doc) + _field(nationality, 3) + birth + check_digit(birth) + (sex or "<") + expiry \
        + check_digit(expiry) + opt + ocd
    comp = check_digit(doc + check_digit(doc) + birth + check_digit(birth) + expiry + check_digit(expiry) + opt + ocd)
    return l1 + "\n" + body + comp


def build_cs(doc_type: str, number: str, expiry: str, birth: str) -> str:
    doc = _field(number, 9)
    part = doc + check_digit(doc) + "<" + expiry + check_digit(expiry) + "<" + birth + check_digit(birth) + "<"
    comp = check_digit(doc + check_digit(doc) + expiry + check_digit(expiry) + birth + check_digit(birth))
    return doc_type + part + comp


def build_cr(doc_type: str, number: str, expiry: str, sex: str, birth: str, id_number: str, surname: str,
             given: str) -> str:
    doc = _field(number, 9)
    l1 = doc_type + doc + check_digit(doc) + "<<<" + expiry + check_digit(expiry) + sex + birth + check_digit(birth)
    l2 = "<" * 19 + _field(id_number, 11)
    l3 = _field(surname + "<<" + given.replace(" ", "<"), 30)
    return "\n".join([l1, l2, l3])
