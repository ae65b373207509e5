"""The ``[records]`` table of the terminal config (docs/records.md).

```toml
[records]
catalogue = "catalogue.toml"      # 事项 catalogue, relative to the gtsdk home (default: <home>/catalogue.toml,
                                  # else the example catalogue shipped with gtsdk)
transaction_idle = 600            # seconds an open 办件 may stay untouched before it is closed as abandoned
inspections = ["06:00"]           # local times of the daily 巡检 (10.2.2 a); [] = on demand only
inspection_wait = 900             # seconds an inspection waits for open transactions to end
retention_days = 1095             # records older than this are purged (daily)
heartbeat = 10                    # seconds between heartbeats (bounds the uncertainty of a crash's downtime)
host_sample = 300                 # seconds between host health records (10.2.2 d)
latency_host = "10.0.0.1:443"     # host:port whose TCP connect time is the network latency figure
latency_timeout = 2.0
holder_key_file = "records-holder.key"   # the HMAC-SM3 key of holder keys (0600), never in the database
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gtsdk.errors import ConfigError

_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class RecordsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    catalogue: str | None = Field(None, description="catalogue file (TOML or JSON), relative to the home")
    transaction_idle: float = Field(600.0, gt=0, le=86400)
    inspections: list[str] = Field(default_factory=lambda: ["06:00"])
    inspection_wait: float = Field(900.0, ge=0, le=86400)
    retention_days: int = Field(1095, ge=1, le=36500)
    heartbeat: float = Field(10.0, ge=0.05, le=300)
    host_sample: float = Field(300.0, ge=1, le=86400)
    latency_host: str | None = Field(None, pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
    latency_timeout: float = Field(2.0, gt=0, le=30)
    holder_key_file: str = "records-holder.key"

    @field_validator("inspections")
    @classmethod
    def _times(cls, v: list[str]) -> list[str]:
        for t in v:
            if not _TIME.match(t):
                raise ValueError(f"inspection time must be HH:MM (local), got {t!r}")
        return sorted(set(v))

    def path(self, home: Path, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else home / p


def parse_records(table: dict[str, Any] | None) -> RecordsConfig:
    try:
        return RecordsConfig.model_validate(dict(table or {}))
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        raise ConfigError(f"records.{loc}" if loc else "records", err["msg"]) from None
