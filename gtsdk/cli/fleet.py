"""``gtsdk fleet …``: the provincial fleet platform (docs/fleet.md).

Platform side: ``serve``, ``ingest`` (more workers), ``broker-config``, ``user``, ``code``, ``revoke``,
``simulate``, ``demo``.  Terminal side: ``enrol``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from gtsdk.errors import GtsdkError

DEFAULT_PORT = 8443


def _home(home: Path | None) -> Path:
    if home:
        return home
    if os.environ.get("GTSDK_FLEET_HOME"):
        return Path(os.environ["GTSDK_FLEET_HOME"])
    from gtsdk.home import home_dir
    return home_dir() / "fleet-platform"


def _db(db: str | None, home: Path) -> str:
    return db or str(home / "fleet.sqlite")


def _fail(e: GtsdkError) -> click.ClickException:
    return click.ClickException(f"{e.code}: {e.message('en')}{f' ({e.detail})' if e.detail else ''}")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


HOME = click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                    help="platform home (CA, keys); default $GTSDK_FLEET_HOME or <gtsdk home>/fleet-platform")
DB = click.option("--db", help="database URL (postgresql://user@host/db) or SQLite path; default <home>/fleet.sqlite")


@click.group()
def command() -> None:
    """The provincial fleet platform on MQTT 5 and PostgreSQL (7.4.1, 10.1, 10.2)."""


@command.command()
@HOME
@DB
@click.option("--broker", required=True, help="mqtts://host:port of the (provincial) broker")
@click.option("--listen", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="ingest workers in this process")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@click.option("--offline-after", type=float, default=300.0, show_default=True,
              help="seconds of silence before a level-1 offline fault")
def serve(home: Path | None, db: str | None, broker: str, listen: str, port: int, workers: int, timezone: str,
          offline_after: float) -> None:
    """Ingest, the fault database, the HTTPS API and the /fleet/ pages."""
    from gtsdk.fleet import httpd
    from gtsdk.fleet.api import build_app
    from gtsdk.fleet.platform import Platform, PlatformConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    h = _home(home)
    try:
        platform = Platform(PlatformConfig(home=h, db=_db(db, h), broker=broker, listen=listen, port=port,
                                           workers=workers, timezone=timezone, offline_after=offline_after)).start()
    except GtsdkError as e:
        raise _fail(e) from None
    cert, key = platform.home.https_files([listen, "localhost"])
    click.echo(f"fleet platform: https://{listen}:{port}/fleet/   (CA {platform.home.ca.cert_path})")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        httpd.serve_forever(build_app(platform), cert, key, host=listen, port=port)
    finally:
        platform.stop()


@command.command()
@HOME
@DB
@click.option("--broker", required=True)
@click.option("--worker", "n", type=int, required=True, help="worker number 2..8 (identity gtsdk.platform.N)")
def ingest(home: Path | None, db: str | None, broker: str, n: int) -> None:
    """One more ingest worker on the shared subscription (run as many as the load needs)."""
    from gtsdk.fleet import broker as bk
    from gtsdk.fleet.ingest import IngestWorker
    from gtsdk.fleet.provision import PlatformHome
    from gtsdk.fleet.store import db as dbm
    from gtsdk.fleet.store.apply import Applier

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 2 <= n <= len(bk.PLATFORM_IDENTITIES):
        raise click.BadParameter(f"2..{len(bk.PLATFORM_IDENTITIES)}", param_hint="--worker")
    h = _home(home)
    ph = PlatformHome(h)
    engine = dbm.open_engine(_db(db, h))
    dbm.create_schema(engine)
    name = bk.PLATFORM_IDENTITIES[n - 1]
    w = IngestWorker(Applier(engine), ph.identity(name), broker, client_id=name).start()
    click.echo(f"ingest worker {name} on {broker}")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        w.stop()


@command.command("broker-config")
@HOME
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--port", type=int, default=8883, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="listener address")
@click.option("--name", "names", multiple=True, help="DNS name or IP in the broker certificate (repeat)")
@click.option("--accept-city", "cities", multiple=True, help="provincial broker: accept this city's bridge")
@click.option("--city", help="city broker: its city code (XXXX00)")
@click.option("--upstream", help="city broker: host:port of the provincial broker")
def broker_config(home: Path | None, out: Path, port: int, host: str, names: tuple[str, ...],
                  cities: tuple[str, ...], city: str | None, upstream: str | None) -> None:
    """Write mosquitto.conf, the ACL, CA/CRL and certificates for one broker."""
    from gtsdk.fleet import broker as bk
    from gtsdk.fleet.provision import PlatformHome

    up = None
    if city or upstream:
        if not (city and upstream and ":" in upstream):
            raise click.UsageError("a city broker needs --city and --upstream host:port")
        uh, up_port = upstream.rsplit(":", 1)
        up = (uh, int(up_port))
    spec = bk.BrokerSpec(out, port, host=host, names=list(names) or [host, "localhost"], cities=list(cities),
                         city=city, upstream=up)
    conf = bk.write_broker(spec, PlatformHome(_home(home)).ca)
    click.echo(f"{conf}\nrun: mosquitto -c {conf}")


@command.group()
def user() -> None:
    """Platform users (province, city, maintainer)."""


@user.command("add")
@HOME
@DB
@click.argument("name")
@click.option("--role", type=click.Choice(["province", "city", "maintainer"]), required=True)
@click.option("--region", help="XX0000 for a province user, XXXX00 for a city user")
@click.option("--maintainer", help="the maintenance company (maintainer users)")
def user_add(home: Path | None, db: str | None, name: str, role: str, region: str | None,
             maintainer: str | None) -> None:
    """Create (or replace) a user and print its token once."""
    from gtsdk.fleet.store import db as dbm
    from gtsdk.fleet.users import add_user

    h = _home(home)
    engine = dbm.open_engine(_db(db, h))
    dbm.create_schema(engine)
    try:
        click.echo(add_user(engine, name, role, region=region, maintainer=maintainer))
    except GtsdkError as e:
        raise _fail(e) from None


@command.command()
@HOME
@DB
@click.option("--terminal", "terminal_id", required=True)
@click.option("--region", required=True, help="GB/T 2260 code of the terminal's county")
@click.option("--maintainer")
@click.option("--hours", type=float, default=72.0, show_default=True)
def code(home: Path | None, db: str | None, terminal_id: str, region: str, maintainer: str | None,
         hours: float) -> None:
    """A one-time enrolment code for a terminal."""
    from gtsdk.fleet.provision import PlatformHome, new_code
    from gtsdk.fleet.store import db as dbm

    h = _home(home)
    PlatformHome(h)
    engine = dbm.open_engine(_db(db, h))
    dbm.create_schema(engine)
    try:
        click.echo(new_code(engine, terminal_id, region, created_by="cli", maintainer=maintainer, hours=hours))
    except GtsdkError as e:
        raise _fail(e) from None


@command.command()
@HOME
@DB
@click.argument("terminal_id")
def revoke(home: Path | None, db: str | None, terminal_id: str) -> None:
    """Revoke a terminal's certificate; copy the CRL to the brokers and SIGHUP them (docs/fleet.md)."""
    from gtsdk.fleet.provision import PlatformHome
    from gtsdk.fleet.provision import revoke as do_revoke
    from gtsdk.fleet.store import db as dbm

    h = _home(home)
    ph = PlatformHome(h)
    engine = dbm.open_engine(_db(db, h))
    try:
        do_revoke(engine, ph, terminal_id, actor="cli")
    except GtsdkError as e:
        raise _fail(e) from None
    click.echo(f"revoked {terminal_id}; CRL: {ph.ca.crl_path}")


@command.command()
@click.option("--platform", "url", required=True, help="https://host:port of the fleet platform")
@click.option("--code", "otc", required=True, help="the one-time enrolment code")
@click.option("--ca", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="the fleet CA certificate (given with the code), to check the platform")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help="the terminal's gtsdk home")
def enrol(url: str, otc: str, ca: Path, home: Path | None) -> None:
    """Terminal side: make a key here, get it certified with the one-time code, write <home>/fleet/; register the
    terminal's SM2 key (<home>/terminal-sm2-key.pem, made if missing) that signs its audit log and reports."""
    from gtsdk.audit import Signer
    from gtsdk.fleet.pki import generate_key, key_pem, make_csr
    from gtsdk.fleet.provision import Enrolment, sm2_proof, write_terminal_files
    from gtsdk.home import home_dir

    h = home_dir(home)
    key = generate_key()
    csr = make_csr(key, "terminal")
    req_body: dict[str, str] = {"code": otc, "csr": csr.decode()}
    sm2 = Signer(h).key
    if sm2 is not None:
        req_body.update(sm2PublicKey=sm2.public_key().to_pem().decode(), sm2Proof=sm2_proof(sm2, csr))
    body = json.dumps(req_body).encode()
    req = urllib.request.Request(url.rstrip("/") + "/api/v1/enrol", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            data = json.loads(r.read(1 << 20))["data"]
    except urllib.error.HTTPError as e:
        err = json.loads(e.read(1 << 16) or b"{}")
        raise click.ClickException(f"{err.get('code', e.code)}: {err.get('message', '')}") from None
    except (urllib.error.URLError, OSError) as e:
        raise click.ClickException(f"cannot reach the platform: {e}") from None
    write_terminal_files(h / "fleet", Enrolment(data["terminalId"], data["region"], data["certificate"].encode(),
                                                data["ca"].encode(), data["commandKey"].encode()), key_pem(key))
    click.echo(f"enrolled {data['terminalId']} ({data['region']}); files in {h / 'fleet'}\n")
    click.echo(f'[fleet]\nbroker = "{data["broker"]}"\nterminal_id = "{data["terminalId"]}"\n'
               f'region = "{data["region"]}"\nname = ""\naddress = ""\n# latitude = 30.27\n# longitude = 120.15')


@command.command()
@click.option("--terminals", "n", type=int, default=50, show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="HTTPS port of /fleet/")
@click.option("--dir", "base", type=click.Path(file_okay=False, path_type=Path), help="work directory (default: temp)")
@click.option("--postgres", is_flag=True, help="a throwaway PostgreSQL instead of the embedded SQLite")
@click.option("--backfill-days", type=int, default=30, show_default=True)
@click.option("--speed", type=float, default=60.0, show_default=True, help="live event rate multiplier")
def demo(n: int, port: int, base: Path | None, postgres: bool, backfill_days: int, speed: float) -> None:
    """Mosquitto + the platform + N simulated terminals on this machine; prints the /fleet/ URL."""
    from gtsdk.fleet import httpd
    from gtsdk.fleet.api import build_app
    from gtsdk.fleet.lab import LocalFleet
    from gtsdk.fleet.localpg import LocalPostgres
    from gtsdk.fleet.platform import Platform, PlatformConfig
    from gtsdk.fleet.simulate import SimulatedFleet, plan_fleet
    from gtsdk.fleet.users import add_user

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    work = base or Path(tempfile.mkdtemp(prefix="gtsdk-fleet-demo-"))
    lab = LocalFleet(work)
    pg: LocalPostgres | None = None
    platform: Platform | None = None
    sim: SimulatedFleet | None = None
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        b = lab.start_broker("province")
        click.echo(f"mosquitto: {b.url} (pid {b.process.pid})")
        if postgres:
            pg = LocalPostgres().start()
            db_url = pg.create_database("fleet")
        else:
            db_url = str(work / "fleet.sqlite")
        platform = Platform(PlatformConfig(home=lab.home.path, db=db_url, broker=b.url, port=port, workers=1,
                                           broker_dirs=[b.spec.directory])).start()
        token = add_user(platform.engine, "province", "province", region="330000")
        city_token = add_user(platform.engine, "hangzhou", "city", region="330100")
        plans = plan_fleet(n)
        configs: list[tuple[Any, Any]] = []
        for p in plans:
            cfg = lab.enrol_terminal(platform.engine, p.terminal_id, p.region, work / "terminals" / p.terminal_id,
                                     "province", name=p.name, latitude=p.latitude, longitude=p.longitude,
                                     vendor="gtsdk-sim", model="SIM-1", heartbeat_interval=30)
            configs.append((p, cfg))
        sim = SimulatedFleet(configs, speed=speed)
        written = sim.backfill(backfill_days)
        sim.start()
        cert, key = platform.home.https_files(["127.0.0.1", "localhost"])
        click.echo(f"{n} simulated terminals, {written} records of {backfill_days} days of history on their way")
        click.echo(f"database: {db_url.split('@')[-1]}")
        click.echo(f"CA certificate: {platform.home.ca.cert_path}")
        click.echo(f"province user token: {token}\ncity user (杭州 330100) token: {city_token}")
        click.echo(f"\n/fleet/ → https://127.0.0.1:{port}/fleet/#token={token}\n"
                   f"big screen → https://127.0.0.1:{port}/fleet/?screen=big#token={token}\n(Ctrl-C stops everything)")
        httpd.serve_forever(build_app(platform), cert, key, host="127.0.0.1", port=port)
    except GtsdkError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        pass
    finally:
        if sim is not None:
            sim.stop()
        if platform is not None:
            platform.stop()
        lab.stop()
        if pg is not None:
            pg.cleanup()
        if base is None:  # a work directory of our own making
            shutil.rmtree(work, ignore_errors=True)


@command.command()
@HOME
@DB
@click.option("--broker", required=True, help="mqtts://host:port the terminals connect to")
@click.option("--terminals", "n", type=int, default=50, show_default=True)
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="directory for the simulated terminals' homes")
@click.option("--backfill-days", type=int, default=7, show_default=True)
@click.option("--speed", type=float, default=60.0, show_default=True)
def simulate(home: Path | None, db: str | None, broker: str, n: int, work: Path, backfill_days: int,
             speed: float) -> None:
    """N simulated terminals against a broker, enrolled with this platform home and database."""
    from gtsdk.fleet.agent import AgentConfig
    from gtsdk.fleet.pki import generate_key, key_pem, make_csr
    from gtsdk.fleet.provision import PlatformHome, enrol, new_code, write_terminal_files
    from gtsdk.fleet.simulate import SimulatedFleet, plan_fleet
    from gtsdk.fleet.store import db as dbm

    logging.basicConfig(level=logging.WARNING)
    h = _home(home)
    ph = PlatformHome(h)
    engine = dbm.open_engine(_db(db, h))
    dbm.create_schema(engine)
    configs: list[tuple[Any, AgentConfig]] = []
    for p in plan_fleet(n):
        th = work / p.terminal_id
        if not (th / "fleet" / "cert.pem").exists():
            k = generate_key()
            e = enrol(engine, ph, new_code(engine, p.terminal_id, p.region, created_by="simulate"),
                      make_csr(k, p.terminal_id))
            write_terminal_files(th / "fleet", e, key_pem(k))
        configs.append((p, AgentConfig.from_table({"broker": broker, "region": p.region, "name": p.name,
                                                   "latitude": p.latitude, "longitude": p.longitude,
                                                   "terminal_id": p.terminal_id}, terminal={}, home=th)))
    sim = SimulatedFleet(configs, speed=speed)
    click.echo(f"{sim.backfill(backfill_days)} records of history; {n} terminals live (Ctrl-C stops)")
    sim.start()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
