"""A whole fleet on one machine: platform home, Mosquitto brokers (province, cities bridged to it) and enrolled
terminals — what the tests, the benchmark, ``gtsdk fleet demo`` and ``gtsdk fleet simulate`` stand on.

Everything is real: the brokers are Mosquitto processes on loopback ports with the generated configuration, each
terminal gets its key and certificate through the same enrolment code path as ``gtsdk fleet enrol``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gtsdk.fleet import broker as bk
from gtsdk.fleet import topics
from gtsdk.fleet.agent import AgentConfig
from gtsdk.fleet.pki import generate_key, key_pem, make_csr
from gtsdk.fleet.provision import PlatformHome, enrol, new_code, sm2_proof, write_terminal_files


@dataclass
class Broker:
    name: str
    spec: bk.BrokerSpec
    process: bk.Mosquitto

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.spec.port}"


@dataclass
class LocalFleet:
    base: Path
    home: PlatformHome = field(init=False)
    brokers: dict[str, Broker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.home = PlatformHome(self.base / "platform")

    # ---- brokers ------------------------------------------------------------------------------------
    def start_broker(self, name: str = "province", *, cities: list[str] | None = None, city: str | None = None,
                     upstream: str | None = None, port: int | None = None) -> Broker:
        """A province broker (accepting bridges from *cities*) or a city broker bridged to broker *upstream*."""
        up = self.brokers[upstream].spec if upstream else None
        spec = bk.BrokerSpec(bk.broker_dir(f"gtsdk-{name}-"), port or bk.free_port(), cities=list(cities or []),
                             city=city, upstream=(up.host, up.port) if up else None)
        conf = bk.write_broker(spec, self.home.ca)
        b = Broker(name, spec, bk.Mosquitto(conf, spec.port).start())
        self.brokers[name] = b
        return b

    def refresh_crl(self) -> None:
        """Give every broker the CA's current CRL and make it reread it (SIGHUP)."""
        for b in self.brokers.values():
            bk.refresh_crl(b.spec.directory, self.home.ca)
            b.process.reload()

    def stop(self) -> None:
        for b in self.brokers.values():
            b.process.stop()
            shutil.rmtree(b.spec.directory, ignore_errors=True)
        self.brokers.clear()

    # ---- terminals ----------------------------------------------------------------------------------
    def enrol_terminal(self, engine: Engine, terminal_id: str, region: str, home: Path, broker: str, *,
                       maintainer: str | None = None, **settings: Any) -> AgentConfig:
        """Enrol *terminal_id* (one-time code + CSR and the terminal's SM2 key, as ``gtsdk fleet enrol`` does) and
        return its agent config."""
        from gtsdk.audit import Signer

        code = new_code(engine, terminal_id, region, created_by="lab", maintainer=maintainer)
        key = generate_key()
        csr = make_csr(key, terminal_id)
        home.mkdir(parents=True, exist_ok=True)
        sm2 = Signer(home).key
        e = enrol(engine, self.home, code, csr, sm2_public_pem=sm2.public_key().to_pem() if sm2 is not None else None,
                  sm2_proof=sm2_proof(sm2, csr) if sm2 is not None else None)
        write_terminal_files(home / "fleet", e, key_pem(key))
        table: dict[str, Any] = {"broker": self.brokers[broker].url, "terminal_id": terminal_id, "region": region,
                                 **settings}
        return AgentConfig.from_table(table, terminal={}, home=home)

    def platform_identity(self, n: int) -> Any:
        return self.home.identity(bk.PLATFORM_IDENTITIES[n - 1])


def region_of(city: str, county: int) -> str:
    """A county code under *city* (XXXX00): ``region_of('330100', 2)`` → ``330102``."""
    p = topics.scope_prefix(city)
    return f"{p}{county:02d}"
