"""MQTT 5 clients of the fleet (paho-mqtt 2): TLS with a fleet-CA client certificate, persistent sessions, bounded
reconnect back-off.  Every client of gtsdk — terminal agent, ingest worker, command sender, simulator — is made here."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gtsdk.errors import ErrorCode, GtsdkError

#: seconds to wait for the TCP + TLS connection to the broker
CONNECT_TIMEOUT = 10.0
RECONNECT_MIN, RECONNECT_MAX = 1, 30


@dataclass(frozen=True)
class Identity:
    """The files of one client identity: the fleet CA, a certificate (CN = identity) and its private key."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        u = urlsplit(url if "://" in url else f"mqtts://{url}")
        if u.scheme not in ("mqtts", "ssl", "tls"):
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"broker URL must be mqtts://host:port (TLS only), got {url!r}",
                             field="broker")
        if not u.hostname:
            raise GtsdkError(ErrorCode.CONFIG_ERROR, f"broker URL has no host: {url!r}", field="broker")
        return cls(u.hostname, u.port or 8883)

    def __str__(self) -> str:
        return f"mqtts://{self.host}:{self.port}"


def make_client(client_id: str, identity: Identity, *, manual_ack: bool = False, inflight: int = 100) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(identity.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(identity.cert), str(identity.key))
    c.tls_set_context(ctx)
    c.connect_timeout = CONNECT_TIMEOUT
    c.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    return c


def connect_properties(session_expiry: int) -> Properties:
    p = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    p.SessionExpiryInterval = session_expiry
    return p


def publish_properties(**user: str) -> Properties:
    p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if user:
        p.UserProperty = list(user.items())
    return p


def user_properties(msg: mqtt.MQTTMessage) -> dict[str, str]:
    props = getattr(msg, "properties", None)
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs}
