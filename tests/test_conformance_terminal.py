"""Terminal tier of the conformance suite against a real service: it passes a correct
terminal, and each deliberately broken terminal is caught by the check meant for it
(table in docs/conformance.md)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _conformance_fixtures import Target, forget_since, rewrite_request, rewrite_response, start

from gtsdk.conformance.model import Outcome, Report
from gtsdk.conformance.terminal_tier import PII_PROBE, certify_terminal


def certify(t: Target, *only: str) -> Report:
    return certify_terminal(t.url, t.token, maintenance_token=t.maintenance, ca=t.ca, only=list(only) or None)


def outcomes(rep: Report, check: str) -> list[tuple[str | None, Outcome, str]]:
    return [(r.module, r.outcome, r.reason) for r in rep.results if r.id == check]


def failed(rep: Report, check: str) -> str:
    bad = [reason for _, o, reason in outcomes(rep, check) if o == Outcome.FAIL]
    assert bad, f"{check} did not fail: {outcomes(rep, check)}"
    return bad[0]


@pytest.fixture
def good(tmp_path: Path) -> Iterator[Target]:
    t = start(tmp_path)
    yield t
    t.stop()


def test_a_correct_terminal_passes_every_check(good: Target) -> None:
    rep = certify(good)
    assert rep.passed, [(r.id, r.module, r.reason) for r in rep.failures()]
    assert set(rep.environment["modules"]) == {"idcard", "lights"}
    ran = {r.id for r in rep.results if r.outcome == Outcome.PASS}
    # the checks that need the world to change ran through the simulator, not skipped
    assert {"module.timeout", "module.cancel", "module.events", "security.rate_limit",
            "module.illegal_parameters", "security.loopback_only"} <= ran
    assert rep.tier_reached is not None and rep.tier_reached.value == "gold"


def _drop_state(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if scope["path"].endswith("/status") and isinstance(body.get("data"), dict):
        body["data"].pop("state", None)
    return status, body


def _wrong_type(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if scope["path"] == "/v1/idcard/read" and isinstance(body.get("data"), dict):
        body["data"]["birthDate"] = 19900307
    return status, body


def _crash_on_bad_input(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    return (500, b"Internal Server Error") if status == 400 else (status, body)


def _echo_input(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if status >= 400 and isinstance(body, dict):
        body["message"] += f" (input: {scope.get('_body', '')})"
    return status, body


def _remember_body(scope: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
    return {**scope, "_body": body.decode("utf-8", "replace")[:200]}, body


def _no_auth(token: str):  # type: ignore[no-untyped-def]
    def edit(scope: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        headers.append((b"authorization", f"Bearer {token}".encode()))
        return {**scope, "headers": headers}, body
    return edit


def _ignore_timeout(scope: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        data = json.loads(body)
    except ValueError:
        return scope, body
    if isinstance(data, dict) and isinstance(data.get("timeout"), int) and data["timeout"] < 5000:
        data["timeout"] = 5000
        body = json.dumps(data).encode()
    return scope, body


def _chain(first: Any, second: Any) -> Any:
    async def mw(inner: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def inner2(s: dict[str, Any], r: Any, se: Any) -> None:
            await second(inner, s, r, se)
        await first(inner2, scope, receive, send)
    return mw


BROKEN = {
    # name: (middleware factory, check that must catch it, words in its reason)
    "status drops a required field": (lambda t: rewrite_response(_drop_state), "module.status", "no valid state"),
    "a field has the wrong type": (lambda t: rewrite_response(_wrong_type), "module.operations", "schema"),
    "500 on bad input": (lambda t: rewrite_response(_crash_on_bad_input), "module.illegal_parameters",
                         "illegal parameter"),
    "auth not enforced": (lambda t: rewrite_request(_no_auth(t)), "security.auth_required", "HTTP 200"),
    "timeout ignored": (lambda t: rewrite_request(_ignore_timeout), "module.timeout", "timeOut after"),
    "event stream loses events": (lambda t: forget_since(), "module.events", "not replayed"),
    "personal data in error messages": (
        lambda t: _chain(rewrite_request(_remember_body), rewrite_response(_echo_input)),
        "security.no_personal_data_in_errors", "echoed an ID number"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_broken_terminal_is_caught_by_its_check(tmp_path: Path, name: str) -> None:
    factory, check, words = BROKEN[name]
    holder: dict[str, str] = {}

    def lazy(inner: Any, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "lifespan":
            return inner(scope, receive, send)
        return factory(holder["token"])(inner, scope, receive, send)

    t = start(tmp_path, lazy)
    holder["token"] = t.token
    try:
        rep = certify(t, check)
        assert words in failed(rep, check)
        assert not rep.passed
    finally:
        t.stop()


def test_tls_1_0_accepted_is_caught(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        t = start(tmp_path, tls_floor=ssl.TLSVersion.TLSv1)
    try:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            probe.minimum_version = probe.maximum_version = ssl.TLSVersion.TLSv1
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        try:
            import socket

            host, port = t.url.split("//")[1].split(":")
            with socket.create_connection((host, int(port)), 5) as s, probe.wrap_socket(s):
                pass
        except (ssl.SSLError, OSError):
            pytest.skip("this OpenSSL cannot speak TLS 1.0 at all, so the broken server cannot be built")
        rep = certify(t, "security.tls_versions")
        assert "accepted a TLSv1" in failed(rep, "security.tls_versions")
    finally:
        t.stop()


def test_the_report_names_personal_data_probe_only_as_a_constant() -> None:
    assert len(PII_PROBE) == 18


NETNS_SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from _conformance_fixtures import start
    from gtsdk.conformance.terminal_tier import certify_terminal
    out = {}
    for label, listen in (("loopback", ["127.0.0.1"]), ("all", ["0.0.0.0"])):
        tmp = Path(tempfile.mkdtemp())
        t = start(tmp, service={"listen": listen, "allow_remote": label == "all"})
        try:
            rep = certify_terminal(t.url, t.token, ca=t.ca, only=["security.loopback_only"])
            out[label] = [(r.outcome.value, r.reason) for r in rep.results]
        finally:
            t.stop()
    print(json.dumps(out))
""")


def test_service_bound_to_all_addresses_is_caught_inside_a_network_namespace(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a private network namespace")
    ns = f"gtsdk-conf-{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        script = tmp_path / "netns_check.py"
        script.write_text(NETNS_SCRIPT, encoding="utf-8")
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(script),
                            str(Path(__file__).parent)], capture_output=True, text=True, timeout=120,
                           env={**os.environ})
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["loopback"][0][0] == "pass", out
        assert out["all"][0][0] == "fail" and "0.0.0.0" in out["all"][0][1], out
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
