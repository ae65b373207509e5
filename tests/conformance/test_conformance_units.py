"""The conformance suite's parts on their own: clause citations held to the standard's text,
the personal-data finder (hypothesis), tiers, time budgets, and an event client that cannot hang."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.conformance import clauses, driver_tier, framework, pii, scenarios, terminal_tier
from gtsdk.conformance.events import EventLoopThread, EventStream
from gtsdk.conformance.framework import Fail, NotRun, Registry, clock
from gtsdk.conformance.model import CheckResult, Outcome, Report, Tier, tier_reached, tier_states
from gtsdk.conformance.observer import FOREIGN_ORIGIN, Observer, Seen, preferred_language
from gtsdk.modules import MODULES


# ---- clauses ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("check", [c for c in terminal_tier.checks.checks + driver_tier.checks.checks],
                         ids=lambda c: c.id)
def test_every_check_cites_clauses_that_exist_and_say_what_it_tests(check: framework.Check) -> None:
    assert clauses.problems(dict(check.refs)) == []


def test_a_wrong_citation_is_caught() -> None:
    assert clauses.problems({"6.4.4 h": "接口超时"})  # h is multi-channel consistency, not timeouts
    assert clauses.problems({"9.9.9": "限流"})
    assert clauses.problems({})
    assert clauses.problems({"6.4.4 c)": "接口超时"}) == []  # "8.4 a)" and "8.4 a" are the same clause


def test_the_clause_table_names_its_source_and_has_every_module_of_8_4() -> None:
    assert "政务服务集成式自助终端管理服务规范" in clauses.source()
    for spec in MODULES.values():
        body = clauses.text(spec.clause)
        assert body is not None and spec.title_zh[:2] in body, spec.clause


# ---- personal data ---------------------------------------------------------------------------------------
def _id(region: int, born: tuple[int, int, int], seq: int) -> str:
    first17 = f"{region:06d}{born[0]:04d}{born[1]:02d}{born[2]:02d}{seq:03d}"
    return first17 + pii.check_digit(first17)


ids = st.builds(_id, st.integers(110000, 829999), st.tuples(st.integers(1920, 2020), st.integers(1, 12),
                                                              st.integers(1, 28)), st.integers(0, 999))
filler = st.text(alphabet="abc 中文:,{}\"", max_size=20)


@given(ids, filler, filler)
@settings(max_examples=200)
def test_an_id_number_with_a_valid_check_digit_is_found_wherever_it_is_and_masked(number: str, before: str,
                                                                                    after: str) -> None:
    text = before + number + after
    assert pii.is_id_number(number)
    assert any(f.kind == "idNumber" for f in pii.find(text))
    masked = pii.mask(text)
    assert number not in masked and not any(f.kind == "idNumber" for f in pii.find(masked))
    assert pii.mask(masked) == masked


@given(ids)
def test_a_wrong_check_digit_is_not_an_id_number(number: str) -> None:
    wrong = number[:17] + next(c for c in "0123456789X" if c != number[17])
    assert not pii.is_id_number(wrong)
    assert not any(f.kind == "idNumber" for f in pii.find(f"x {wrong} y"))


@given(st.binary(max_size=300))
def test_base64_data_is_never_taken_for_an_mrz(data: bytes) -> None:
    import base64

    assert not any(f.kind == "mrz" for f in pii.find(base64.b64encode(data).decode()))


@given(st.binary(min_size=16, max_size=64))
def test_hashes_are_never_taken_for_id_numbers(digest: bytes) -> None:
    assert not any(f.kind == "idNumber" for f in pii.find(f"hash {digest.hex()} end"))


def test_mrz_lines_passport_numbers_and_sample_names_are_found() -> None:
    from gtsdk.conformance.samples import SPECIMEN_MRZ

    for line in SPECIMEN_MRZ.splitlines():
        assert [f.kind for f in pii.find(f'"mrz": "{line}"')] == ["mrz"], line
    assert pii.find("CSC531580954<2612199<9712087<2")  # a one-line Chinese permit
    for number in ("E12345678", "EA1234567", "G12345678", "H12345678", "USA110090010101"):
        assert any(f.kind == "passportNumber" for f in pii.find(f"no {number}.")), number
    for innocent in ("E1234567", "conf-000123", "a1b2c3d4e5f6a7b8", "2026-12-07T16:32:46Z", "L898902C"):
        assert not pii.find(innocent), innocent
    assert any(f.kind == "name" for f in pii.find("holder 张示例"))


# ---- tiers -------------------------------------------------------------------------------------------------
def _r(tier: Tier, outcome: Outcome) -> CheckResult:
    return CheckResult(id=f"x.{tier.value}.{outcome.value}", title="", clause="8.4", tier=tier, outcome=outcome)


def test_a_tier_is_earned_only_by_checks_that_ran() -> None:
    b, s, g = Tier.BRONZE, Tier.SILVER, Tier.GOLD
    p, f, n, na = Outcome.PASS, Outcome.FAIL, Outcome.NOT_RUN, Outcome.NOT_APPLICABLE
    assert tier_reached([_r(b, p), _r(s, p), _r(g, p)]) == g
    assert tier_reached([_r(b, p), _r(s, p), _r(s, n), _r(g, p)]) == b  # silver incomplete: gold too is out
    assert tier_reached([_r(b, p), _r(b, na), _r(s, p), _r(g, p)]) == g  # not applicable blocks nothing
    assert tier_reached([_r(b, n), _r(s, p), _r(g, p)]) is None
    assert tier_reached([_r(b, p), _r(s, f), _r(g, p)]) == b
    assert tier_states([_r(b, p), _r(s, n), _r(g, f)]) == {"bronze": "complete", "silver": "incomplete",
                                                           "gold": "failed"}
    rep = Report(kind="driver", target="x.y", tool="t", results=[_r(b, p), _r(s, n)])
    rep.finish()
    assert rep.passed and rep.tier_reached == b and [m.tier for m in rep.incomplete] == [s]


# ---- budgets -----------------------------------------------------------------------------------------------
def test_a_check_waits_no_longer_than_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry()
    monkeypatch.setattr(framework, "GRACE", 0.5)

    @reg.check("t.capped", "I/O capped by the budget", Tier.BRONZE, refs={"8.1": "HTTPS"}, budget=0.5)
    def capped(ctx: object) -> None:
        while True:
            time.sleep(clock().cap(10.0, "the reply"))

    @reg.check("t.stuck", "a call that ignores the budget", Tier.BRONZE, refs={"8.1": "HTTPS"}, budget=0.3)
    def stuck(ctx: object) -> None:
        time.sleep(30)

    @reg.check("t.after", "the run goes on", Tier.BRONZE, refs={"8.1": "HTTPS"}, budget=1)
    def after(ctx: object) -> None:
        raise NotRun("needs a person", "--interactive")

    rep = Report(kind="driver", target="x.y", tool="t")
    t0 = time.monotonic()
    framework.run(reg, object(), rep, [])
    took = time.monotonic() - t0
    by = {r.id: r for r in rep.results}
    assert by["t.capped"].outcome == Outcome.FAIL and "budget of 0.5 s ran out" in by["t.capped"].reason
    assert by["t.stuck"].outcome == Outcome.ERROR and "overran its budget" in by["t.stuck"].reason
    assert by["t.after"].outcome == Outcome.NOT_RUN and by["t.after"].needs == "--interactive"
    assert took < 0.5 + 0.3 + 0.5 + 1.0 + 1.0  # each budget, the grace, and some room for a loaded machine


def test_checks_that_no_longer_fit_the_run_budget_are_reported_not_run() -> None:
    reg = Registry()
    for i in range(3):
        @reg.check(f"t.slow{i}", "slow", Tier.BRONZE, refs={"8.1": "HTTPS"}, budget=5)
        def slow(ctx: object) -> None:
            time.sleep(clock().cap(0.8))

    rep = Report(kind="driver", target="x.y", tool="t")
    framework.run(reg, object(), rep, [], budget=2.0)
    outcomes = [r.outcome for r in rep.results]
    assert outcomes[0] == Outcome.PASS and outcomes[-1] == Outcome.NOT_RUN
    assert "budget" in rep.results[-1].needs


# ---- the event client cannot hang -------------------------------------------------------------------------
@pytest.fixture
def silent_tls_server(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """Completes TCP and TLS (sending TLS 1.3 session tickets) and then never answers the WebSocket upgrade."""
    from gtsdk.server import tls

    files = tls.ensure(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(files.cert), str(files.key))
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    lsock = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                conn.settimeout(5)
                held.append(server_ctx.wrap_socket(conn, server_side=True))
            except (OSError, ssl.SSLError):
                conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield lsock.getsockname()[1], client_ctx
    stop.set()
    lsock.close()
    th.join(2)
    for s in held:
        s.close()


def test_the_event_client_gives_up_on_a_handshake_that_never_completes(
        silent_tls_server: tuple[int, ssl.SSLContext]) -> None:
    port, ctx = silent_tls_server
    loop = EventLoopThread()
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            EventStream(loop, f"wss://127.0.0.1:{port}/v1/events", ctx, timeout=1.0)
        assert time.monotonic() - t0 < 1.0 + 3.0
    finally:
        t0 = time.monotonic()
        loop.close()
        assert time.monotonic() - t0 < 5.0 and not loop.thread.is_alive()


def test_the_event_client_gives_up_on_a_server_that_never_speaks_tls() -> None:
    lsock = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog) and says nothing
    loop = EventLoopThread()
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            EventStream(loop, f"wss://127.0.0.1:{lsock.getsockname()[1]}/v1/events", ssl.create_default_context(),
                        timeout=1.0)
        assert time.monotonic() - t0 < 4.0
    finally:
        loop.close()
        lsock.close()


# ---- the observer ------------------------------------------------------------------------------------------
def test_accept_language_preference_follows_q_values_and_defaults_to_chinese() -> None:
    assert preferred_language(None) == "zh" and preferred_language("") == "zh"
    assert preferred_language("en") == "en" and preferred_language("en-US,en;q=0.9") == "en"
    assert preferred_language("en;q=0.1, zh-CN;q=0.9") == "zh" and preferred_language("fr") == "zh"
    assert preferred_language("zh-CN,en") == "zh" and preferred_language("en,zh-CN") == "en"


def _seen(path: str, headers: dict[str, str], origin: str | None = None, body: object = None) -> Seen:
    return Seen("GET", path, 200, body or {"code": "success", "message": "成功", "requestId": "r1", "data": {}},
                "{}", headers, {"origin": origin} if origin else {}, "r1", "zh")


def test_cors_is_judged_on_every_reply() -> None:
    obs = Observer()
    obs.see(_seen("/v1/idcard/status", {"content-type": "application/json", "access-control-allow-origin": "*"}))
    obs.see(_seen("/v1/idcard/status", {"content-type": "application/json",
                                         "access-control-allow-origin": FOREIGN_ORIGIN}, FOREIGN_ORIGIN))
    obs.see(_seen("/v1/idcard/status", {"content-type": "application/json",
                                         "access-control-allow-origin": "https://kiosk.example.gov.cn",
                                         "vary": "Origin"}, "https://kiosk.example.gov.cn"))
    problems = [v.problem for v in obs.violations("cors")]
    assert len(problems) == 2 and "*" in problems[0] and "foreign origin" in problems[1]


def test_personal_data_is_allowed_only_in_results_declared_to_carry_it() -> None:
    holder = {"name": "张示例", "idNumber": _id(110101, (1990, 3, 7), 1)}
    body = {"code": "success", "message": "成功", "requestId": "r1", "data": holder}
    obs = Observer(personal=lambda m, o: (m, o) == ("idcard", "read"))
    read = Seen("POST", "/v1/idcard/read", 200, body, "", {}, {}, "r1", "zh", "idcard", "read")
    status = Seen("GET", "/v1/idcard/status", 200, body, str(body), {}, {}, "r1", "zh", "idcard", None)
    obs.see(read)
    assert obs.count("personalData") == 0
    obs.see(status)
    assert obs.count("personalData") == 1


def test_mandatory_operations_follow_clause_8_4() -> None:
    assert scenarios.mandatory("idcard") == ["open", "close", "read"]
    assert scenarios.mandatory("imaging") == ["crop"]
    assert scenarios.optional("imaging") == ["detect_document", "enhance", "redact", "ocr"]
    assert scenarios.mandatory("receipt_printer") == ["init", "print", "cut", "close"]
    for m in MODULES:
        assert {s.op for s in scenarios.steps(m)} == set(MODULES[m].operations), m
    with pytest.raises(Fail):
        framework.require(False, "x")


# ---- the self-test terminal ---------------------------------------------------------------------------------
def test_the_self_test_terminal_gives_its_simulated_sam_the_read_gap_and_drivers_keep_the_real_one(
        tmp_path: Path) -> None:
    """The suite's own test terminal shares a loaded machine with its simulators: the SAM simulator's gap is the
    driver's read gap there, while a simulated terminal on its own keeps the driver's 0.5 s bound (the one the
    driver tests are about)."""
    from gtsdk.conformance import selftest
    from gtsdk.drivers.sam_serial.driver import SamSerialSettings
    from gtsdk.simulated import simulated_terminal

    gap = SamSerialSettings.model_fields["read_answer_timeout"].default
    assert selftest.SIMULATOR_SETTINGS["idcard"]["answer_timeout"] == gap
    mine = simulated_terminal(tmp_path / "a", modules=["idcard"], settings=selftest.SIMULATOR_SETTINGS)
    plain = simulated_terminal(tmp_path / "b", modules=["idcard"])
    try:
        s, p = mine.config.modules["idcard"].settings, plain.config.modules["idcard"].settings
        assert s["answer_timeout"] == gap and s["port"].endswith("ttySAM0")  # the simulator's port stays
        assert "answer_timeout" not in p
        assert SamSerialSettings.model_validate(p).answer_timeout == 0.5
    finally:
        mine.stop()
        plain.stop()


# ---- the HTTP client ------------------------------------------------------------------------------------------
def test_closing_the_context_leaves_a_request_still_under_way_its_connection(tmp_path: Path) -> None:
    """A check can leave a request behind (the cancel check's waiting call on a terminal that never ends it).
    The run's end must not close the client's sockets under that request: OpenSSL would go on reading the
    descriptor's number, which the next connection of the process gets (its client then fails with
    ``bad record mac``).  The request ends normally and the last one out closes the client."""
    from gtsdk.conformance.terminal_base import Broken, TerminalContext
    from gtsdk.server import tls

    f = tls.ensure(tmp_path)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(f.cert, f.key)
    asked, release = threading.Event(), threading.Event()
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def serve() -> None:
        conn, _ = srv.accept()
        with sctx.wrap_socket(conn, server_side=True) as s:
            s.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            asked.set()
            release.wait(10)
            body = b'{"code":"success","data":{}}'
            s.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                      % (len(body), body))
            with contextlib.suppress(OSError):
                s.recv(1)  # until the client closes

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    ctx = TerminalContext(f"https://127.0.0.1:{srv.getsockname()[1]}", "token", ca=f.ca_cert)
    box: dict[str, object] = {}

    def waiting() -> None:
        try:
            box["reply"] = ctx.get("/slow", token=False, wait=10)
        except Broken as e:
            box["error"] = e.reason

    caller = threading.Thread(target=waiting, daemon=True)
    caller.start()
    try:
        assert asked.wait(10)
        ctx.close()  # the run ends while the request waits
        release.set()
        caller.join(10)
        reply = box.get("reply")
        assert reply is not None, box.get("error")
        assert getattr(reply, "status", None) == 200
        assert ctx._client is None  # closed by the request that was last out
    finally:
        release.set()
        server.join(10)
        srv.close()
