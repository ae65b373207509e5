"""The http_bridge mapping: a vendor's local HTTP/WebSocket middleware and its JSON."""

from __future__ import annotations

import ipaddress
from pathlib import Path as FsPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..bridge_common import values
from ..bridge_common.mapping import (
    BaseMapping,
    Code,
    FieldSpec,
    Issue,
    StepBase,
    Strict,
    check_event,
    check_fields,
    check_operations,
    check_reference,
    load_file,
    load_text,
)
from ..bridge_common.yamlpos import Path

BUILTINS = ("remaining_ms",)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class MiddlewareSpec(Strict):
    base_url: str = Field(description="http(s)://127.0.0.1:<port> (templates allowed)")
    timeout: float = Field(5.0, gt=0, le=600, description="seconds one request may take")
    headers: dict[str, str] = Field(default_factory=dict)
    ca: str | None = Field(None, description="CA certificate file for an https middleware")
    max_response: int = Field(4 * 2**20, ge=1024, le=64 * 2**20)
    allow_remote: bool = Field(False, description="allow a host other than loopback (clause 8.3 keeps it local)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "${" in v:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL such as http://127.0.0.1:9000")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _local(self) -> MiddlewareSpec:
        if "${" not in self.base_url and not self.allow_remote:
            host = urlsplit(self.base_url).hostname or ""
            if not loopback(host):
                raise ValueError(f"{host} is not this machine; a vendor middleware is local (set allow_remote: "
                                 "true only if you mean it)")
        return self


class HttpRequestSpec(Strict):
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"] = "POST"
    url: str = Field(description="path under base_url, e.g. /api/idcard/read")
    json_: Any = Field(None, alias="json", description="JSON body (a template)")
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or "://" in v:
            raise ValueError("a path under the middleware's base_url, starting with /")
        return v


class HttpStep(StepBase):
    request: HttpRequestSpec
    code: str | None = Field(None, description="JSON path of the vendor's status code (default: the HTTP status)")
    save: dict[str, str] = Field(default_factory=dict, description="saved name → JSON path in the answer")

    @model_validator(mode="after")
    def _defaults(self) -> HttpStep:
        if self.code is None and "ok" not in self.model_fields_set:
            object.__setattr__(self, "ok", [200])
        for where, path in [("code", self.code), *(((f"save.{k}"), p) for k, p in self.save.items())]:
            if path is not None and (problem := values.check_json_path(path)):
                raise ValueError(f"{where}: {problem}")
        for k in self.save:
            if not str(k).isidentifier():
                raise ValueError(f"saved name {k!r} is not an identifier")
        return self


class HttpOperation(Strict):
    steps: list[HttpStep] = Field(default_factory=list)
    result: dict[str, FieldSpec] = Field(default_factory=dict)
    unsupported: bool = False


class HttpPoll(Strict):
    every: float = Field(0.5, ge=0.05, le=60)
    probe: HttpStep
    present: list[Code]
    absent: list[Code]
    on_present: str
    on_absent: str | None = None


class HttpWebSocket(Strict):
    url: str = Field(description="path of the WebSocket under base_url, e.g. /ws/events")
    event: str = Field(description="JSON path of the event's name in each message")
    map: dict[str, str] = Field(description="vendor event name → contract event name")
    subscribe: Any = Field(None, description="a JSON message to send after connecting (a template)")

    @field_validator("url")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("a path under the middleware's base_url, starting with /")
        return v

    @field_validator("event")
    @classmethod
    def _json_path(cls, v: str) -> str:
        if problem := values.check_json_path(v):
            raise ValueError(problem)
        return v


class HttpEvents(Strict):
    poll: HttpPoll | None = None
    websocket: HttpWebSocket | None = None

    @model_validator(mode="after")
    def _one(self) -> HttpEvents:
        if (self.poll is None) == (self.websocket is None):
            raise ValueError("give either poll or websocket")
        return self


class HttpMapping(BaseMapping):
    bridge: Literal["http"]
    middleware: MiddlewareSpec
    connect: list[HttpStep] = Field(default_factory=list)
    disconnect: list[HttpStep] = Field(default_factory=list)
    operations: dict[str, HttpOperation]
    events: HttpEvents | None = None
    base_dir: str = Field("", exclude=True)

    def ca_path(self, rendered: str) -> str:
        p = FsPath(rendered)
        return str(p if p.is_absolute() else FsPath(self.base_dir) / p)


def _check_steps(m: HttpMapping, steps: list[HttpStep], where: Path, *, request: set[str],
                 saved: set[str]) -> set[str]:
    params = set(m.params)
    for i, s in enumerate(steps):
        at = (*where, i, "request")
        r = s.request
        for key, v in (("url", r.url), ("json", r.json_), ("query", r.query), ("headers", r.headers)):
            for ref in values.references(v):
                check_reference(ref, (*at, key), params=params, request_fields=request, saved=saved, extra=BUILTINS)
        saved = saved | set(s.save)
    return saved


def cross_check(m: HttpMapping) -> None:
    mw = m.middleware
    for key, v in (("base_url", mw.base_url), ("headers", mw.headers), ("ca", mw.ca)):
        for ref in values.references(v):
            check_reference(ref, ("middleware", key), params=m.params)
    connected = _check_steps(m, m.connect, ("connect",), request=set(), saved=set())
    for ref in values.references(m.device.serial):
        check_reference(ref, ("device", "serial"), params=m.params, saved=connected)
    _check_steps(m, m.disconnect, ("disconnect",), request=set(), saved=connected)
    check_operations(m, m.operations)
    for op, o in m.operations.items():
        if o.unsupported:
            if o.steps or o.result:
                raise Issue(("operations", op, "unsupported"), "an unsupported operation has no steps or result")
            continue
        req = set(m.spec.operations[op].request.model_fields)
        saved = _check_steps(m, o.steps, ("operations", op, "steps"), request=req, saved=connected)
        sources = {f"saved.{s}" for s in saved} | ({"response"} if o.steps else set())
        check_fields(m, op, o.result, ("operations", op, "result"), sources)
    ev = m.events
    if ev is not None and ev.poll is not None:
        _check_steps(m, [ev.poll.probe], ("events", "poll", "probe"), request=set(), saved=connected)
        check_event(m, ev.poll.on_present, ("events", "poll", "on_present"))
        if ev.poll.on_absent is not None:
            check_event(m, ev.poll.on_absent, ("events", "poll", "on_absent"))
    if ev is not None and ev.websocket is not None:
        for vendor, name in ev.websocket.map.items():
            check_event(m, name, ("events", "websocket", "map", vendor))


def load(path: str | FsPath) -> HttpMapping:
    m = load_file(path, HttpMapping, cross_check)
    object.__setattr__(m, "base_dir", str(FsPath(path).resolve().parent))
    return m


def loads(text: str, source: str = "<mapping>", base_dir: str = ".") -> HttpMapping:
    m = load_text(text, source, HttpMapping, cross_check)
    object.__setattr__(m, "base_dir", base_dir)
    return m
