"""The clauses of the standard the checks cite, with their text (``data/clauses.json``).

Every check names the clauses it tests together with a phrase quoted from each
clause's text (``refs={"6.4.4 c": "接口超时"}``); a test holds every check to it, so a
check cannot cite a clause that does not exist or that is about something else.
The report carries the cited text, so a reader need not look the clause up.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any


@cache
def _document() -> dict[str, Any]:
    raw = resources.files("gtsdk.conformance").joinpath("data/clauses.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(raw)
    return doc


def source() -> str:
    return str(_document()["source"])


def table() -> dict[str, str]:
    """Clause key (``"8.4 a"``, ``"9.2.2 b"``, ``"8.3"``) → its text."""
    return dict(_document()["clauses"])


def normalise(ref: str) -> str:
    """``"8.4 a)"`` and ``"8.4 a"`` are the same clause; the table uses the second form."""
    return re.sub(r"\s+", " ", ref.strip().rstrip(")").strip())


def text(ref: str) -> str | None:
    return table().get(normalise(ref))


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def problems(refs: dict[str, str]) -> list[str]:
    """Why *refs* (clause → quoted phrase) do not hold against the table (empty when they do)."""
    out = []
    if not refs:
        out.append("cites no clause")
    for ref, quote in refs.items():
        body = text(ref)
        if body is None:
            out.append(f"clause {ref!r} is not in the table")
        elif not quote or _squash(quote) not in _squash(body):
            out.append(f"clause {ref} does not say {quote!r} (it says: {body[:80]}…)")
    return out
