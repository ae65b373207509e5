"""Fuzz the routes of /openapi.json with schemathesis-generated requests (valid and invalid): the service answers
each with a well-formed envelope and never a 5xx other than 503/504 with a catalogue code (issue: bad input).

By default: every route of the modules the fake drivers back (idcard, lights), one unconfigured module (camera)
and the service routes.  ``GTSDK_FUZZ_ALL=1`` fuzzes every route of every module (a few minutes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from _server_fixtures import Svc, start_service
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from gtsdk.errors import catalogue
from gtsdk.server.openapi import build

DOC = build(SimpleNamespace(config=SimpleNamespace(port=8801)))  # type: ignore[arg-type]
FULL = os.environ.get("GTSDK_FUZZ_ALL") == "1"
EXAMPLES = int(os.environ.get("GTSDK_FUZZ_EXAMPLES", "12" if FULL else "5"))
PICK = ("/v1/idcard/", "/v1/lights/", "/v1/camera/status", "/v1/camera/capture", "/v1/services", "/v1/health",
        "/v1/schemas/idcard/", "/v1/audit", "/v1/sim/idcard")
ROUTES = [(path, method.upper()) for path, item in DOC["paths"].items() for method in item
          if FULL or path.startswith(PICK)]
CODES = {i.code for i in catalogue()}
TOKENS: dict[str, str] = {}
DEVICE_5XX = {"noDevice", "timeOut", "hardwareError", "communicationError", "mediaJam", "consumableEmpty"}


@pytest.fixture(scope="module")
def schemathesis() -> ModuleType:
    """schemathesis, imported when a fuzz test runs: every worker collects this module, and importing it there
    cost each ~0.5 s of CPU (its pytest plugin is off too, ``-p no:schemathesis`` in pyproject.toml)."""
    module: ModuleType = pytest.importorskip("schemathesis")
    return module


@pytest.fixture(scope="module")
def schema(schemathesis: ModuleType) -> Any:
    return schemathesis.openapi.from_dict(DOC)


@pytest.fixture(scope="module")
def fuzz_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Svc]:
    # no throttling here: the unauthenticated cases must each reach the token check (throttling: test_server_auth)
    s = start_service(Path(tmp_path_factory.mktemp("fuzz")) / "home", {"rate_limit": 100000.0, "rate_burst": 100000,
                                                                       "auth_failure_rate": 100000.0,
                                                                       "auth_failure_burst": 100000})
    TOKENS[s.url] = s.tokens.create(["app", "maintenance"])  # both scopes: maintenance routes are fuzzed too
    try:
        yield s
    finally:
        s.running.stop()
        s.terminal.stop()


def check(case: Any, s: Svc, auth: bool) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if auth:
        headers["Authorization"] = f"Bearer {TOKENS[s.url]}"
    case.headers = headers
    resp = case.call(base_url=s.url, verify=s.ca, timeout=30)
    assert resp.status_code < 500 or resp.status_code in (503, 504), (case.path, resp.status_code, resp.text[:300])
    if case.path == "/openapi.json" and resp.status_code == 200:
        return
    if resp.status_code == 400 and resp.text == "Invalid HTTP request received.":
        return  # bytes that are not HTTP at all (e.g. control characters in a header): uvicorn's parser refuses them
    body = resp.json()
    assert set(body) == {"code", "message", "requestId", "data"}, body
    assert body["code"] in CODES
    if resp.status_code >= 500:
        assert body["code"] in DEVICE_5XX, body
    if not auth and case.path != "/v1/health":
        assert resp.status_code in (400, 401), (case.path, resp.status_code)  # bad headers may come first


def _runner(s: Svc, auth: bool) -> Any:
    def run(case: Any) -> None:
        check(case, s, auth)

    return run


@pytest.mark.slow
@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_fuzz_route(schemathesis: ModuleType, schema: Any, fuzz_svc: Svc, path: str, method: str) -> None:
    op = schema[path][method]
    cfg = settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                   suppress_health_check=list(HealthCheck))
    for mode, auth in ((schemathesis.GenerationMode.POSITIVE, True), (schemathesis.GenerationMode.NEGATIVE, True),
                       (schemathesis.GenerationMode.NEGATIVE, False)):
        try:
            given(case=op.as_strategy(generation_mode=mode))(cfg(_runner(fuzz_svc, auth)))()
        except Unsatisfiable:  # nothing to make invalid (e.g. GET without parameters)
            assert mode == schemathesis.GenerationMode.NEGATIVE
