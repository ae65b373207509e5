"""``GET /v1/<module>/status`` (clause 8.4) answers from the device's cached status bytes: the answer on the wire
is byte for byte what serialising the status model gives (the envelope, its data, its headers)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from _runtime_fixtures import RecordingLights

from gtsdk.driver import DeviceState
from gtsdk.runtime import Terminal, parse_config, registry
from gtsdk.server.call import JSON, Response, data_json, envelope
from gtsdk.server.config import parse_service
from gtsdk.server.run import build
from gtsdk.server.tokens import TokenStore


class Detailed(RecordingLights):
    """A light board whose status detail the test sets."""

    name = "status-detailed"
    detail: dict[str, Any] = {}

    def status_detail(self) -> dict[str, Any]:
        return Detailed.detail


registry.register("lights", "status-detailed", Detailed)


async def test_status_answer_is_the_model_serialised(tmp_path: Path) -> None:
    Detailed.detail = {"paper": 1}
    t = Terminal(parse_config({"modules": {"lights": {"driver": "status-detailed"}}}))
    with t:
        dev = t.device("lights")
        end = time.monotonic() + 5
        while dev.status().state is not DeviceState.ONLINE and time.monotonic() < end:
            time.sleep(0.01)
        app = build(t, parse_service({}), tmp_path)
        token = TokenStore(tmp_path).create(["app"], app="status")
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1:8801",
                                         headers={"Authorization": f"Bearer {token}"}) as c:
                for detail, lang in (({"paper": 1}, "zh"), ({"paper": True}, "en"), ({"paper": 1.0}, "zh")):
                    Detailed.detail = detail
                    r = await c.get("/v1/lights/status", headers={"X-Request-Id": "s-1", "Accept-Language": lang})
                    # what the route answered before it had the cached bytes: the model, serialised
                    before = Response(envelope("success", "s-1", lang, data_json(dev.status())), 200,
                                      media_type=JSON)
                    assert r.status_code == 200 and r.content == before.body, detail
                    assert r.headers["content-type"] == JSON and r.headers["x-request-id"] == "s-1"
                    assert r.headers["content-length"] == str(len(before.body))
        finally:
            app.close()
