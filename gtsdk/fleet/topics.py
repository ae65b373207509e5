"""The MQTT topic tree of the fleet, shaped by the administrative divisions (7.4.1 分层归集).

``gt/<province>/<city>/<county>/<terminal>/<channel>`` — the three region levels are the GB/T 2260 codes
cut to 2, 4 and 6 digits (``gt/33/3301/330102/T-0001/rec``), so a city broker bridges exactly the subtree
``gt/33/3301/`` up to its province, a province user subscribes ``gt/33/#`` and nothing in a topic needs a
lookup table.  Channels:

===========  ==========  ====  =====================================================================
channel      direction   QoS   payload
===========  ==========  ====  =====================================================================
``rec``      up          1     one :class:`~gtsdk.records.schema.RecordEnvelope` (durable, from the outbox)
``hb``       up          0     heartbeat: module states, host health, outbox depth
``evt``      up          1     live event (tamper/power alarm, module state change); not durable
``state``    up          1     ``{"online": bool, "session": n}`` — retained; the Last Will says offline
``res``      up          1     the answer to a command
``cmd``      down        1     a command signed by the platform (:mod:`gtsdk.fleet.commands`)
``ack``      down        0     the platform's receipt of records (the terminal then forgets them)
===========  ==========  ====  =====================================================================

``gt/platform/state`` (retained, Last Will) tells terminals that the platform restarted, so they resend what it
had not confirmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ROOT = "gt"
PLATFORM_STATE = f"{ROOT}/platform/state"
UP = ("rec", "hb", "evt", "state", "res")
DOWN = ("cmd", "ack")
Channel = Literal["rec", "hb", "evt", "state", "res", "cmd", "ack"]
#: terminal ids: no dots (identities with dots are reserved for the platform, e.g. gtsdk.platform.1, gtsdk.bridge.3301)
TERMINAL_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
REGION = re.compile(r"^[1-9][0-9]{5}$")
#: QoS of each up channel
QOS: dict[str, int] = {"rec": 1, "hb": 0, "evt": 1, "state": 1, "res": 1, "cmd": 1, "ack": 0}


def valid_region(code: str) -> bool:
    return bool(REGION.match(code))


def region_path(region: str) -> str:
    """``330102`` → ``33/3301/330102``."""
    if not valid_region(region):
        raise ValueError(f"region must be a 6-digit GB/T 2260 code, got {region!r}")
    return f"{region[:2]}/{region[:4]}/{region}"


def topic(region: str, terminal_id: str, channel: Channel) -> str:
    if not TERMINAL_ID.match(terminal_id):
        raise ValueError(f"terminal id must match {TERMINAL_ID.pattern}, got {terminal_id!r}")
    return f"{ROOT}/{region_path(region)}/{terminal_id}/{channel}"


@dataclass(frozen=True)
class Parsed:
    region: str
    terminal_id: str
    channel: str


def parse(t: str) -> Parsed | None:
    """The parts of a terminal topic, or None when *t* is not one (wrong shape, inconsistent region levels)."""
    parts = t.split("/")
    if len(parts) != 6 or parts[0] != ROOT:
        return None
    _, prov, city, county, tid, channel = parts
    if not (valid_region(county) and city == county[:4] and prov == county[:2]):
        return None
    if not TERMINAL_ID.match(tid) or channel not in UP + DOWN:
        return None
    return Parsed(county, tid, channel)


def scope_prefix(region: str) -> str:
    """The code prefix a division covers: ``330000`` → ``33``, ``330100`` → ``3301``, ``330102`` → ``330102``."""
    if not valid_region(region):
        raise ValueError(f"region must be a 6-digit GB/T 2260 code, got {region!r}")
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def bridge_prefix(city: str) -> str:
    """The topic subtree a city broker bridges up: ``330100`` → ``gt/33/3301/``."""
    p = scope_prefix(city)
    if len(p) != 4:
        raise ValueError(f"a city bridge needs a city-level code (XXXX00), got {city!r}")
    return f"{ROOT}/{p[:2]}/{p}/"


def subscription(channel: str, group: str | None = None) -> str:
    """The platform's filter for one up channel, as an MQTT 5 shared subscription when *group* is set."""
    f = f"{ROOT}/+/+/+/+/{channel}"
    return f"$share/{group}/{f}" if group else f
