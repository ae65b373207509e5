"""What a bundle says about itself: ``manifest.json`` (issue #17; clauses 9.1.1.2 a/d, 10.2.2 c).

The manifest names the version the terminal runs after the update, what it contains (wheels, a configuration),
which terminals it is for, the oldest gtsdk that may install it, the conformance tier the changed drivers must
reach on the terminal, whether a downgrade is allowed, and the SM3 digest and size of every other file of the
bundle.  The release key signs the manifest's exact bytes, so the digests carry the signature to every file.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from packaging.version import InvalidVersion, Version
from pydantic import Field, field_validator

from gtsdk.driver import Model

FORMAT = "gtsdk.bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
CONFIG = "config/terminal.toml"
WHEELS = "wheels/"
#: a bundle member path: relative, forward slashes, no dot segments, no control characters
MEMBER = re.compile(r"^(?!/)(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._+\-/]{1,200}$")
DRIVER_ENTRY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
REGION = re.compile(r"^[0-9]{2}([0-9]{2}){0,2}$")
TIERS = ("bronze", "silver", "gold")


class FileEntry(Model):
    sm3: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Targets(Model):
    """Empty lists mean "any".  A region is a GB/T 2260 code of 2, 4 or 6 digits; a terminal matches the
    provinces, cities or counties listed by prefix."""

    models: list[str] = Field(default_factory=list, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=200)
    regions: list[str] = Field(default_factory=list, max_length=500)
    terminals: list[str] = Field(default_factory=list, max_length=10000)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        for r in v:
            if not REGION.match(r):
                raise ValueError(f"region {r!r} is not a GB/T 2260 code of 2, 4 or 6 digits")
        return v


class Manifest(Model):
    format: Literal["gtsdk.bundle/1"] = "gtsdk.bundle/1"
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="release name, e.g. gtsdk-terminal")
    version: str = Field(max_length=64, description="PEP 440 version the terminal runs after the update")
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    notes: str = Field("", max_length=2000)
    #: a fix for a high-risk vulnerability (9.1.1.2 d: distributed within 24 hours)
    security: bool = False
    #: distributions to install (names); the terminal keeps the others it had, from the previous version
    requires: list[str] = Field(default_factory=list, max_length=500)
    #: driver entries <module>.<driver> whose code changes: each is certified on the terminal before the switch
    drivers: list[str] = Field(default_factory=list, max_length=100)
    targets: Targets = Field(default_factory=Targets)
    min_gtsdk: str | None = Field(None, max_length=64)
    required_tier: Literal["bronze", "silver", "gold"] | None = "bronze"
    allow_downgrade: bool = False
    files: dict[str, FileEntry] = Field(default_factory=dict, max_length=2000)

    @field_validator("version", "min_gtsdk")
    @classmethod
    def _pep440(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                Version(v)
            except InvalidVersion:
                raise ValueError(f"{v!r} is not a PEP 440 version") from None
        return v

    @field_validator("drivers")
    @classmethod
    def _drivers(cls, v: list[str]) -> list[str]:
        for d in v:
            if not DRIVER_ENTRY.match(d):
                raise ValueError(f"driver {d!r} must be <module>.<driver>")
        return v

    @field_validator("files")
    @classmethod
    def _paths(cls, v: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for p in v:
            if not MEMBER.match(p) or p in (MANIFEST, SIGNATURE):
                raise ValueError(f"file name {p!r} is not allowed in a bundle")
            if not (p == CONFIG or (p.startswith(WHEELS) and p.endswith(".whl") and p.count("/") == 1)):
                raise ValueError(f"{p!r}: a bundle holds wheels/*.whl and {CONFIG} only")
        return v

    @property
    def wheels(self) -> list[str]:
        return sorted(p for p in self.files if p.startswith(WHEELS))

    @property
    def has_config(self) -> bool:
        return CONFIG in self.files

    @property
    def parsed_version(self) -> Version:
        return Version(self.version)


def tier_rank(tier: str | None) -> int:
    """0 for no tier, 1 bronze … 3 gold."""
    return 0 if tier is None else TIERS.index(tier) + 1
