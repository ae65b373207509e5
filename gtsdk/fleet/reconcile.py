"""Reconciliation: the same (count, SM3 checksum) computed over a terminal's own records and over what the platform
holds for it.  Equal pairs mean nothing was lost and nothing counted twice (the chaos tests compare them)."""

from __future__ import annotations

from collections.abc import Iterable

from gtsdk.crypto import sm3
from gtsdk.records.schema import RecordEnvelope


def checksum(items: Iterable[str]) -> str:
    """SM3 over the sorted ``id:version`` lines."""
    return sm3("\n".join(sorted(items)).encode()).hex()


def inventory_of(envelopes: Iterable[RecordEnvelope]) -> tuple[int, str]:
    """(count, checksum) of the latest version of every record id among *envelopes*."""
    latest: dict[str, int] = {}
    for e in envelopes:
        latest[e.id] = max(latest.get(e.id, 0), e.version)
    return len(latest), checksum(f"{i}:{v}" for i, v in latest.items())
