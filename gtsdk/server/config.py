"""The ``[service]`` table of the terminal config: addresses, origins, apps, and every limit of the service.

```toml
[service]
port = 8801
listen = ["127.0.0.1", "::1"]        # anything else is refused unless allow_remote = true (clause 8.3)
origins = ["https://kiosk.example.gov.cn"]   # browser origins allowed for every app
rate_limit = 50.0                    # requests per second per token
rate_burst = 100

[service.apps.counter]               # tokens made with `gtsdk token --app counter`
origins = ["https://counter.example.gov.cn"]
recipient_key = "keys/counter.pub.pem"   # SM2 public key: personal data is sealed for it
rate_limit = 20.0
```

The limits (sizes, times, counts at every layer: connection, TLS, request head, body, JSON, WebSocket,
shutdown) are the fields of :class:`ServiceConfig` below, each with its default and its meaning; docs/service.md
lists them in one table.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gtsdk.errors import ConfigError

DEFAULT_PORT = 8801
LOOPBACK = ("127.0.0.1", "::1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _origin(value: str) -> str:
    v = value.strip().rstrip("/")
    if v != "*" and not (v.startswith("https://") or v.startswith("http://")):
        raise ValueError(f"origin must look like https://host[:port], got {value!r}")
    if "*" in v and v != "*":
        raise ValueError("wildcards inside an origin are not supported")
    return v


class AppConfig(_Strict):
    origins: list[str] = Field(default_factory=list)
    recipient_key: str | None = Field(None, description="SM2 public key (PEM) personal data is sealed for")
    rate_limit: float | None = Field(None, gt=0)
    rate_burst: int | None = Field(None, ge=1)

    @field_validator("origins")
    @classmethod
    def _check(cls, v: list[str]) -> list[str]:
        return [_origin(o) for o in v]


class ServiceConfig(_Strict):
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    listen: list[str] = Field(default_factory=lambda: list(LOOPBACK))
    allow_remote: bool = False
    origins: list[str] = Field(default_factory=list)
    # ---- limits (docs/service.md, "Limits") -------------------------------------------------------------
    max_connections: int = Field(1000, ge=4, description="open connections at once (TLS handshakes included); "
                                 "capped below the process's file descriptor limit; beyond it an idle "
                                 "connection is closed to make room, else serviceBusy (503)")
    tls_handshake_timeout: float = Field(10.0, gt=0, description="seconds to complete the TLS handshake")
    header_timeout: float = Field(10.0, gt=0, description="seconds from a connection's start (or a request's "
                                  "first byte) to the end of the request head; else 408 timeOut and close")
    keepalive_timeout: float = Field(15.0, gt=0, description="seconds an idle keep-alive connection stays open")
    max_header_bytes: int = Field(16384, ge=1024, description="bytes of a request line plus headers; else 431")
    max_header_count: int = Field(100, ge=8, description="header fields of one request; else 431")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="bytes of a request body; else 413")
    body_timeout: float = Field(10.0, gt=0, description="seconds a client may take to send its request body; "
                                "else 504 timeOut")
    max_string_chars: int = Field(1_000_000, ge=16, description="characters of a text field in a body; binary "
                                  "(base64) fields such as images may fill the whole body")
    max_json_values: int = Field(100_000, ge=100, description="JSON values (objects, arrays, strings, numbers …) "
                                 "in one body; else invalidData")
    parse_offload_bytes: int = Field(64 * 1024, ge=0, description="bodies larger than this are parsed and "
                                     "validated off the event loop")
    max_pending: int = Field(64, ge=1, description="operations queued or running per module; else deviceBusy")
    ws_max_message_bytes: int = Field(64 * 1024, ge=1024, description="bytes of one WebSocket message from a "
                                      "client (after decompression); else close 1009")
    ws_auth_timeout: float = Field(10.0, gt=0, description="seconds for an events client to authenticate")
    ws_ping_interval: float = Field(20.0, gt=0, description="seconds between the service's pings on a WebSocket")
    ws_ping_timeout: float = Field(20.0, gt=0, description="seconds a WebSocket client has to answer a ping "
                                   "(an idle or vanished client is closed)")
    event_queue: int = Field(1000, ge=10, description="events buffered per WebSocket before the client is told "
                             "to resume (close 1013)")
    rate_limit: float = Field(50.0, gt=0, description="requests per second per token")
    rate_burst: int = Field(100, ge=1, description="requests a token may make at once before rate_limit applies")
    auth_failure_rate: float = Field(1.0, gt=0, description="refused requests (401/403) per second per client "
                                     "address before its further attempts are answered 429 unchecked")
    auth_failure_burst: int = Field(20, ge=1, description="refusals an address may collect at once")
    shutdown_grace: float = Field(5.0, ge=0, description="seconds in-flight operations may finish at shutdown "
                                  "before they are cancelled on their devices")
    apps: dict[str, AppConfig] = Field(default_factory=dict)
    #: example pages /demo/ and /ops/ (gtsdk/server/pages.py, docs/examples.md)
    demo: bool = False
    demo_dir: str | None = Field(None, description="folder holding demo/ and ops/ (default: gtsdk/server/web)")
    metrics_token_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                                             description="SHA-256 hex of a bearer token allowed to read /metrics")
    #: directory relative paths (recipient_key) are resolved against
    base_dir: str = "."

    @field_validator("origins")
    @classmethod
    def _check(cls, v: list[str]) -> list[str]:
        return [_origin(o) for o in v]

    @field_validator("listen")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            ipaddress.ip_address(a)  # raises ValueError naming the bad address
        if not v:
            raise ValueError("listen must name at least one address")
        return v

    def non_loopback(self) -> list[str]:
        return [a for a in self.listen if not ipaddress.ip_address(a).is_loopback]

    def app(self, name: str) -> AppConfig:
        return self.apps.get(name) or AppConfig()

    def recipient_path(self, app: str) -> Path | None:
        rk = self.app(app).recipient_key
        if not rk:
            return None
        p = Path(rk)
        return p if p.is_absolute() else Path(self.base_dir) / p


#: the limits of ``[service]`` by layer, in the order docs/service.md lists them (a test keeps the two in step)
LIMITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("connections", ("max_connections", "tls_handshake_timeout", "keepalive_timeout")),
    ("request head", ("header_timeout", "max_header_bytes", "max_header_count")),
    ("request body", ("max_body_bytes", "body_timeout", "max_json_values", "max_string_chars",
                      "parse_offload_bytes")),
    ("callers", ("rate_limit", "rate_burst", "auth_failure_rate", "auth_failure_burst")),
    ("operations", ("max_pending", "shutdown_grace")),
    ("events (WebSocket)", ("ws_max_message_bytes", "ws_auth_timeout", "ws_ping_interval", "ws_ping_timeout",
                            "event_queue")),
)


def limits_table() -> str:
    """Every limit of ``[service]`` as the Markdown table of docs/service.md."""
    lines = ["| layer | key | default | what |", "|---|---|---|---|"]
    for layer, keys in LIMITS:
        for key in keys:
            f = ServiceConfig.model_fields[key]
            default = f.default
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            lines.append(f"| {layer} | `{key}` | {shown} | {f.description or ''} |")
    return "\n".join(lines) + "\n"


def parse_service(table: dict[str, Any], base_dir: str | Path = ".") -> ServiceConfig:
    data = dict(table)
    data.setdefault("base_dir", str(base_dir))
    try:
        cfg = ServiceConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        raise ConfigError(f"service.{loc}" if loc else "service", err["msg"]) from None
    bad = cfg.non_loopback()
    if bad and not cfg.allow_remote:
        raise ConfigError("service.listen", f"{bad} are not loopback addresses; clause 8.3 forbids access from other "
                                            "computers: set allow_remote = true only if you really mean it")
    return cfg
