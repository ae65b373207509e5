"""Who may call, and what the log shows of it (issue #18 items 6, 7 and 11's 401 half): refused callers throttled
per client address and logged without their secret; no token secret in any log line of a session, including
``/v1/events?token=``; browser origins from the configuration, never from a request's Host header."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _server_fixtures import Svc, bounded_socket, start_service
from websockets.sync.client import connect

from gtsdk.server.auth import FailureThrottle, token_id

#: the test's own clients (they log what they send; the service is what is checked)
CLIENT_LOGGERS = ("websockets.client", "httpx", "httpcore")


class Capture(logging.Handler):
    """Every record of every logger but the test clients', formatted the way a console handler would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):
            self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Capture]:
    cap = Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(cap)
    root.setLevel(logging.DEBUG)
    uvicorn_root = logging.getLogger("uvicorn")  # uvicorn's loggers do not propagate to the root
    levels = {n: logging.getLogger(n).level for n in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    for n in levels:
        logging.getLogger(n).setLevel(logging.DEBUG)  # as chatty as `gtsdk serve` (info) and more
    try:
        yield cap
    finally:
        root.removeHandler(cap)
        uvicorn_root.removeHandler(cap)
        root.setLevel(old)
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)


def ws(s: Svc, query: str) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=s.ca)
    url = f"wss://127.0.0.1:{s.running.port}/v1/events?{query}"
    with connect(url, sock=bounded_socket(s.running.port), ssl=ctx, open_timeout=5, close_timeout=5) as conn:
        msg: dict[str, object] = json.loads(conn.recv(timeout=5))
        return msg


def test_no_token_secret_in_any_log_line(tmp_path: Path, logs: Capture) -> None:
    s = start_service(tmp_path / "h")
    # uvicorn's logging config (applied at start) replaced the handlers of its loggers and their levels
    logging.getLogger("uvicorn").addHandler(logs)
    logging.getLogger("uvicorn.error").setLevel(logging.DEBUG)
    secret = s.app_token.split("_", 2)[2]
    forged = s.app_token[: -len(secret)] + "WRONGSECRETWRONGSECRET"
    try:
        assert ws(s, f"token={s.app_token}&modules=idcard")["type"] == "hello"
        assert ws(s, f"token={forged}")["code"] == "unauthorized"
        with s.client(forged) as c:
            assert c.get("/v1/services").status_code == 401
        with s.client() as c:
            assert c.get(f"/v1/services?token={s.app_token}").status_code == 401
    finally:
        s.running.stop()
        s.terminal.stop()
    text = "\n".join(logs.lines)
    assert 'uvicorn.error INFO 127.0.0.1:' in text and "/v1/events?token=***" in text  # uvicorn's line, scrubbed
    assert secret not in text and "WRONGSECRET" not in text
    assert f"token id {s.app_token.split('_')[1]}" in text  # refusals name the token id, which is not secret


def test_refusals_are_logged_and_throttled_per_address(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = start_service(tmp_path / "h", {"auth_failure_rate": 0.5, "auth_failure_burst": 5})
    try:
        with s.app() as good:  # verified once: keeps working while the address is throttled
            assert good.get("/v1/services").status_code == 200
            with caplog.at_level(logging.WARNING, logger="gtsdk.server.auth"), \
                    s.client("gts_0123456789ab_guess") as bad:
                codes = [bad.get("/v1/services").status_code for _ in range(12)]
                last = bad.get("/v1/services")
                assert good.get("/v1/services").status_code == 200
            with s.maint() as fresh:  # a token this address never used is not checked while throttled
                assert fresh.get("/v1/services").status_code == 429
    finally:
        s.running.stop()
        s.terminal.stop()
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert last.json()["code"] == "rateLimited" and int(last.headers["retry-after"]) >= 1
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refused) == 5 and all("127.0.0.1" in m and "token id 0123456789ab" in m for m in refused)
    assert not any("guess" in r.getMessage() for r in caplog.records)


def test_wrong_scope_and_origin_count_as_refusals(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"auth_failure_rate": 0.5, "auth_failure_burst": 3,
                                       "apps": {"counter": {"origins": ["https://counter.example"]}}})
    try:
        with s.app() as c:
            r = [c.get("/v1/audit").status_code for _ in range(3)]  # app token on a maintenance route: 403
            r += [c.get("/v1/services", headers={"Origin": "https://counter.example"}).status_code]
        with s.client("gts_aa_bb") as c:
            r += [c.get("/v1/services").status_code]
    finally:
        s.running.stop()
        s.terminal.stop()
    assert r == [403, 403, 403, 403, 429]


def test_throttle_bucket_refills_and_forgets_old_addresses() -> None:
    now = [0.0]
    t = FailureThrottle(rate=1.0, burst=2, clock=lambda: now[0])
    t.refused("a", "x", "r", "-")
    t.refused("a", "x", "r", "-")
    assert t.wait("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert t.wait("a") == 0.0
    for i in range(5000):
        t.wait(f"addr-{i}")
    assert len(t._buckets) <= 4096


def test_token_id_never_shows_the_secret() -> None:
    assert token_id("gts_0123abcd_secretpart") == "0123abcd"
    assert token_id("gts_NOT-HEX_secret") == "-" and token_id("Bearer x") == "-" and token_id(None) == "-"


def test_host_header_cannot_add_an_allowed_origin(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"demo": True})
    port = s.running.port
    try:
        with s.client() as c:
            for fake in range(20000, 20050):  # pages asked for under many Host headers
                assert c.get("/demo/", headers={"Host": f"localhost:{fake}"}).status_code == 200
        own = s.running.app.origins.own  # from the listening address and port only
        assert own == {f"https://127.0.0.1:{port}", f"https://localhost:{port}"}
        with s.app() as c:
            assert c.get("/v1/services", headers={"Origin": "https://localhost:20001"}).status_code == 403
            assert c.get("/v1/services", headers={"Origin": f"https://localhost:{port}"}).status_code == 200
            assert c.get("/v1/services", headers={"Origin": f"https://127.0.0.1:{port}"}).status_code == 200
    finally:
        s.running.stop()
        s.terminal.stop()
        s.running.app.pages.close()


def test_public_routes_need_no_token(svc_home: Path) -> None:
    s = start_service(svc_home)
    try:
        with httpx.Client(base_url=s.url, verify=ssl.create_default_context(cafile=s.ca)) as c:
            assert c.get("/v1/health").status_code == 200
            js = c.get("/sdk/gtsdk.js", headers={"Origin": "https://anything.example"})
            assert js.status_code == 200 and js.headers["access-control-allow-origin"] == "*"
    finally:
        s.running.stop()
        s.terminal.stop()


@pytest.fixture
def svc_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_forwarded_for_cannot_choose_the_throttled_address(tmp_path: Path) -> None:
    s = start_service(tmp_path / "h", {"auth_failure_rate": 0.5, "auth_failure_burst": 3})
    try:
        with s.client("gts_0123456789ab_guess") as bad:
            codes = [bad.get("/v1/services", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                     for i in range(8)]
    finally:
        s.running.stop()
        s.terminal.stop()
    assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}  # one address: the socket's, not the header's
