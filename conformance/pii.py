"""Finding personal data in text: what the certifier scans every reply, header, event and
audit export for, and what it masks out of its own reports.

* citizen ID numbers (GB 11643-1999): 17 digits and a check digit (ISO 7064 MOD 11-2) with a
  plausible birth date, wherever they stand (``ID110101…`` too) but not inside a long hex run
  (a hash) — an 18-digit number with a valid check digit is treated as an ID number;
* machine readable zone lines (ICAO Doc 9303 TD1/TD2/TD3 and the one-line Chinese permits):
  runs of 30–44 characters of ``A–Z 0–9 <`` with filler characters;
* passport and permit numbers (the Chinese ``E``/``G`` passports, ``E`` + letter + 7 digits,
  ``C``/``H``/``M``/``T`` permits, the 15-character foreigner permanent residence number) and any
  document number the certifier has read from a document;
* names: those of the sample cards of gtsdk's simulators and any name the certifier has read
  from a card or document during the run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID = re.compile(r"(?<![0-9])(\d{17}[0-9Xx])(?![0-9])")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{32,}")
_MRZ = re.compile(r"(?<![A-Za-z0-9<])([A-Z0-9<]{30,44})(?![A-Za-z0-9<])")
_PASSPORT = re.compile(r"(?<![A-Za-z0-9_])(E[A-HJ-NP-Z]\d{7}|[CEGHMT]\d{8}|[HM]\d{10}|[A-Z]{3}\d{12})"
                       r"(?![A-Za-z0-9_])")


def check_digit(first17: str) -> str:
    """GB 11643-1999 check character of the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_id_number(s: str) -> bool:
    """18 characters, a valid check digit and a birth date between 1900 and today."""
    if len(s) != 18 or not s[:17].isdigit() or check_digit(s[:17]) != s[17].upper():
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _in_digest(text: str, start: int, end: int) -> bool:
    """Inside a long hex run (a hash or a request id): digits there are no ID number."""
    left = start
    while left > 0 and text[left - 1] in "0123456789abcdefABCDEF":
        left -= 1
    right = end
    while right < len(text) and text[right] in "0123456789abcdefABCDEF":
        right += 1
    return _HEX_RUN.fullmatch(text[left:right]) is not None


def _id_at(text: str, m: re.Match[str]) -> bool:
    return is_id_number(m.group(1)) and not _in_digest(text, m.start(1), m.end(1))


def is_mrz(s: str) -> bool:
    return len(s) >= 30 and ("<<" in s or s.count("<") >= 3)


@dataclass(frozen=True)
class Finding:
    kind: str  # idNumber | mrz | passportNumber | name
    masked: str

    def __str__(self) -> str:
        return f"{self.kind} {self.masked}"


class Vocabulary:
    """Names and document numbers to look for beyond the patterns (thread safe)."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._terms: set[str] = set()
        self.add(terms)

    def add(self, terms: Iterable[str]) -> None:
        with self._lock:
            for t in terms:
                t = t.strip()
                if _worth_looking_for(t):
                    self._terms.add(t)

    def terms(self) -> list[str]:
        with self._lock:
            return sorted(self._terms, key=len, reverse=True)


def _worth_looking_for(t: str) -> bool:
    """Long enough not to turn up by chance: two CJK characters, or six Latin letters/digits."""
    cjk = sum(1 for ch in t if "\u4e00" <= ch <= "\u9fff")
    return cjk >= 2 or (cjk == 0 and len(re.sub(r"[^A-Za-z0-9]", "", t)) >= 6)


def sample_names() -> list[str]:
    """Names and numbers on the sample cards of gtsdk's simulators (when installed)."""
    out: list[str] = []
    try:
        from gtsdk.simulators.idcard.cards import samples
    except ImportError:
        return out
    for card in samples().values():
        for key in ("name", "name_en", "pass_number", "id_number"):
            value = card.fields.get(key)
            if isinstance(value, str):
                out.append(value)
    return out


#: what this process has learnt (names read from cards during a run, the sample cards)
KNOWN = Vocabulary(sample_names())


def learn_from_result(module: str, data: Any) -> None:
    """Remember the names and numbers an identity document yielded, to find them where they must not be."""
    if not isinstance(data, dict):
        return
    keys = {"idcard": ("name", "nameEn", "idNumber", "passNumber"),
            "travel_doc": ("documentNumber", "surname", "givenNames", "name", "nameEn")}.get(module, ())
    found = [str(data[k]) for k in keys if isinstance(data.get(k), str)]
    for k in ("mrz",):
        if isinstance(data.get(k), str):
            found += [line for line in str(data[k]).splitlines() if line]
    KNOWN.add(found)


def _mask_id(s: str) -> str:
    return s[:6] + "********" + s[14:]


def _mask_term(s: str) -> str:
    return s[:1] + "*" * (len(s) - 1) if len(s) > 1 else "*"


def find(text: str, vocabulary: Vocabulary | None = None) -> list[Finding]:
    """Every piece of personal data in *text* (masked, so findings can go into a report)."""
    out: list[Finding] = []
    covered: list[tuple[int, int]] = []  # spans a pattern already reported: a learnt term inside one is the same datum
    for m in _ID.finditer(text):
        if _id_at(text, m):
            out.append(Finding("idNumber", _mask_id(m.group(1))))
            covered.append(m.span(1))
    for m in _MRZ.finditer(text):
        if is_mrz(m.group(1)):
            out.append(Finding("mrz", m.group(1)[:5] + "…"))
            covered.append(m.span(1))
    for m in _PASSPORT.finditer(text):
        out.append(Finding("passportNumber", _mask_term(m.group(1))))
        covered.append(m.span(1))
    for t in (vocabulary or KNOWN).terms():
        if _occurs_outside(text, t, covered):
            out.append(Finding("name" if not any(c.isdigit() for c in t) else "documentNumber", _mask_term(t)))
    return out


def _occurs_outside(text: str, term: str, covered: list[tuple[int, int]]) -> bool:
    start = text.find(term)
    while start >= 0:
        end = start + len(term)
        if not any(a <= start and end <= b for a, b in covered):
            return True
        start = text.find(term, start + 1)
    return False


def mask(text: str, vocabulary: Vocabulary | None = None) -> str:
    """*text* with every finding of :func:`find` masked."""
    if not text:
        return text
    original = text
    text = _ID.sub(lambda m: _mask_id(m.group(1)) if _id_at(original, m) else m.group(0), original)
    text = _MRZ.sub(lambda m: "<MRZ masked>" if is_mrz(m.group(1)) else m.group(0), text)
    text = _PASSPORT.sub(lambda m: _mask_term(m.group(1)), text)
    for t in (vocabulary or KNOWN).terms():
        if t in text:
            text = text.replace(t, _mask_term(t))
    return text
