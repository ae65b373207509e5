# ruff: noqa: F811  (pytest fixtures imported from _fleet_fixtures are parameters here)
"""Topic tree, masking, CA and CRL, broker files, partitions and refusals — the parts under the pipeline."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from _fleet_fixtures import db_url, engine, postgres  # noqa: F401
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select, text

from gtsdk.errors import GtsdkError
from gtsdk.fleet import broker as bk
from gtsdk.fleet import errors as fe
from gtsdk.fleet import topics
from gtsdk.fleet.pki import FleetCA, generate_key, make_csr
from gtsdk.fleet.store import db
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.apply import Applier, Incoming, mask_text
from gtsdk.fleet.store.queries import Scope

ids = st.from_regex(topics.TERMINAL_ID, fullmatch=True)
regions = st.from_regex(r"[1-9][0-9]{5}", fullmatch=True)
channels = st.sampled_from([*topics.UP, *topics.DOWN])


@given(ids, regions, channels)
def test_topics_round_trip(tid: str, region: str, channel: str) -> None:
    t = topics.topic(region, tid, channel)  # type: ignore[arg-type]
    assert topics.parse(t) == topics.Parsed(region, tid, channel)
    assert t.startswith(f"gt/{region[:2]}/{region[:4]}/{region}/")


@given(st.text(max_size=80))
def test_parse_never_raises_and_refuses_inconsistent_levels(t: str) -> None:
    p = topics.parse(t)
    if p is not None:
        assert topics.topic(p.region, p.terminal_id, p.channel) == t  # type: ignore[arg-type]


def test_parse_refuses_forged_levels() -> None:
    assert topics.parse("gt/33/3302/330102/T-1/rec") is None  # county not in the city
    assert topics.parse("gt/33/3301/330102/T.1/rec") is None  # dots are for platform identities
    assert topics.parse("gt/33/3301/330102/T-1/oops") is None
    with pytest.raises(ValueError):
        topics.topic("330102", "gtsdk.platform.1", "rec")


@given(regions, regions)
def test_scope_prefix_covers_exactly_its_division(a: str, b: str) -> None:
    p = topics.scope_prefix(a)
    assert a.startswith(p)
    lo, hi = p.ljust(6, "0"), str(int(p) + 1).ljust(6, "0")
    assert (lo <= b < hi) == b.startswith(p)
    assert Scope(p).covers_region(b) == b.startswith(p)


@settings(max_examples=200)
@given(st.text(alphabet="0123456789Xx 号电话身份证abc-", max_size=60))
def test_masking_leaves_no_id_or_phone_number(t: str) -> None:
    import re
    m = mask_text(t)
    assert not re.search(r"\d{9,}", m)
    assert len(m) == len(t)


def test_mask_examples() -> None:
    assert mask_text("身份证 11010519491231002X") == "身份证 110***************"
    assert mask_text("电话13912345678") == "电话139********"
    assert mask_text("第 3 号窗口 12 分钟") == "第 3 号窗口 12 分钟"


def test_ca_names_the_terminal_not_the_csr_and_crl_lists_revocations(tmp_path: Path) -> None:
    ca = FleetCA.open(tmp_path / "ca")
    issued = ca.issue_client(make_csr(generate_key(), "gtsdk.platform.1"), "T-1")
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "T-1"
    assert ca.verify_issued(cert)
    ca.revoke(issued.serial, "T-1")
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    # OpenSSL, the broker's library, agrees: the certificate verifies against the CA and fails with the CRL
    (tmp_path / "c.pem").write_bytes(issued.cert_pem)
    ok = subprocess.run(["openssl", "verify", "-CAfile", str(ca.cert_path), str(tmp_path / "c.pem")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(ca.cert_path), "-CRLfile",
                          str(ca.crl_path), str(tmp_path / "c.pem")], capture_output=True, text=True)
    assert bad.returncode != 0 and "revoked" in (bad.stdout + bad.stderr)
    with pytest.raises(GtsdkError):
        ca.issue_client(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "T-2")
    with pytest.raises(GtsdkError):
        ca.issue_client(make_csr(generate_key(), "x"), "bad id with spaces")


def test_crl_is_renewed_before_it_lapses(tmp_path: Path) -> None:
    ca = FleetCA.open(tmp_path / "ca")
    assert not ca.crl_due()
    from cryptography.hazmat.primitives import hashes, serialization
    now = dt.datetime.now(dt.UTC)
    old = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject).last_update(now - dt.timedelta(days=25))
           .next_update(now + dt.timedelta(days=5)).sign(ca._key, hashes.SHA256()))
    ca.crl_path.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    assert ca.crl_due()
    ca.write_crl()
    assert not ca.crl_due()


def test_broker_files(tmp_path: Path) -> None:
    ca = FleetCA.open(tmp_path / "ca")
    spec = bk.BrokerSpec(tmp_path / "city", 18883, cities=[], city="330100", upstream=("10.0.0.1", 8883))
    conf = bk.write_broker(spec, ca).read_text()
    for line in ("require_certificate true", "use_identity_as_username true", "use_username_as_clientid true",
                 "allow_anonymous false", "persistence true", "bridge_protocol_version mqttv50",
                 "topic +/+/rec out 1 gt/33/3301/ gt/33/3301/", "topic +/+/cmd in 1 gt/33/3301/ gt/33/3301/",
                 "connection gtsdk.bridge.3301", "crlfile "):
        assert line in conf, line
    prov = bk.acl_text(bk.BrokerSpec(tmp_path / "p", 8883, cities=["330100"]))
    assert "pattern write gt/+/+/+/%u/rec" in prov and "pattern read gt/+/+/+/%u/cmd" in prov
    assert "user gtsdk.bridge.3301\ntopic write gt/33/3301/+/+/rec" in prov
    assert "pattern write gt/+/+/+/%u/cmd" not in prov
    with pytest.raises(ValueError):
        topics.bridge_prefix("330102")  # a county is not a city


def test_partitions_and_refusals(engine: Engine) -> None:
    with db.writer(engine).begin() as c:
        c.execute(insert(s.terminals).values(id="T-1", region="330102", name="", address="", vendor="", model="",
                                             software_version="", modules={}, profile_version=0,
                                             low_use_exempt=False, online=False, session=0))
    ap = Applier(engine)
    from _fleet_fixtures import transaction
    old = transaction("T-1", dt.datetime(2025, 3, 14, 9, tzinfo=dt.UTC), "S1")
    new = transaction("T-1", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), "S1")
    future = transaction("T-1", dt.datetime.now(dt.UTC) + dt.timedelta(days=3), "S1")
    r = ap.apply([Incoming("T-1", "330102", e.model_dump_json(by_alias=True).encode(), i)
                  for i, e in enumerate((old, new, future))] + [Incoming("T-1", "330102", b"{}", 9),
                                                                 Incoming("T-1", "330106", b"{}", 10)])
    assert r.new == 2
    assert sorted((seq, code) for seq, _i, _v, code in r.rejected["T-1"]) == [
        (2, fe.RECORD_INVALID), (9, fe.RECORD_INVALID), (10, fe.RECORD_INVALID)]
    if db.is_postgres(engine):
        with engine.connect() as c:
            parts = {row[0] for row in c.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'transactions'"))}
        assert "transactions_p202503" in parts and len(parts) == 2
    with engine.connect() as c:
        assert c.execute(select(s.audit.c.code).where(s.audit.c.action == "ingest.reject")).all()
        detail = json.dumps([list(r) for r in c.execute(select(s.audit.c.detail))])
        assert "sm3=" in detail and "serviceCode" not in detail  # refused bodies are never stored


def test_rollups_follow_versions(engine: Engine) -> None:
    """A rewritten availability day (version 2) moves the county rollup by the difference, once."""
    from gtsdk.records.schema import RecordEnvelope, RecordKind
    with db.writer(engine).begin() as c:
        c.execute(insert(s.terminals).values(id="T-9", region="330102", name="", address="", vendor="", model="",
                                             software_version="", modules={}, profile_version=0,
                                             low_use_exempt=False, online=False, session=0))
    ap = Applier(engine)
    day = dt.date.today() - dt.timedelta(days=1)

    def av(version: int, up: float, down: float) -> Incoming:
        e = RecordEnvelope(id="availability-T-9-x", kind=RecordKind.AVAILABILITY, version=version, terminal_id="T-9",
                           time=dt.datetime.now(dt.UTC), body={"day": day.isoformat(), "up": up, "down": down})
        return Incoming("T-9", "330102", e.model_dump_json(by_alias=True).encode(), version)
    ap.apply([av(1, 40000.0, 100.0)])
    ap.apply([av(2, 86000.0, 400.0), av(1, 40000.0, 100.0)])
    ap.apply([av(2, 86000.0, 400.0)])
    with engine.connect() as c:
        row = c.execute(select(s.region_availability_daily.c.up, s.region_availability_daily.c.down)).one()
    assert tuple(row) == (86000.0, 400.0)


def test_host_success_rates_are_spelt_1h_and_the_old_spelling_is_still_read(engine: Engine) -> None:
    """``successRate1h`` / ``successRate24h`` on the wire; a record queued by an older terminal (``successRate1H``)
    is applied, not refused."""
    from gtsdk.records.schema import Host, RecordEnvelope, RecordKind
    assert set(Host(success_rate_1h=0.5, success_rate_24h=0.25).wire()) == {"successRate1h", "successRate24h"}
    with db.writer(engine).begin() as c:
        c.execute(insert(s.terminals).values(id="T-H", region="330102", name="", address="", vendor="", model="",
                                             software_version="", modules={}, profile_version=0,
                                             low_use_exempt=False, online=False, session=0))
    now = dt.datetime.now(dt.UTC)
    bodies = [{"cpuPercent": 5.0, "successRate1h": 0.9, "successRate24h": 0.95},
              {"cpuPercent": 6.0, "successRate1H": 0.8, "successRate24H": 0.85}]
    incoming = [Incoming("T-H", "330102", RecordEnvelope(
        id=f"host-sample-{i}", kind=RecordKind.HOST, terminal_id="T-H", time=now - dt.timedelta(minutes=i),
        body=b).model_dump_json(by_alias=True).encode(), i) for i, b in enumerate(bodies)]
    r = Applier(engine).apply(incoming)
    assert r.new == 2 and not r.rejected
    with engine.connect() as c:
        rows = c.execute(select(s.host_samples.c.success_rate_1h, s.host_samples.c.success_rate_24h)
                         .order_by(s.host_samples.c.time.desc())).all()
    assert [tuple(x) for x in rows] == [(0.9, 0.95), (0.8, 0.85)]


@settings(max_examples=300, deadline=None)
@given(start=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)), length=st.integers(0, 800),
       last=st.one_of(st.none(), st.dates(dt.date(2023, 12, 1), dt.date(2030, 1, 1))))
def test_month_plan_counts_every_day_of_the_window_once(start: dt.date, length: int, last: dt.date | None) -> None:
    """Months + days added − days taken away cover each day of the window once and no other day with data, and
    never read more than half a month of days per partial month."""
    from gtsdk.fleet.store.queries import month_plan
    end = start + dt.timedelta(days=length)
    months, plus, minus = month_plan(start, end, last)

    def covered(d: dt.date) -> int:
        return (d.replace(day=1) in months) + sum(a <= d <= b for a, b in plus) - sum(a <= d <= b for a, b in minus)
    lo, hi = start.replace(day=1) - dt.timedelta(days=1), end + dt.timedelta(days=32)
    d = lo
    while d <= hi:
        if last is not None and d <= last:
            assert covered(d) == (1 if start <= d <= end else 0), d
        elif start <= d <= end:
            assert covered(d) >= 0
        d += dt.timedelta(days=1)
    assert all((b - a).days + 1 <= 31 for a, b in plus + minus)
    assert sum((b - a).days + 1 for a, b in minus) <= 16 * len(months)


def test_terminal_ranking_from_months_equals_the_sum_of_days(engine: Engine) -> None:
    """The ranking read from months and edge days equals the plain sum over the days, for windows of any shape."""
    from _fleet_fixtures import transaction

    from gtsdk.fleet.store import queries as qq
    with db.writer(engine).begin() as c:
        for tid in ("T-A", "T-B", "T-C"):
            c.execute(insert(s.terminals).values(id=tid, region="330102", name="", address="", vendor="", model="",
                                                 software_version="", modules={}, profile_version=0,
                                                 low_use_exempt=False, online=False, session=0))
    rng = random.Random(5)
    now = dt.datetime.now(dt.UTC)
    batch: list[Incoming] = []
    for tid in ("T-A", "T-B", "T-C"):
        for back in range(0, 130):
            for k in range(rng.choice([0, 0, 1, 2, 5])):
                started = now - dt.timedelta(days=back, minutes=13 * k + 5)
                batch.append(Incoming(tid, "330102", transaction(tid, started, "S1").model_dump_json(
                    by_alias=True).encode(), len(batch)))
    Applier(engine).apply(batch)
    tz = ZoneInfo("Asia/Shanghai")
    today = qq.local_today(tz)
    d = s.terminal_usage_daily
    for start_back, length in ((29, 29), (89, 89), (125, 125), (60, 3), (45, 20), (100, 40), (5, 5), (200, 300)):
        start = today - dt.timedelta(days=start_back)
        end = start + dt.timedelta(days=length)
        with engine.connect() as c:
            got = {r["terminalId"]: r["count"] for r in qq.terminal_ranking(c, qq.Scope("33"), start, end, limit=10)}
            want = {t: int(n) for t, n in c.execute(select(d.c.terminal_id, func.sum(d.c.n)).where(
                d.c.day >= start, d.c.day <= end).group_by(d.c.terminal_id)).all() if n}
        assert got == want, (start, end)
