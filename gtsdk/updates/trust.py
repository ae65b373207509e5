"""What a terminal accepts: bundles signed by a release key it trusts, for it, not older than what it runs.

Trusted release keys are SM2 public keys (PEM) in ``<root>/trusted/``; a bundle names its key by
``keyId`` (``sm2:`` + the first 16 hex digits of the key's SM3 fingerprint).  :func:`check` runs the checks in
a fixed order so the reason of a refusal is always the first thing wrong: unsigned, untrusted key, bad signature,
not targeted at this terminal, gtsdk too old, downgrade.  File digests are checked while unpacking
(:func:`gtsdk.updates.bundle.unpack`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from gtsdk.crypto import SM2PublicKey, load_public_pem
from gtsdk.errors import GtsdkError
from gtsdk.updates import errors as ue
from gtsdk.updates.bundle import Signed, key_id
from gtsdk.updates.manifest import Manifest

MAX_KEYS = 64


@dataclass(frozen=True)
class Identity:
    """What a bundle's targets are matched against."""

    terminal_id: str
    model: str = ""
    region: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)


def targeted(manifest: Manifest, who: Identity) -> str | None:
    """None when the bundle is for *who*, else why not."""
    t = manifest.targets
    if t.terminals and who.terminal_id not in t.terminals:
        return f"terminal {who.terminal_id} is not listed"
    if t.models and who.model not in t.models:
        return f"model {who.model or '(none)'} is not among {t.models[:5]}"
    if t.groups and not (who.groups & set(t.groups)):
        return f"groups {sorted(who.groups) or '(none)'} are not among {t.groups[:5]}"
    if t.regions and not any(who.region.startswith(r) for r in t.regions):
        return f"region {who.region or '(none)'} is not within {t.regions[:5]}"
    return None


class TrustStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keys(self) -> dict[str, SM2PublicKey]:
        out: dict[str, SM2PublicKey] = {}
        if not self.directory.is_dir():
            return out
        for p in sorted(self.directory.glob("*.pem"))[:MAX_KEYS]:
            try:
                pub = load_public_pem(p.read_bytes())
            except (GtsdkError, OSError):
                continue  # a damaged key file trusts nothing
            out[key_id(pub)] = pub
        return out

    def add(self, pub: SM2PublicKey) -> Path:
        from gtsdk.home import write_public

        self.directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        path = self.directory / f"{key_id(pub).replace(':', '-')}.pem"
        write_public(path, pub.to_pem())
        return path


def check(signed: Signed, trust: TrustStore, who: Identity, *, current: str | None, gtsdk_version: str) -> Manifest:
    """The manifest when every check passes; else ``GtsdkError`` with the first failing check's code."""
    m = signed.manifest
    if signed.signature is None:
        raise GtsdkError(ue.UNSIGNED, f"{m.name} {m.version} carries no signature.json")
    pub = trust.keys().get(signed.key_id or "")
    if pub is None:
        raise GtsdkError(ue.UNTRUSTED_KEY, f"key {signed.key_id} is not in the trusted release keys")
    if not signed.verify_with(pub):
        raise GtsdkError(ue.SIGNATURE_INVALID, f"{m.name} {m.version}: the SM2 signature does not verify")
    why = targeted(m, who)
    if why is not None:
        raise GtsdkError(ue.NOT_TARGETED, why)
    if m.min_gtsdk is not None and Version(gtsdk_version) < Version(m.min_gtsdk):
        raise GtsdkError(ue.GTSDK_TOO_OLD, f"needs gtsdk >= {m.min_gtsdk}, this terminal has {gtsdk_version}")
    if current is not None and m.parsed_version <= Version(current) and not m.allow_downgrade:
        raise GtsdkError(ue.DOWNGRADE, f"{m.version} is not newer than the running {current}")
    return m
