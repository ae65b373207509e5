"""What every terminal-tier check uses: the HTTPS client with deadlines, the world, the observer.

Every request has a client deadline derived from what it asked: an operation may take
the timeout it was given plus :data:`SLACK` seconds; a query (status, schemas,
discovery) :data:`QUERY_WAIT` seconds; and never longer than the running check's budget.
A module that lets a request pass its deadline is *stalled*: the check that waited
fails at once with the evidence, and later checks of that module fail without waiting
again, so one stalling device cannot hold the run hostage.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from gtsdk.errors import info
from gtsdk.modules import MODULES

from . import pii, samples
from .events import EventLoopThread, EventStream
from .framework import Fail, NotRun, Registry, clock, require
from .observer import Observer, Seen, preferred_language
from .scenarios import World

checks = Registry()
check = checks.check

#: seconds a terminal may take beyond the timeout it was given (queueing, TLS, a loaded machine)
SLACK = 3.0
#: seconds a query (status, capabilities, schemas, discovery) may take
QUERY_WAIT = 10.0
XFS_STATES = {"online", "offline", "powerOff", "noDevice", "hardwareError", "userError", "deviceBusy",
              "fraudAttempt", "potentialFraud", "starting"}
#: 8.4 l) image processing and n) the soft keyboard are software functions: nothing to unplug
SOFTWARE = ("imaging", "keyboard")
HARDWARE = tuple(m for m in MODULES if m not in SOFTWARE)


@dataclass
class Reply:
    status: int
    body: Any
    headers: httpx.Headers
    elapsed_ms: float
    text: str = ""

    @property
    def code(self) -> str | None:
        c = self.body.get("code") if isinstance(self.body, dict) else None
        return c if isinstance(c, str) else None

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None

    def evidence(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "ms": round(self.elapsed_ms, 1)}


class Stalled(Fail):
    """No answer within the request's deadline."""


class Broken(Fail):
    """The connection failed (refused, reset, closed mid-reply)."""


@dataclass
class TerminalContext:
    target: str
    token: str
    maintenance_token: str | None = None
    ca: Path | None = None
    interactive: bool = False
    ask: Callable[[str], bool] | None = None
    #: the kiosk page's origin, when the lab knows it (CORS must allow it)
    origin: str | None = None
    modules: list[str] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    openapi: dict[str, Any] = field(default_factory=dict)
    sim_actions: dict[str, dict[str, str]] = field(default_factory=dict)
    #: module (or "*" for the whole service) → why it is considered stalled
    stalled: dict[str, str] = field(default_factory=dict)
    observer: Observer = field(default_factory=Observer)
    respect_rate_limit: bool = True
    #: the run's bounds: a query's wait, and what an operation gets beyond its own timeout (the suite's own
    #: tests shorten them to make a stalling terminal quick to fail; a certification uses the defaults)
    query_wait: float = QUERY_WAIT
    slack: float = SLACK
    _client: httpx.Client | None = None
    _loop: EventLoopThread | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: requests under way (any thread) and whether close() was asked for: see close()
    _inflight: int = 0
    _closing: bool = False

    # ---- HTTP ------------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else ssl.create_default_context()

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self.target, verify=self.ssl_context(), timeout=self.query_wait,
                                            limits=httpx.Limits(max_connections=16))
            return self._client

    def new_id(self, tag: str = "conf") -> str:
        return f"{tag}-{next(self._ids):06d}"

    def request(self, method: str, path: str, body: Any = None, *, token: str | bool | None = True,
                headers: dict[str, str] | None = None, raw: bytes | None = None, wait: float | None = None,
                module: str | None = None, op: str | None = None, request_id: str | bool = True,
                client: httpx.Client | None = None) -> Reply:
        """One request, observed; Fail (or Stalled) when no answer comes within *wait* seconds.

        A request on a module's path is that module's: when it gets no answer the module is stalled,
        and later requests that would make it work (POST) fail at once instead of waiting again."""
        wait = self.query_wait if wait is None else wait
        on = module_of(path)
        module = module or on
        if method == "POST" and on is not None and on in self.stalled and not path.endswith("/cancel"):
            raise Stalled(f"not attempted: {on} stopped answering earlier ({self.stalled[on]})")
        h = dict(headers or {})
        rid = None
        if request_id is True and not any(k.lower() == "x-request-id" for k in h):
            rid = h["X-Request-Id"] = self.new_id()
        elif isinstance(request_id, str):
            rid = h["X-Request-Id"] = request_id
        tok = self.token if token is True else (token or None)
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        content = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None
                                               else None)
        if content is not None:
            h.setdefault("Content-Type", "application/json")
        c = client or self.client
        for attempt in range(6):
            limit = clock().cap(wait, f"{method} {path}")
            t0 = time.perf_counter()
            with self._lock:
                self._inflight += 1
            try:
                r = c.request(method, path, content=content, headers=h, timeout=limit)
            except httpx.TimeoutException:
                why = f"{method} {path}: no reply within {limit:.1f} s"
                if limit >= wait - 0.05:  # the terminal's deadline passed, not the check's budget
                    self.stalled.setdefault(module or "*", why)
                    raise Stalled(why + (f" (the operation's timeout + {self.slack:g} s)" if op else "")) from None
                raise Fail(why + " (the check's budget ran out)") from None
            except httpx.TransportError as e:
                raise Broken(f"{method} {path}: {type(e).__name__}: {e}") from None
            finally:
                self._request_done()
            ms = (time.perf_counter() - t0) * 1000
            text = r.text
            try:
                payload: Any = r.json()
            except ValueError:
                payload = text[:500]
            reply = Reply(r.status_code, payload, r.headers, ms, text)
            self._observe(method, path, reply, h, rid if rid and _valid_rid(rid) else None, module, op)
            # a conformant service rate-limits us too: honour Retry-After (checked on its own)
            if r.status_code != 429 or not self.respect_rate_limit or attempt == 5:
                return reply
            after = r.headers.get("retry-after", "1")
            clock().sleep(min(float(after) if after.replace(".", "", 1).isdigit() else 1.0, 5.0))
        return reply

    def _observe(self, method: str, path: str, r: Reply, sent: dict[str, str], rid: str | None,
                 module: str | None, op: str | None) -> None:
        lower = {k.lower(): v for k, v in sent.items()}
        lang = preferred_language(lower.get("accept-language"))
        if r.status == 200 and module in ("idcard", "travel_doc") and op == "read":
            pii.learn_from_result(module, r.data)
        self.observer.see(Seen(method, path.split("?")[0], r.status, r.body, r.text,
                               {k.lower(): v for k, v in r.headers.items()}, lower, rid, lang, module, op))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, {} if body is None else body, **kw)

    def op(self, m: str, op: str, body: dict[str, Any], timeout: float, **kw: Any) -> Reply:
        """A module operation asked to finish within *timeout* seconds (sent as ms on the wire)."""
        if m in self.stalled:
            raise Stalled(f"not attempted: {m} stopped answering earlier ({self.stalled[m]})")
        return self.post(f"/v1/{m}/{op}", {**body, "timeout": int(timeout * 1000)}, wait=timeout + self.slack,
                         module=m, op=op, **kw)

    # ---- the world ---------------------------------------------------------------------------------
    def sim(self, module: str, action: str, params: dict[str, Any] | None = None) -> Reply:
        return self.post(f"/v1/sim/{module}", {"action": action, "params": params or {}},
                         token=self.maintenance_token, wait=20.0)

    def sim_action(self, module: str, candidates: tuple[str, ...]) -> str | None:
        return samples.find_action(self.sim_actions.get(module, {}), candidates)

    def needs(self, question: str) -> str:
        return ("a maintenance token for the simulator, or --interactive" if not self.maintenance_token
                else "a simulator action or --interactive") + f" ({question})"

    def world(self, module: str, w: World) -> str:
        """Make *w* happen: through the simulator, or by asking the operator."""
        act = self.sim_action(module, w.actions)
        if act is not None:
            first = self.sim_action(module, w.reset) if w.reset else None
            if first is not None:
                self.sim(module, first)
                clock().sleep(w.settle)
            r = self.sim(module, act, dict(w.params))
            require(r.status == 200, f"simulator action {act} failed", reply=r.evidence())
            return f"sim:{act}"
        if self.interactive and self.ask is not None:
            if not self.ask(w.question):
                raise Fail(f"operator answered no: {w.question}")
            return "operator"
        raise NotRun(f"needs the world to change: {w.question}", self.needs(w.question))

    def person(self, module: str) -> Callable[[World, Callable[[], None]], None]:
        from .scenarios import person_during

        def perform(w: World, go: Callable[[], None]) -> None:
            if self.sim_action(module, w.actions) is not None:
                person_during(lambda ww: self.world(module, ww))(w, go)
            elif self.interactive and self.ask is not None:
                if not self.ask(w.question):
                    raise Fail(f"operator answered no: {w.question}")
                go()
            else:
                raise NotRun(f"needs a person: {w.question}", self.needs(w.question))

        return perform

    def schema(self, module: str, op: str) -> dict[str, Any]:
        r = self.get(f"/v1/schemas/{module}/{op}")
        require(r.status == 200 and isinstance(r.data, dict), f"no schema for {module}.{op}", reply=r.evidence())
        return r.data  # type: ignore[no-any-return]

    def personal(self, module: str, op: str) -> bool:
        """Whether *op*'s result may carry personal data: by the contract, or (for operations the
        contract does not have) by the terminal's own declaration in discovery."""
        spec = MODULES.get(module)
        if spec is not None and op in spec.operations:
            return spec.operations[op].personal_data
        for s in self.services:
            if (s.get("module") or s.get("id")) == module:
                for o in s.get("operations") or []:
                    if isinstance(o, dict) and o.get("name") == op:
                        return bool(o.get("personalData"))
        return False

    # ---- events --------------------------------------------------------------------------------------
    def events(self, modules: list[str] | None, since: int | None = None, *, wait: float | None = None,
               origin: str | None = None, token: str | None = None) -> tuple[EventStream, dict[str, Any] | None]:
        """Connect to /v1/events, authenticate, and return the stream with its first message."""
        wait = self.query_wait if wait is None else wait
        if self._loop is None:
            self._loop = EventLoopThread()
        u = urlparse(self.target)
        url = f"wss://{u.netloc}/v1/events"
        try:
            stream = EventStream(self._loop, url, self.ssl_context(), timeout=clock().cap(wait, "the WebSocket "
                                 "handshake"), origin=origin, on_message=lambda t: self.observer.see_event(
                                     "/v1/events", t))
        except TimeoutError:
            raise Fail(f"the WebSocket handshake on /v1/events did not complete within {wait:g} s") from None
        except Exception as e:  # noqa: BLE001 - refused, reset, TLS: any failure is the terminal's, reported
            raise Fail(f"the WebSocket handshake on /v1/events failed: {type(e).__name__}: {e}") from None
        hello: dict[str, Any] = {"type": "auth", "token": token or self.token}
        if modules:
            hello["modules"] = modules
        if since is not None:
            hello["since"] = since
        stream.send(hello, timeout=clock().cap(5.0))
        return stream, stream.recv(clock().cap(wait, "the hello message"))

    def close(self) -> None:
        """Close the HTTP client — or, while a request is still under way, leave that to the last one.

        A check may leave a request behind (a helper thread still waiting for a reply that a broken terminal
        never sends, or a check abandoned over its budget).  Closing the client under it closes its socket while
        it sits in a TLS read: OpenSSL keeps reading the descriptor's *number*, which the next connection of the
        process gets — and that connection's bytes are stolen (its client fails with ``bad record mac``)."""
        with self._lock:
            self._closing = True
        self._close_client_if_idle()
        if self._loop is not None:
            self._loop.close()

    def _request_done(self) -> None:
        with self._lock:
            self._inflight -= 1
        self._close_client_if_idle()

    def _close_client_if_idle(self) -> None:
        """Once close() was asked for and no request is under way: close the client (once, outside the lock)."""
        with self._lock:
            client = self._client if self._closing and self._inflight == 0 else None
            self._client = None if client is not None else self._client
        if client is not None:
            client.close()


def module_of(path: str) -> str | None:
    """The module a path belongs to (``/v1/idcard/read`` → ``idcard``)."""
    parts = path.split("?")[0].split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "v1" and parts[2] in MODULES else None


def _valid_rid(rid: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", rid) is not None


def envelope_ok(r: Reply) -> bool:
    return isinstance(r.body, dict) and all(k in r.body for k in ("code", "message", "requestId", "data")) \
        and isinstance(r.body["code"], str)


def require_envelope(r: Reply, what: str) -> None:
    require(envelope_ok(r), f"{what}: not the standard envelope", reply=r.evidence())
    require(info(r.code or "").code == r.code, f"{what}: {r.code!r} is not a catalogue code", reply=r.evidence())


def require_no_5xx(r: Reply, what: str) -> None:
    require(r.status < 500 or (r.status in (503, 504) and envelope_ok(r)), f"{what}: HTTP {r.status}",
            reply=r.evidence())


def validate(schema: dict[str, Any], instance: Any) -> str | None:
    import jsonschema  # type: ignore[import-untyped]

    v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    err = next(iter(v.iter_errors(instance)), None)
    if err is None:
        return None
    return f"{'/'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message[:200]}"


def host_port(target: str) -> tuple[str, int]:
    u = urlparse(target)
    return u.hostname or "127.0.0.1", u.port or 8801


def is_loopback_target(target: str) -> bool:
    host, _ = host_port(target)
    return host in ("127.0.0.1", "localhost", "::1")


def wait_state(ctx: TerminalContext, m: str, want: Callable[[str | None], bool], within: float) -> tuple[str | None,
                                                                                                        float]:
    """Poll the status until *want(state)*; (last state, seconds it took)."""
    t0 = time.monotonic()
    state: str | None = None
    while True:
        st = ctx.get(f"/v1/{m}/status", module=m)
        state = st.data.get("state") if isinstance(st.data, dict) else None
        if want(state) or time.monotonic() - t0 >= within:
            return state, time.monotonic() - t0
        clock().sleep(0.1)
