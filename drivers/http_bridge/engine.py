"""http_bridge: a vendor's local HTTP middleware, mapped onto a contract.

Every request has a deadline (the step's ``timeout``, else the mapping's
``middleware.timeout``, never past the operation's own deadline) and a size
bound; proxies from the environment are ignored (the middleware is on this
machine).  A middleware that refuses connections gives ``noDevice``; one that
does not answer in time gives ``communicationError`` (``timeOut`` when the
operation's own deadline passed first).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from gtsdk.driver import Model, OpContext
from gtsdk.errors import ErrorCode, GtsdkError

from ..bridge_common import values
from ..bridge_common.engine import BridgeSettings, EngineBase
from ..bridge_common.mapping import code_text
from .events import WebSocketEvents
from .mapping import HttpMapping, HttpStep, load, loopback

log = logging.getLogger("gtsdk.bridge.http")


class HttpBridgeSettings(BridgeSettings):
    pass


class HttpEngine(EngineBase[HttpMapping, HttpStep]):
    kind = "http"

    def __init__(self, module: str, settings: HttpBridgeSettings, emit: Any) -> None:
        super().__init__(module, settings, emit)
        self.client: httpx.Client | None = None
        self.base_url = ""
        self.events: WebSocketEvents | None = None
        self.last_failure = ""
        self.last_response: Any = None

    def load(self, path: Path) -> HttpMapping:
        return load(path)

    def step_name(self, step: HttpStep) -> str:
        return f"{step.request.method} {step.request.url}"

    @property
    def poll_interval(self) -> float | None:
        ev = self.mapping.events
        return ev.poll.every if ev is not None and ev.poll is not None else None

    # ---- the HTTP client ------------------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self.client is not None:
            return self.client
        mw = self.mapping.middleware
        scope = self.base_scope()
        try:
            base = str(values.render(mw.base_url, scope)).rstrip("/")
            headers = {k: str(values.render(v, scope)) for k, v in mw.headers.items()}
            ca = str(values.render(mw.ca, scope)) if mw.ca else None
        except values.Missing as e:  # pragma: no cover - references are checked when the mapping loads
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"unknown reference {e}") from None
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, "middleware.base_url is not an http(s) URL")
        if not mw.allow_remote and not loopback(parts.hostname):
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"middleware host {parts.hostname} is not this machine")
        verify: ssl.SSLContext | bool = True
        if ca:
            verify = ssl.create_default_context(cafile=self.mapping.ca_path(ca))
        self.base_url = base
        self.client = httpx.Client(base_url=base, headers=headers, verify=verify, trust_env=False,
                                   follow_redirects=False, timeout=mw.timeout,
                                   limits=httpx.Limits(max_connections=4, max_keepalive_connections=2))
        return self.client

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _send(self, step: HttpStep, scope: dict[str, Any], timeout: float) -> tuple[int, Any]:
        r = step.request
        try:
            url = str(values.render(r.url, scope))
            body = values.render(r.json_, scope) if r.json_ is not None else None
            query = {k: values.render(v, scope) for k, v in r.query.items()}
            headers = {k: str(values.render(v, scope)) for k, v in r.headers.items()}
        except values.Missing as e:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"{self.step_name(step)}: no value for {e}") from None
        client = self._client()
        limit = self.mapping.middleware.max_response
        deadline = time.monotonic() + timeout
        with client.stream(r.method, url, json=body, params=query or None, headers=headers or None,
                           timeout=httpx.Timeout(timeout)) as resp:
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{self.step_name(step)}: answer larger than "
                                     f"{limit} bytes")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("answer still arriving at the deadline")
                chunks.append(chunk)
            status = resp.status_code
        raw = b"".join(chunks)
        if not raw.strip():
            return status, None
        try:
            return status, json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{self.step_name(step)}: the answer is not JSON "
                             f"(HTTP {status})") from None

    def invoke(self, step: HttpStep, scope: dict[str, Any], ctx: OpContext) -> tuple[str, dict[str, Any]]:
        scope["remaining_ms"] = int(ctx.remaining() * 1000)
        limit = step.timeout or self.mapping.middleware.timeout
        timeout = min(limit, ctx.remaining())
        if timeout <= 0:
            ctx.check()
        name = self.step_name(step)
        try:
            status, body = self._send(step, scope, timeout)
        except httpx.ConnectError:
            self.last_failure = f"{name}: connection refused"
            self._close_client()
            raise GtsdkError(ErrorCode.NO_DEVICE, f"the middleware at {self.base_url} does not accept "
                             "connections") from None
        except httpx.TimeoutException:
            self.last_failure = f"{name}: no answer within {timeout:.3g} s"
            self._close_client()  # the stuck connection is not reused
            if ctx.remaining() <= 0:
                raise GtsdkError(ErrorCode.TIME_OUT, f"{name}: no answer by the operation's deadline") from None
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{name}: the middleware did not answer within "
                             f"{limit:g} s") from None
        except httpx.HTTPError as e:
            self.last_failure = f"{name}: {type(e).__name__}"
            self._close_client()
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{name}: {type(e).__name__}") from None
        if step.code is None:
            code = str(status)
        else:
            if not 200 <= status < 300:
                act = self.mapping.error_for(step, str(status))
                raise GtsdkError(act.code, f"{name} answered HTTP {status}")
            try:
                code = code_text(values.json_path(body, step.code))
            except values.Missing:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{name}: no status code at {step.code} "
                                 f"(HTTP {status})") from None
        self.last_response = body
        outputs: dict[str, Any] = {}
        for saved, path in step.save.items():
            try:
                outputs[saved] = values.json_path(body, path)
            except values.Missing:
                pass
        return code, outputs

    def save_map(self, step: HttpStep) -> dict[str, str]:
        return {k: k for k in step.save}

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def connect(self) -> None:
        mw = self.mapping.middleware
        ctx = OpContext("bridge-connect", mw.timeout * max(1, len(self.mapping.connect)) + 1.0)
        with self.lock:
            self._client()
            self.saved_connect = {}
            self.saved_connect = self.run_steps(self.mapping.connect, self.base_scope(ctx), ctx)
            ev = self.mapping.events
            if ev is not None and ev.websocket is not None:
                self._start_events()

    def _start_events(self) -> None:
        ev = self.mapping.events
        assert ev is not None and ev.websocket is not None
        if self.events is not None:
            self.events.stop()
        ws_base = "ws" + self.base_url[4:] if self.base_url.startswith("http") else self.base_url
        headers = dict(self._client().headers)
        verify = self.mapping.middleware.ca
        ssl_ctx = None
        if ws_base.startswith("wss"):
            ca = str(values.render(verify, self.base_scope())) if verify else None
            ssl_ctx = ssl.create_default_context(cafile=self.mapping.ca_path(ca) if ca else None)
        sub = values.render(ev.websocket.subscribe, self.base_scope()) if ev.websocket.subscribe is not None else None
        self.events = WebSocketEvents(ws_base + ev.websocket.url, ev.websocket, self.emit,
                                      headers={k: v for k, v in headers.items() if k.lower() == "authorization"},
                                      ssl_context=ssl_ctx, subscribe=sub)
        self.events.start()

    def disconnect(self) -> None:
        with self.lock:
            if self.events is not None:
                self.events.stop()
                self.events = None
            if self.client is not None and self.mapping.disconnect:
                ctx = OpContext("bridge-disconnect", min(5.0, self.mapping.middleware.timeout * 2))
                try:
                    self.run_steps(self.mapping.disconnect, self.base_scope(ctx), ctx)
                except GtsdkError as e:
                    log.info("%s: disconnect steps: %s", self.module, e.code)
            self._close_client()
            self.present = None

    def close(self) -> None:
        self.disconnect()

    # ---- operations ---------------------------------------------------------------------------------------------
    def run(self, op: str, request: Model, ctx: OpContext) -> Model:
        o = self.mapping.operations.get(op)
        spec = self.mapping.spec.operations[op]
        if o is None:
            return spec.result()
        if o.unsupported:
            raise GtsdkError(ErrorCode.UNSUPPORTED_COMMAND, f"{self.mapping_path.name} marks {op} unsupported")
        with self.lock:
            scope = self.request_scope(request, ctx)
            self.last_response = None
            saved = self.run_steps(o.steps, scope, ctx)
            sources: dict[str, Any] = {f"saved.{k}": v for k, v in {**self.saved_connect, **saved}.items()}
            sources["response"] = self.last_response
            return self.build_result(op, o.result, sources, "utf-8")

    def poll(self, ctx: OpContext) -> None:
        ev = self.mapping.events
        if ev is None or ev.poll is None:
            return
        p = ev.poll
        with self.lock:
            code, _ = self.invoke(p.probe, self.base_scope(ctx), ctx)
        if code in {code_text(c) for c in p.present}:
            self.emit_presence(True, p.on_present, p.on_absent)
        elif code in {code_text(c) for c in p.absent}:
            self.emit_presence(False, p.on_present, p.on_absent)
        else:
            act = self.mapping.error_for(p.probe, code)
            raise GtsdkError(act.code, f"{self.step_name(p.probe)} gave status {code}")

    def ping(self, timeout: float = 2.0) -> bool:
        return self.client is not None
