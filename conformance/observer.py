"""Promises checked on every response the certifier receives (clause 8.2, 9.2.2 b, 9.3.2).

Whatever check sent a request, its reply passes through :class:`Observer`, which records
every broken promise: the envelope ``{code, message, requestId, data}``, the request id
echoed, a code from the catalogue with one HTTP status per code, the body valid against the
service's own OpenAPI document (``additionalProperties`` included), the message in the
language asked for (Chinese when nothing is asked), CORS and Private Network Access headers
(never a wildcard, never a foreign origin), and no personal data anywhere but in the result
of an operation declared to return it.  The ``responses.*`` checks at the end of a run report
what was seen, with the first examples.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gtsdk.errors import info

from . import pii

ENVELOPE_KEYS = ("code", "message", "requestId", "data")
#: the origin the certifier uses to play a page the terminal must not trust
FOREIGN_ORIGIN = "https://conformance-foreign.invalid"
INVARIANTS = ("envelope", "schema", "language", "cors", "personalData")
KEEP = 20


@dataclass
class Seen:
    """One request and its reply, as the observer needs them."""

    method: str
    path: str
    status: int
    body: Any
    text: str
    headers: dict[str, str]
    request_headers: dict[str, str]
    #: the request id the certifier sent (None when it deliberately sent none or an invalid one)
    request_id: str | None
    lang: str  # zh | en: what the request asked for
    module: str | None = None
    op: str | None = None


@dataclass
class Violation:
    invariant: str
    where: str
    problem: str
    status: int | None = None
    code: str | None = None

    def wire(self) -> dict[str, Any]:
        return {"where": self.where, "problem": pii.mask(self.problem), "status": self.status, "code": self.code}


def preferred_language(header: str | None) -> str:
    """``en`` when Accept-Language prefers English over Chinese (by q, then by order), else ``zh``.

    Written from 8.3 again rather than imported from gtsdk.server: the suite judges any vendor's service, and an
    oracle that shares the implementation's code would agree with its bugs.
    """
    best, best_q = "zh", -1.0
    for i, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang is not None and q - i * 1e-6 > best_q:
            best, best_q = lang, q - i * 1e-6
    return best


def has_cjk(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


@dataclass
class Observer:
    #: (module, op) → the operation's result may carry personal data
    personal: Callable[[str, str], bool] = lambda m, o: False
    openapi: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _violations: dict[str, list[Violation]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, int] = field(default_factory=dict)
    _status_of: dict[str, set[int]] = field(default_factory=dict)
    _validators: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    # ---- recording ------------------------------------------------------------------------------
    def _add(self, v: Violation) -> None:
        with self._lock:
            self._counts[v.invariant] = self._counts.get(v.invariant, 0) + 1
            lst = self._violations.setdefault(v.invariant, [])
            if len(lst) < KEEP:
                lst.append(v)

    def _count(self, invariant: str) -> None:
        with self._lock:
            self._seen[invariant] = self._seen.get(invariant, 0) + 1

    def violations(self, invariant: str) -> list[Violation]:
        with self._lock:
            return list(self._violations.get(invariant, []))

    def count(self, invariant: str) -> int:
        with self._lock:
            return self._counts.get(invariant, 0)

    def seen(self, invariant: str) -> int:
        with self._lock:
            return self._seen.get(invariant, 0)

    def reset(self) -> None:
        with self._lock:
            self._violations.clear()
            self._counts.clear()
            self._seen.clear()
            self._status_of.clear()

    # ---- the promises -------------------------------------------------------------------------
    def see(self, s: Seen) -> None:
        where = f"{s.method} {s.path}"
        self._cors(s, where)
        self._personal_data(s, where)
        if not s.path.startswith("/v1/") or s.method == "OPTIONS" or s.status == 204:
            return
        if s.path.startswith("/v1/sim"):  # the simulator's control route belongs to the test rig
            return
        self._envelope(s, where)
        self._schema(s, where)
        self._language(s, where)

    def _envelope(self, s: Seen, where: str) -> None:
        self._count("envelope")
        b = s.body
        ctype = s.headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            self._add(Violation("envelope", where, f"Content-Type {ctype!r}, not application/json", s.status))
        if not isinstance(b, dict) or any(k not in b for k in ENVELOPE_KEYS):
            self._add(Violation("envelope", where, "not the envelope {code, message, requestId, data}: "
                                + s.text[:120], s.status))
            return
        code = b.get("code")
        if not isinstance(code, str) or info(code).code != code:
            self._add(Violation("envelope", where, f"{code!r} is not a catalogue code", s.status, str(code)))
        elif (code == "success") != (200 <= s.status < 300):
            self._add(Violation("envelope", where, f"HTTP {s.status} with code {code}", s.status, code))
        else:
            with self._lock:
                statuses = self._status_of.setdefault(code, set())
                statuses.add(s.status)
                mixed = len(statuses) > 1
            if mixed:
                self._add(Violation("envelope", where, f"code {code} came with HTTP statuses {sorted(statuses)}",
                                    s.status, code))
        if not isinstance(b.get("message"), str) or not b["message"]:
            self._add(Violation("envelope", where, "no message", s.status, str(code)))
        rid = b.get("requestId")
        if s.request_id is not None and rid != s.request_id:
            self._add(Violation("envelope", where, f"requestId {rid!r} is not the X-Request-Id sent "
                                f"({s.request_id!r})", s.status, str(code)))
        if s.headers.get("x-request-id") not in (None, rid):
            self._add(Violation("envelope", where, "X-Request-Id header and requestId differ", s.status, str(code)))

    def _language(self, s: Seen, where: str) -> None:
        msg = s.body.get("message") if isinstance(s.body, dict) else None
        if not isinstance(msg, str) or not msg:
            return
        self._count("language")
        if s.lang == "zh" and not has_cjk(msg):
            asked = s.request_headers.get("accept-language")
            self._add(Violation("language", where, f"message {msg[:60]!r} is not Chinese (Accept-Language "
                                f"{asked!r})", s.status, str(s.body.get("code"))))
        elif s.lang == "en" and has_cjk(msg):
            self._add(Violation("language", where, f"message {msg[:60]!r} is not English although English was "
                                "asked for", s.status, str(s.body.get("code"))))

    def _schema_for(self, s: Seen) -> Any:
        import jsonschema  # type: ignore[import-untyped]

        paths = self.openapi.get("paths") if isinstance(self.openapi, dict) else None
        op = (paths or {}).get(s.path, {}).get(s.method.lower()) if isinstance(paths, dict) else None
        if not isinstance(op, dict):
            return None
        responses = op.get("responses", {})
        key = str(s.status) if str(s.status) in responses else "default"
        cache_key = (s.path, s.method, key)
        if cache_key in self._validators:
            return self._validators[cache_key]
        schema = (responses.get(key) or {}).get("content", {}).get("application/json", {}).get("schema")
        validator = None
        if isinstance(schema, dict):
            root = {**schema, "components": self.openapi.get("components", {})}
            validator = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
        self._validators[cache_key] = validator
        return validator

    def _schema(self, s: Seen, where: str) -> None:
        if not isinstance(s.body, dict):
            return
        validator = self._schema_for(s)
        if validator is None:
            return
        self._count("schema")
        err = next(iter(validator.iter_errors(s.body)), None)
        if err is not None:
            at = "/".join(str(p) for p in err.absolute_path) or "(root)"
            self._add(Violation("schema", where, f"{at}: {err.message[:160]}", s.status,
                                str(s.body.get("code"))))

    def _cors(self, s: Seen, where: str) -> None:
        self._count("cors")
        origin = s.request_headers.get("origin")
        acao = s.headers.get("access-control-allow-origin")
        acac = s.headers.get("access-control-allow-credentials", "").lower() == "true"
        pna = s.headers.get("access-control-allow-private-network", "").lower() == "true"
        if acao == "*":
            self._add(Violation("cors", where, "Access-Control-Allow-Origin: * (any web page may read it)",
                                s.status))
        if acao is not None and acao != "*" and origin is not None and acao == origin and origin in (
                FOREIGN_ORIGIN, "null"):
            self._add(Violation("cors", where, f"a foreign origin is allowed: Access-Control-Allow-Origin: {acao}"
                                + (" with credentials" if acac else ""), s.status))
        if acac and (acao in (None, "*") or origin in (FOREIGN_ORIGIN, "null")):
            self._add(Violation("cors", where, f"Access-Control-Allow-Credentials: true for origin {acao!r}",
                                s.status))
        if pna and (origin in (None, FOREIGN_ORIGIN, "null") or acao in (None, "*")):
            self._add(Violation("cors", where, f"Private Network Access granted to origin {origin!r}", s.status))

    def _personal_data(self, s: Seen, where: str) -> None:
        if s.path.startswith("/v1/sim"):  # the rig's own sample data
            return
        self._count("personalData")
        body = s.body
        allowed = (s.status == 200 and s.module is not None and s.op is not None and isinstance(body, dict)
                   and body.get("code") == "success" and self.personal(s.module, s.op))
        if allowed and isinstance(body, dict):
            text = json.dumps({k: v for k, v in body.items() if k != "data"}, ensure_ascii=False)
        else:
            text = s.text
        found = pii.find(text)
        for k, v in s.headers.items():
            found += [pii.Finding(f.kind, f"{f.masked} (header {k})") for f in pii.find(v)]
        if found:
            self._add(Violation("personalData", where, "; ".join(str(f) for f in found[:5]), s.status,
                                str(body.get("code")) if isinstance(body, dict) else None))

    def see_event(self, where: str, message: str) -> None:
        self._count("personalData")
        found = pii.find(message)
        if found:
            self._add(Violation("personalData", where, "; ".join(str(f) for f in found[:5])))

    def see_export(self, where: str, text: str) -> list[pii.Finding]:
        found = pii.find(text)
        if found:
            self._add(Violation("personalData", where, "; ".join(str(f) for f in found[:5])))
        return found
